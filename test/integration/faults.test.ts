import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInfluxTelemetryStore } from '../../src/storage/influx-telemetry-store.js';
import { openSqliteTelemetryStore } from '../../src/storage/sqlite-telemetry-store.js';
import type { TelemetryStore } from '../../src/kernel/ports/telemetry-store.js';
import { tempDir, waitFor } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';
import { freePort, hasCommand, InfluxServer, MosquittoServer, needs, REQUIRE_SERVERS } from '../support/servers.js';

const SITE = 'fault-hospital';
const OUTAGE_MS = Number(process.env.GUARDIAN_TEST_OUTAGE_MS ?? 60_000);
const suite = needs('collector faults against a real Mosquitto', hasCommand('mosquitto'), 'no mosquitto binary on PATH');
// The collectors store into an InfluxDB of the suite's own when influxd is installed (always in CI),
// otherwise into SQLite; the outage test needs InfluxDB.
const withInflux = hasCommand('influxd');
if (REQUIRE_SERVERS && !withInflux) throw new Error('collector fault tests: influxd is required in CI (GUARDIAN_TEST_REQUIRE_SERVERS is set)');

/** Publishes `count` telemetry messages (2 metrics each) at a steady pace, QoS 1, riding out broker restarts. */
async function publishSteadily(client: MqttClient, device: string, count: number, perSecond: number, onProgress?: (sent: number) => Promise<void> | void): Promise<number> {
  // Distinct past timestamps, one per message, all inside the collector's accepted window.
  const start = Date.now() - 3_600_000;
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    const payload = JSON.stringify({ ts: start + i * 100, seq: i, metrics: { gantry_temp_c: 20 + (i % 100) / 10, room_temp_c: 21 } });
    const p = client.publishAsync(`guardian/${SITE}/${device}/telemetry`, payload, { qos: 1 }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 50) await Promise.race(inFlight);
    if (i % perSecond === 0) {
      await onProgress?.(i);
      await new Promise((r) => setTimeout(r, 1000 / (perSecond / 50)));
    } else if (i % 50 === 0) {
      await new Promise((r) => setTimeout(r, 1000 / (perSecond / 50)));
    }
  }
  await Promise.all(inFlight);
  return count;
}

let influx: InfluxServer | undefined;

/** Where a collector named `name` stores: its own InfluxDB database, or its own SQLite file. */
function storeEnv(name: string, dataDir: string): Record<string, string> {
  return influx ? { GUARDIAN_INFLUX_URL: influx.url, GUARDIAN_INFLUX_BUCKET: `faults_${name.replace(/-/g, '_')}` } : { GUARDIAN_DATA_DIR: dataDir };
}

async function openStoreOf(name: string, dataDir: string): Promise<TelemetryStore> {
  return influx
    ? openInfluxTelemetryStore({ url: influx.url, bucket: `faults_${name.replace(/-/g, '_')}` })
    : openSqliteTelemetryStore({ file: join(dataDir, 'telemetry.db') });
}

async function storedCount(dataDir: string, device: string): Promise<number> {
  const store = await openStoreOf(dataDir.split('/').pop()!, dataDir);
  try {
    const points = await store.aggregate({ deviceId: device, metric: 'gantry_temp_c', from: 0, to: Date.now() + 86_400_000, step: 365 * 86_400_000 });
    return points.reduce((n, p) => n + p.count, 0);
  } finally {
    await store.close();
  }
}

