import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedDeviceInput } from '../../simulators/fleet.js';
import { deviceTopics, startSimulator } from '../../simulators/publisher.js';
import { device, HOUR, MINUTE } from './helpers.js';

interface Received {
  readonly topic: string;
  readonly body: Record<string, unknown>;
  readonly retain: boolean;
}

interface Sample {
  readonly ts: number;
  readonly metrics: Record<string, number>;
}

let broker: Aedes;
let server: Server;
let url: string;
let dir: string;

beforeAll(async () => {
  broker = await Aedes.createBroker();
  server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'guardian-sim-'));
});

afterAll(async () => {
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function listen(topic: string, clientId: string): Promise<{ client: MqttClient; messages: Received[] }> {
  const client = await mqtt.connectAsync(url, { clientId, protocolVersion: 4 });
  const messages: Received[] = [];
  client.on('message', (t, payload, packet) => messages.push({ topic: t, body: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain }));
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, messages };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const DEVICES: SimulatedDeviceInput[] = [
  { ...device('CT', 'pub-ct'), simulation: { scenario: 'ct-tube-end-of-life', onset: '-45d' } },
  { ...device('MR', 'pub-mr'), simulation: { scenario: 'mr-compressor-stop', onset: '1h' } },
];

const telemetryOf = (messages: readonly Received[], id: string) => messages.filter((m) => m.topic === `guardian/test-site/${id}/telemetry`);
const statusOf = (messages: readonly Received[], id: string) => messages.filter((m) => m.topic === `guardian/test-site/${id}/status`).map((m) => m.body.state);
const backfilled = (messages: readonly Received[], id: string): Sample[] =>
  telemetryOf(messages, id).flatMap((m) => (Array.isArray(m.body.samples) ? (m.body.samples as Sample[]) : []));
const live = (messages: readonly Received[], id: string) => telemetryOf(messages, id).filter((m) => typeof m.body.seq === 'number');

describe('MQTT publisher', () => {
  it('backfills, goes live, announces its status and resumes from the state file', async () => {
    const stateFile = join(dir, 'state.json');
    const { client: sub, messages } = await listen('guardian/#', 'test-sub');
    const startedAt = Date.now();
    const sim = await startSimulator({ url, devices: DEVICES, seed: 7, backfillMs: 2 * HOUR, backfillTickMs: MINUTE, intervalMs: 150, batchSize: 50, stateFile });
    await sim.backfillDone;
    await until(() => DEVICES.every((d) => live(messages, d.id).length >= 3));

    for (const d of DEVICES) {
      // Online first, then the device's operating state.
      expect(statusOf(messages, d.id)[0]).toBe('online');
      // Backfill: real past timestamps, one per minute, in order, covering the 2-hour window.
      const samples = backfilled(messages, d.id);
      expect(telemetryOf(messages, d.id).filter((m) => Array.isArray(m.body.samples)).length).toBeGreaterThanOrEqual(3);
      expect(samples.length).toBeGreaterThanOrEqual(119);
      const ts = samples.map((s) => s.ts);
      for (let i = 1; i < ts.length; i++) expect((ts[i] ?? 0) - (ts[i - 1] ?? 0)).toBe(MINUTE);
      expect(ts[0]).toBeGreaterThanOrEqual(startedAt - 2 * HOUR);
      expect(ts[0]).toBeLessThanOrEqual(startedAt - 2 * HOUR + MINUTE + 1_000);
      expect(ts.at(-1)).toBeLessThanOrEqual(Date.now());
      expect(ts.at(-1)).toBeGreaterThan(startedAt - MINUTE);
      // Live: seq counts up, timestamps continue after the backlog.
      const liveMsgs = live(messages, d.id);
      expect(liveMsgs.map((m) => m.body.seq)).toEqual(liveMsgs.map((_, i) => i + 1));
      expect(liveMsgs[0]?.body.ts).toBeGreaterThan(ts.at(-1) ?? Infinity);
      expect(Object.keys(liveMsgs[0]?.body.metrics ?? {}).length).toBeGreaterThan(5);
    }
    // The compressor stop of the MR happened inside the backfilled window.
    expect(messages.some((m) => m.topic === 'guardian/test-site/pub-mr/event' && m.body.code === 'COMPRESSOR_TRIP')).toBe(true);

    // Retained status: a late subscriber gets the current state.
    const late = await listen('guardian/+/+/status', 'test-late');
    await until(() => late.messages.length >= DEVICES.length);
    for (const m of late.messages) {
      expect(m.retain).toBe(true);
      expect(['online', 'scanning', 'standby', 'service']).toContain(m.body.state);
    }
    await late.client.endAsync();

    expect(sim.stats().samples).toBeGreaterThanOrEqual(2 * 122);
    expect(sim.stats().published).toBeGreaterThan(sim.stats().samples / 50);
    await sim.stop();
    for (const d of DEVICES) expect(statusOf(messages, d.id).at(-1)).toBe('offline');

    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { epoch: number; devices: Record<string, { lastTs: number; seq: number }> };
    expect(saved.epoch).toBe(sim.epoch);
    const lastLive = Object.fromEntries(DEVICES.map((d) => [d.id, live(messages, d.id).at(-1)?.body]));
    for (const d of DEVICES) {
      expect(saved.devices[d.id]?.lastTs).toBe(lastLive[d.id]?.ts);
      expect(saved.devices[d.id]?.seq).toBe(lastLive[d.id]?.seq);
    }

    // Restart: continues where it stopped instead of re-sending two hours.
    const before = messages.length;
    const again = await startSimulator({ url, devices: DEVICES, seed: 7, backfillMs: 2 * HOUR, backfillTickMs: MINUTE, intervalMs: 150, batchSize: 50, stateFile });
    expect(again.epoch).toBe(sim.epoch);
    await again.backfillDone;
    const second = (): Received[] => messages.slice(before);
    await until(() => DEVICES.every((d) => live(second(), d.id).length >= 2));
    await again.stop();
    for (const d of DEVICES) {
      const lastTs = saved.devices[d.id]?.lastTs ?? Infinity;
      const replayed = backfilled(second(), d.id);
      expect(replayed.length).toBeLessThanOrEqual(2);
      for (const s of replayed) expect(s.ts).toBeGreaterThan(lastTs);
      const liveAgain = live(second(), d.id);
      for (const m of liveAgain) expect(m.body.ts as number).toBeGreaterThan(lastTs);
      expect(liveAgain[0]?.body.seq).toBe((saved.devices[d.id]?.seq ?? 0) + 1);
      expect(statusOf(second(), d.id).at(-1)).toBe('offline');
    }
    await sub.endAsync();
  });

  it('keeps retrying while the broker is unreachable and stops cleanly', async () => {
    const sim = await startSimulator({
      url: 'mqtt://127.0.0.1:1',
      devices: DEVICES.slice(0, 1),
      seed: 1,
      backfillMs: HOUR,
      intervalMs: 100,
      reconnectPeriodMs: 50,
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(sim.stats()).toEqual({ published: 0, samples: 0 });
    await sim.stop();
    await sim.backfillDone;
  });
});

describe('MQTT publisher topic prefix', () => {
  it('builds {prefix}/{site}/{device}/{kind}, guardian by default, and refuses prefixes a broker would not route as meant', async () => {
    expect(deviceTopics('guardian', 'test-site', 'pub-ct')).toEqual({
      telemetry: 'guardian/test-site/pub-ct/telemetry',
      event: 'guardian/test-site/pub-ct/event',
      status: 'guardian/test-site/pub-ct/status',
    });
    expect(deviceTopics('hospital-a/guardian', 'test-site', 'pub-ct').telemetry).toBe('hospital-a/guardian/test-site/pub-ct/telemetry');
    for (const topicPrefix of ['', 'a//b', 'guardian/', 'hospital/#', 'a+b', '$SYS']) {
      await expect(startSimulator({ url, topicPrefix, devices: DEVICES, seed: 1 }), topicPrefix).rejects.toThrow(/topic prefix/);
    }
  });

  it('publishes telemetry, events and status under the prefix only', async () => {
    const prefix = 'hospital-a/guardian';
    const { client: sub, messages } = await listen('#', 'test-prefix-sub');
    const sim = await startSimulator({ url, topicPrefix: prefix, devices: DEVICES, seed: 11, backfillMs: HOUR, backfillTickMs: MINUTE, intervalMs: 100, batchSize: 100 });
    await sim.backfillDone;
    const under = (kind: string, id: string) => messages.filter((m) => m.topic === `${prefix}/test-site/${id}/${kind}`);
    await until(() => DEVICES.every((d) => under('telemetry', d.id).some((m) => typeof m.body.seq === 'number')));
    await sim.stop();
    await until(() => DEVICES.every((d) => under('status', d.id).at(-1)?.body.state === 'offline'));
    // Retained statuses of the tests before arrive on subscribing; everything sent live is ours.
    const ours = messages.filter((m) => !m.retain);
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.filter((m) => !m.topic.startsWith(`${prefix}/`))).toEqual([]);
    for (const d of DEVICES) expect(under('telemetry', d.id).flatMap((m) => (Array.isArray(m.body.samples) ? m.body.samples : [])).length).toBeGreaterThanOrEqual(59);
    // The MR's compressor stops inside the backfilled hour.
    expect(under('event', 'pub-mr').some((m) => m.body.code === 'COMPRESSOR_TRIP')).toBe(true);
    await sub.endAsync();
  });
});

describe('MQTT publisher across a broker outage', () => {
  it('backfills the gap after reconnecting, like a store-and-forward buffer', async () => {
    const received: Received[] = [];
    // Record at the broker, so nothing depends on a subscriber being ready in time.
    const record = (b: Aedes): Aedes =>
      b.on('publish', (packet, client) => {
        if (client && packet.topic.endsWith('/telemetry')) {
          received.push({ topic: packet.topic, body: JSON.parse(packet.payload.toString()) as Record<string, unknown>, retain: packet.retain });
        }
      });
    const first = record(await Aedes.createBroker());
    const sockets = new Set<Socket>();
    let srv = createServer(first.handle).on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as AddressInfo).port;
    const sim = await startSimulator({
      url: `mqtt://127.0.0.1:${port}`,
      devices: DEVICES.slice(1),
      seed: 3,
      backfillMs: 10_000,
      backfillTickMs: 1_000,
      intervalMs: 100,
      reconnectPeriodMs: 50,
    });
    await sim.backfillDone;
    await until(() => live(received, 'pub-mr').length >= 2);

    // The broker goes away for ~1.5 s, then a new one listens on the same port.
    srv.close();
    for (const s of sockets) s.destroy();
    const mark = received.length;
    await new Promise((r) => setTimeout(r, 1_500));
    const second = record(await Aedes.createBroker());
    srv = createServer(second.handle);
    await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
    await until(() => live(received.slice(mark), 'pub-mr').length >= 2);
    await sim.stop();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    first.close();
    second.close();

    // After the outage: a `samples` backlog bridging the gap, then live again, with no hole.
    const after = received.slice(mark);
    const backlog = backfilled(after, 'pub-mr');
    expect(backlog.length).toBeGreaterThanOrEqual(1);
    const lastBefore = live(received.slice(0, mark), 'pub-mr').at(-1)?.body.ts as number;
    const stamps = [lastBefore, ...backlog.map((x) => x.ts), ...live(after, 'pub-mr').map((m) => m.body.ts as number)].sort((a, b) => a - b);
    for (let i = 1; i < stamps.length; i++) expect((stamps[i] ?? 0) - (stamps[i - 1] ?? 0)).toBeLessThanOrEqual(1_000);
    expect(live(after, 'pub-mr').at(-1)?.body.ts).toBeGreaterThan(backlog.at(-1)?.ts ?? Infinity);
  });
});
