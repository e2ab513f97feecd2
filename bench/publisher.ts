/**
 * Load generator for the ingest benchmark, run as its own process so that publishing does not
 * share the collector's event loop. Publishes `messages` telemetry messages (7 metrics each,
 * QoS 1) spread over `devices` devices, through `connections` MQTT connections, then prints one
 * JSON line with what it sent and the CPU it spent doing so.
 */
import mqtt from 'mqtt';
import { benchDeviceId, benchMessage, type BenchModality } from './payload.js';

import { readFileSync } from 'node:fs';

const [url, site, devicesText, messagesText, connectionsText, inflightText, prefixText, protocolText, modalityText, credentialsFile] = process.argv.slice(2);
if (!url || !site) throw new Error('usage: publisher URL SITE DEVICES MESSAGES CONNECTIONS INFLIGHT [PREFIX] [PROTOCOL] [CT|MR] [CREDENTIALS.json]');
const modality: BenchModality = modalityText === 'MR' ? 'MR' : 'CT';
const prefix = prefixText ?? 'guardian';
const protocolVersion = protocolText === '5' ? 5 : 4;
const devices = Number(devicesText ?? 200);
const messages = Number(messagesText ?? 200_000);
const connections = Number(connectionsText ?? 10);
const inflight = Number(inflightText ?? 100);
/**
 * Device id → password: a broker that gives each scanner its own identity (the engine's embedded
 * broker) takes a device's messages only on that device's own connection, so each device then
 * publishes on a connection of its own (as a real fleet does), with the same messages in flight in all.
 */
const credentials = credentialsFile ? (JSON.parse(readFileSync(credentialsFile, 'utf8')) as Record<string, string>) : undefined;

async function run(): Promise<void> {
  // CPU from here on: the publishing, not Node's start-up.
  const cpuAtStart = process.cpuUsage();
  if (credentials) return runPerDevice(cpuAtStart, credentials);
  const clients = await Promise.all(
    Array.from({ length: connections }, (_, i) =>
      mqtt.connectAsync(url!, {
        clientId: `bench-pub-${process.pid}-${i}`,
        protocolVersion,
        reconnectPeriod: 1000,
        // The engine's embedded broker authenticates every connection (the engine's own identity here).
        ...(process.env.BENCH_MQTT_USERNAME && { username: process.env.BENCH_MQTT_USERNAME, password: process.env.BENCH_MQTT_PASSWORD ?? '' }),
      }),
    ),
  );
  const perConnection = Math.ceil(messages / connections);
  // Two messages of one device in the same millisecond would be one (device, metric, ts) and be
  // stored once by design; keep each device's timestamps distinct so every message counts.
  const lastTs = new Float64Array(devices);
  const started = Date.now();
  let sent = 0;
  await Promise.all(
    clients.map(async (client, c) => {
      const first = c * perConnection;
      const last = Math.min(messages, first + perConnection);
      let next = first;
      const worker = async () => {
        while (next < last) {
          const n = next++;
          const { device, metrics } = benchMessage(modality, n, devices);
          const ts = Math.max(Date.now(), lastTs[device]! + 1);
          lastTs[device] = ts;
          const payload = JSON.stringify({
            ts,
            seq: n,
            metrics,
          });
          await client.publishAsync(`${prefix}/${site}/${benchDeviceId(modality, device)}/telemetry`, payload, { qos: 1 });
          sent++;
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.floor(inflight / connections)) }, worker));
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.endAsync()));
  const cpu = process.cpuUsage(cpuAtStart);
  process.stdout.write(`${JSON.stringify({ sent, elapsedSeconds: elapsed, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
}

run().catch((error: unknown) => {
  process.stderr.write(`publisher failed: ${String(error)}\n`);
  process.exit(1);
});

/** One connection per device, each with the device's own credential; the same total in flight. */
async function runPerDevice(cpuAtStart: NodeJS.CpuUsage, passwords: Record<string, string>): Promise<void> {
  const ids = Array.from({ length: devices }, (_, d) => benchDeviceId(modality, d));
  const clients = await Promise.all(
    ids.map((id) => mqtt.connectAsync(url!, { clientId: `bench-pub-${process.pid}-${id}`, username: id, password: passwords[id] ?? '', protocolVersion, reconnectPeriod: 1000 })),
  );
  const lastTs = new Float64Array(devices);
  const started = Date.now();
  let sent = 0;
  let next = 0;
  // Workers take the run's messages in order (message n is device n % devices) and publish each on its device's connection.
  const worker = async () => {
    while (next < messages) {
      const n = next++;
      const { device, metrics } = benchMessage(modality, n, devices);
      const ts = Math.max(Date.now(), lastTs[device]! + 1);
      lastTs[device] = ts;
      await clients[device]!.publishAsync(`${prefix}/${site}/${ids[device]!}/telemetry`, JSON.stringify({ ts, seq: n, metrics }), { qos: 1 });
      sent++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inflight) }, worker));
  const elapsed = (Date.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.endAsync()));
  const cpu = process.cpuUsage(cpuAtStart);
  process.stdout.write(`${JSON.stringify({ sent, elapsedSeconds: elapsed, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
}
