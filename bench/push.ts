/**
 * Push latency benchmark (`npm run bench:push`): fault → engineer told. The engine runs as
 * `npm start` runs it (embedded broker, SQLite, the simulated demo fleet publishing beside it,
 * every setting at its default) with one webhook channel to a receiver on loopback. The benchmark
 * registers scanners of its own through the API and gives each a helium quench: three samples of
 * 3 % published over MQTT (the helium rule fires on 3 of 4 readings). It times, per fault, from
 * publishing the third sample to the receiver holding the signed `opened` message, and prints
 * p50 / p99 / max beside the tender's 60 s (notify the responsible person within 1 minute), with
 * where the time went (sample → work order recorded → message received).
 *
 * Options: --faults 200       faults, one scanner each
 *          --rate 20          faults started per second
 *          --reorder 2s       rules.reorderTolerance (default: the engine's default)
 *          --json             machine-readable output
 *
 * A benchmark, not a test: it prints figures and asserts nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { quantileSorted } from 'simple-statistics';
import { startGuardian } from '../src/app/guardian.js';
import { silentLogger } from '../src/app/log.js';
import { ENGINE_USERNAME } from '../src/broker/secrets.js';
import { ConfigSchema } from '../src/config/schema.js';

const { values } = parseArgs({
  options: {
    faults: { type: 'string', default: '200' },
    rate: { type: 'string', default: '20' },
    reorder: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const FAULTS = Number(values.faults);
const RATE = Number(values.rate);
if (!Number.isInteger(FAULTS) || FAULTS < 1) throw new Error('--faults must be a positive integer');
if (!(RATE > 0)) throw new Error('--rate must be positive');

const SECRET = 'bench-push-webhook-secret-0123456789';
const SITE = 'bench-hospital';
const TENDER_MS = 60_000;

interface Arrival {
  readonly at: number;
  readonly reportedAt: number;
  readonly signed: boolean;
}

/** The webhook receiver: records when each device's `opened` message arrived, and whether its signature holds. */
async function startReceiver() {
  const arrivals = new Map<string, Arrival>();
  const waiting = new Map<string, () => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks).toString('utf8');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      const ts = String(req.headers['x-guardian-timestamp'] ?? '');
      const wanted = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${raw}`).digest('hex')}`);
      const given = Buffer.from(String(req.headers['x-guardian-signature'] ?? ''));
      const signed = given.length === wanted.length && timingSafeEqual(given, wanted);
      const body = JSON.parse(raw) as { event: string; items: Array<{ workOrder: { device: { id: string }; reportedAt: { utc: string } } }> };
      if (body.event !== 'opened') return;
      for (const item of body.items) {
        const device = item.workOrder.device.id;
        if (arrivals.has(device)) continue;
        arrivals.set(device, { at, reportedAt: Date.parse(item.workOrder.reportedAt.utc), signed });
        waiting.get(device)?.();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const arrived = (device: string, timeoutMs: number) =>
    new Promise<Arrival | undefined>((resolve) => {
      const found = arrivals.get(device);
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        waiting.delete(device);
        resolve(undefined);
      }, timeoutMs);
      waiting.set(device, () => {
        clearTimeout(timer);
        waiting.delete(device);
        resolve(arrivals.get(device));
      });
    });
  return { url, arrived, close: () => new Promise((r) => server.close(r)) };
}

