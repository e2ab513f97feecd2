import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteTelemetryStore } from '../../src/storage/sqlite-telemetry-store.js';
import { tempDir, waitFor } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';
import { freePort, hasCommand, MosquittoServer, needs } from '../support/servers.js';

const SITE = 'fault-hospital';
const suite = needs('collector faults against a real Mosquitto', hasCommand('mosquitto'), 'no mosquitto binary on PATH');

/** Publishes `count` telemetry messages (2 metrics each) at a steady pace, QoS 1, riding out broker restarts. */
async function publishSteadily(client: MqttClient, device: string, count: number, perSecond: number, onProgress?: (sent: number) => Promise<void> | void): Promise<number> {
  const start = Date.now() - 3_600_000; // distinct past timestamps: one per message
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    const payload = JSON.stringify({ ts: start + i * 1000, seq: i, metrics: { gantry_temp_c: 20 + (i % 100) / 10, room_temp_c: 21 } });
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

async function storedCount(dataDir: string, device: string): Promise<number> {
  const store = await openSqliteTelemetryStore({ file: join(dataDir, 'telemetry.db') });
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
    const p = GuardianProcess.spawn(['collect', '--no-http'], {
      GUARDIAN_MQTT_URL: broker.url,
      GUARDIAN_MQTT_CLIENT_ID: `guardian-${name}`,
      GUARDIAN_DATA_DIR: join(dir.path, name),
      GUARDIAN_AUTO_REGISTER: 'on',
      ...extra,
    });
    running.push(p);
    return p;
  };
  const device = async (id: string) => mqtt.connectAsync(broker.url, { clientId: `dev-${id}`, protocolVersion: 5, reconnectPeriod: 300 });

  beforeAll(async () => {
    broker = await MosquittoServer.start(join(dir.path, 'mosquitto'));
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.crash()));
    await broker?.stop();
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

export { freePort };