describe.skipIf(suite.skip)(suite.title, () => {
  const dir = tempDir('guardian-faults-');
  let broker: MosquittoServer;
  const running: GuardianProcess[] = [];
  const collector = (name: string, extra: Record<string, string> = {}) => {
    const proc = GuardianProcess.spawn(extra.GUARDIAN_HTTP_PORT ? ['collect'] : ['collect', '--no-http'], {
      GUARDIAN_MQTT_URL: broker.url,
      GUARDIAN_MQTT_CLIENT_ID: `guardian-${name}`,
      GUARDIAN_DATA_DIR: join(dir.path, name),
      ...storeEnv(name, join(dir.path, name)),
      GUARDIAN_AUTO_REGISTER: 'on',
      ...extra,
    });
    running.push(proc);
    return proc;
  };
  const device = async (id: string) => mqtt.connectAsync(broker.url, { clientId: `dev-${id}`, protocolVersion: 5, reconnectPeriod: 300 });

  beforeAll(async () => {
    broker = await MosquittoServer.start(join(dir.path, 'mosquitto'));
    if (withInflux) influx = await InfluxServer.start(join(dir.path, 'influxdb'));
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.crash()));
    await broker?.stop();
    await influx?.stop();
    dir.remove();
  });

  it('loses nothing when the collector is killed with -9 mid-stream and restarted', async () => {
    let proc = collector('kill9');
    await proc.waitForOutput('connected to MQTT broker');
    const client = await device('CT-K9');
    const published = await publishSteadily(client, 'CT-K9', 3000, 500, async (sent) => {
      if (sent === 1000) {
        await proc.crash();
      }
      if (sent === 2000) {
        proc = collector('kill9');
        await proc.waitForOutput('connected to MQTT broker');
      }
    });
    await client.endAsync();
    await waitFor(async () => (await storedCount(join(dir.path, 'kill9'), 'CT-K9')) === published, { timeoutMs: 60_000, what: 'all messages stored' }).catch(async (e: unknown) => {
      throw new Error(`${String(e)}: stored ${await storedCount(join(dir.path, 'kill9'), 'CT-K9')} of ${published}\n${proc.output().slice(-3000)}`);
    });
    expect(await proc.stop()).toBe(0);
  }, 120_000);

  it('loses nothing when the broker restarts mid-stream', async () => {
    const proc = collector('restart');
    await proc.waitForOutput('connected to MQTT broker');
    const client = await device('CT-RS');
    const published = await publishSteadily(client, 'CT-RS', 3000, 500, async (sent) => {
      if (sent === 1500) await broker.restart();
    });
    await client.endAsync();
    await waitFor(async () => (await storedCount(join(dir.path, 'restart'), 'CT-RS')) === published, { timeoutMs: 60_000, what: 'all messages stored' }).catch(async (e: unknown) => {
      throw new Error(`${String(e)}: stored ${await storedCount(join(dir.path, 'restart'), 'CT-RS')} of ${published}\n${proc.output().slice(-3000)}`);
    });
    expect(proc.output()).toContain('reconnected to MQTT broker');
    expect(await proc.stop()).toBe(0);
  }, 120_000);

  it.skipIf(!withInflux)(`loses nothing when InfluxDB is down for ${OUTAGE_MS / 1000} s mid-stream${withInflux ? '' : ' — skipped: no influxd on PATH'}`, async () => {
    const httpPort = await freePort();
    const proc = collector('outage', { GUARDIAN_HTTP_PORT: String(httpPort), GUARDIAN_ADMIN_TOKEN: 'fault-token-0123456789' });
    await proc.waitForOutput('connected to MQTT broker');
    const client = await device('CT-OUT');
    const started = Date.now();
    let downAt = 0;
    const published = await publishSteadily(client, 'CT-OUT', 8000, 100, async (sent) => {
      if (sent === 1000) {
        await influx!.stop();
        downAt = Date.now();
      }
      if (downAt > 0 && Date.now() - downAt >= OUTAGE_MS && sent % 100 === 0) {
        await influx!.resume();
        downAt = -1;
      }
    });
    await client.endAsync();
    if (downAt > 0) {
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
      await influx!.resume();
    }
    expect(Date.now() - started).toBeGreaterThan(OUTAGE_MS);
    await waitFor(async () => (await storedCount(join(dir.path, 'outage'), 'CT-OUT')) === published, { timeoutMs: 90_000, intervalMs: 1000, what: 'all messages stored' }).catch(async (e: unknown) => {
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { headers: { authorization: 'Bearer fault-token-0123456789' } })).text();
      console.error(metrics.split('\n').filter((l) => l.startsWith('guardian_') && !l.includes('_bucket')).join('\n'));
      throw new Error(`${String(e)}: stored ${await storedCount(join(dir.path, 'outage'), 'CT-OUT')} of ${published}\n${proc.output().slice(-3000)}`);
    });
    expect(proc.output()).toMatch(/spilling accepted samples to disk|telemetry store write failed/);
    expect(await proc.stop()).toBe(0);
  }, 240_000);

  it('splits one shared subscription between two collectors, each message stored once', async () => {
    const group = { GUARDIAN_MQTT_SHARED_GROUP: 'collectors' };
    const a = collector('shared-a', group);
    const b = collector('shared-b', group);
    await Promise.all([a.waitForOutput('connected to MQTT broker'), b.waitForOutput('connected to MQTT broker')]);
    const client = await device('CT-SH');
    const published = await publishSteadily(client, 'CT-SH', 2000, 1000);
    await client.endAsync();
    // Each collector has its own store here, so a message delivered to both would be counted twice.
    const counts = await waitFor(
      async () => {
        const n = [await storedCount(join(dir.path, 'shared-a'), 'CT-SH'), await storedCount(join(dir.path, 'shared-b'), 'CT-SH')];
        return n[0]! + n[1]! >= published ? n : undefined;
      },
      { timeoutMs: 60_000, what: 'all messages stored' },
    );
    expect(counts[0]! + counts[1]!).toBe(published);
    expect(counts[0]).toBeGreaterThan(published * 0.2);
    expect(counts[1]).toBeGreaterThan(published * 0.2);
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  }, 120_000);
});