const quantile = (sorted: number[], q: number) => (sorted.length === 0 ? NaN : quantileSorted(sorted, q));

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'guardian-bench-push-'));
  const receiver = await startReceiver();
  const devices = Array.from({ length: FAULTS }, (_, i) => `bench-mr-${String(i + 1).padStart(3, '0')}`);
  const config = ConfigSchema.parse({
    dataDir,
    log: { level: 'silent' },
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { port: 0 },
    // The demo, as `npm start` runs it, with a short backfill so the run starts quickly.
    simulate: { enabled: true, backfill: '1h' },
    ...(values.reorder !== undefined && { rules: { reorderTolerance: values.reorder } }),
    notify: {
      channels: { hook: { type: 'webhook', url: `${receiver.url}/hook`, secret: SECRET } },
      people: { oncall: { name: '值班工程师', channels: ['hook'] } },
      siteGroups: { all: [SITE, 'yt-first-hospital', 'sp-central-hospital', 'qd-people-hospital'] },
      rotations: [{ id: 'everyone', groups: ['all'], members: ['oncall'] }],
    },
  });
  const guardian = await startGuardian({ config, logger: silentLogger() });
  const api = async (path: string, body: unknown) => {
    const response = await fetch(`${guardian.httpUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${guardian.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  };
  try {
    await api('/api/sites', { id: SITE, name: '压测医院' }).catch(() => undefined);
    for (const id of devices) await api('/api/devices', { id, site: SITE, modality: 'MR', vendor: 'Siemens', model: 'MAGNETOM Skyra', location: { department: '放射科', floor: '1F', room: 'MR' } });
    // The benchmark publishes as the engine's own MQTT identity, which may publish for any scanner.
    const client = await mqtt.connectAsync(guardian.mqttUrl, {
      clientId: 'bench-push-publisher',
      username: ENGINE_USERNAME,
      password: readFileSync(join(dataDir, 'mqtt-engine-secret'), 'utf8').trim(),
      protocolVersion: 4,
    });
    const publish = (device: string, ts: number, helium: number) =>
      client.publishAsync(`guardian/${SITE}/${device}/telemetry`, JSON.stringify({ ts, metrics: { helium_level_pct: helium } }), { qos: 1 });
    const started = Date.now();
    const results = await Promise.all(
      devices.map(async (device, i) => {
        await new Promise((r) => setTimeout(r, (i * 1_000) / RATE));
        const t = Date.now();
        await publish(device, t - 2, 3);
        await publish(device, t - 1, 3);
        const sentAt = Date.now();
        await publish(device, Math.max(t, sentAt), 3);
        const arrival = await receiver.arrived(device, TENDER_MS * 2);
        return { device, sentAt, arrival };
      }),
    );
    const elapsed = Date.now() - started;
    await client.endAsync();
    const told = results.filter((r) => r.arrival !== undefined);
    const total = told.map((r) => r.arrival!.at - r.sentAt).sort((a, b) => a - b);
    const toWorkOrder = told.map((r) => Math.max(0, r.arrival!.reportedAt - r.sentAt)).sort((a, b) => a - b);
    const toMessage = told.map((r) => r.arrival!.at - Math.max(r.sentAt, r.arrival!.reportedAt)).sort((a, b) => a - b);
    const summary = {
      faults: FAULTS,
      told: told.length,
      signed: told.filter((r) => r.arrival!.signed).length,
      rate: RATE,
      reorderTolerance: config.rules.reorderTolerance,
      elapsedMs: elapsed,
      faultToToldMs: { p50: quantile(total, 0.5), p99: quantile(total, 0.99), max: total.at(-1) ?? NaN },
      sampleToWorkOrderMs: { p50: quantile(toWorkOrder, 0.5), p99: quantile(toWorkOrder, 0.99) },
      workOrderToToldMs: { p50: quantile(toMessage, 0.5), p99: quantile(toMessage, 0.99) },
      tenderMs: TENDER_MS,
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : '—');
      const lines = [
        `bench:push — ${FAULTS} helium quenches on ${FAULTS} scanners beside the demo fleet, ${RATE}/s, rules.reorderTolerance ${config.rules.reorderTolerance} ms`,
        `  engineers told:          ${told.length} of ${FAULTS} (${summary.signed} with a valid signature)`,
        `  fault → engineer told:   p50 ${ms(summary.faultToToldMs.p50)}, p99 ${ms(summary.faultToToldMs.p99)}, max ${ms(summary.faultToToldMs.max)}   (tender: ${TENDER_MS / 1_000} s; aim p99 ≤ 1 s)`,
        `    sample → work order:   p50 ${ms(summary.sampleToWorkOrderMs.p50)}, p99 ${ms(summary.sampleToWorkOrderMs.p99)}`,
        `    work order → message:  p50 ${ms(summary.workOrderToToldMs.p50)}, p99 ${ms(summary.workOrderToToldMs.p99)}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
  } finally {
    await guardian.stop();
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
