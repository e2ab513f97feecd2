import { statSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import type { GuardianConfigInput } from '../../src/config/schema.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';
import { deviceLogin, enrolmentSecret } from '../support/mqtt-identity.js';

const TOKEN = 'test-admin-token-0123456789';
const ct = () => JSON.stringify({ ts: Date.now() - 1_000, metrics: { gantry_temp_c: 24, tube_heat_pct: 10 } });

/** The CONNACK return code of a connection attempt (0 = accepted). */
async function connectCode(url: string, options: IClientOptions): Promise<number> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
    await client.endAsync();
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

/** Publishes one CT reading as `device` at `site`, connected with `password` (user name = the device id). */
async function publishAs(url: string, site: string, device: string, password: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `enrol-${device}`, username: device, password, reconnectPeriod: 0 });
  try {
    await client.publishAsync(`guardian/${site}/${device}/telemetry`, ct(), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

async function engine(overrides: GuardianConfigInput): Promise<{ guardian: RunningGuardian; remove: () => Promise<void> }> {
  const dir = tempDir();
  const guardian = await startGuardian({ config: testConfig(dir.path, { autoRegister: true, ...overrides }), explicit: new Set(['mqtt.port']), logger: silentLogger() });
  return {
    guardian,
    remove: async () => {
      await guardian.stop();
      dir.remove();
    },
  };
}

async function metric(guardian: RunningGuardian, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${guardian.httpUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('auto-registration: only clients holding the enrolment secret, at a bounded rate', () => {
  let running: Awaited<ReturnType<typeof engine>>;
  let guardian: RunningGuardian;
  beforeAll(async () => {
    running = await engine({ autoRegisterPerMinute: 3, autoRegisterMax: 100 });
    guardian = running.guardian;
  });
  afterAll(async () => running?.remove());

  it('refuses an unknown device without the enrolment secret, so nothing is registered', async () => {
    expect(await connectCode(guardian.mqttUrl, { clientId: 'ghost', username: 'CT-GHOST', password: 'invented-invented' })).toBe(5);
    expect(await connectCode(guardian.mqttUrl, { clientId: 'ghost2' })).toBe(5);
    expect(guardian.registry.get('CT-GHOST')).toBeUndefined();
    expect(statSync(join(guardian.dataDir, 'mqtt-enrolment-secret')).mode & 0o777).toBe(0o600);
  });

  it('registers a device that enrols with the secret, and refuses registrations beyond the rate, counting them', async () => {
    const secret = enrolmentSecret(guardian);
    for (const id of ['CT-E1', 'CT-E2', 'CT-E3', 'CT-E4']) await publishAs(guardian.mqttUrl, 'enrol-site', id, secret);
    await waitFor(() => ['CT-E1', 'CT-E2', 'CT-E3'].every((id) => guardian.registry.get(id)?.source === 'auto'), { what: 'three devices registered' });
    await waitFor(async () => (await metric(guardian, 'guardian_devices_auto_register_refused_total', 'reason="rate"')) === 1, { what: 'the fourth refused by the rate' });
    expect(guardian.registry.get('CT-E4')).toBeUndefined();
    // Its message is a dead letter saying why (written in batches, within a second or so).
    const letter = await waitFor(
      async () => {
        const letters = (await (await fetch(`${guardian.httpUrl}/api/dead-letters?reason=unknown_device`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
          items: Array<{ deviceId?: string; detail: string }>;
        };
        return letters.items.find((l) => l.deviceId === 'CT-E4');
      },
      { what: "CT-E4's dead letter" },
    );
    expect(letter.detail).toContain('autoRegisterPerMinute');
  });

  it('does not let a device holding a credential of its own connect with the enrolment secret', async () => {
    await deviceLogin(guardian, 'CT-E1');
    expect(await connectCode(guardian.mqttUrl, { clientId: 'e1-again', username: 'CT-E1', password: enrolmentSecret(guardian) })).toBe(4);
  });
});

describe('auto-registration cap', () => {
  let running: Awaited<ReturnType<typeof engine>>;
  beforeAll(async () => {
    running = await engine({ autoRegisterPerMinute: 100, autoRegisterMax: 2 });
  });
  afterAll(async () => running?.remove());

  it('registers at most autoRegisterMax devices automatically; the rest are refused and counted', async () => {
    const { guardian } = running;
    const secret = enrolmentSecret(guardian);
    for (const id of ['CT-C1', 'CT-C2', 'CT-C3', 'CT-C4']) await publishAs(guardian.mqttUrl, 'cap-site', id, secret);
    await waitFor(async () => (await metric(guardian, 'guardian_devices_auto_register_refused_total', 'reason="cap"')) === 2, { what: 'two refused by the cap' });
    expect(guardian.registry.list().filter((d) => d.source === 'auto').map((d) => d.id)).toEqual(['CT-C1', 'CT-C2']);
  });
});

describe('without auto-registration there is no enrolment', () => {
  let running: Awaited<ReturnType<typeof engine>>;
  beforeAll(async () => {
    running = await engine({ autoRegister: false, mqtt: { enrolmentSecret: 'configured-enrolment-secret' } });
  });
  afterAll(async () => running?.remove());

  it('refuses the enrolment secret', async () => {
    expect(await connectCode(running.guardian.mqttUrl, { clientId: 'x', username: 'CT-X', password: 'configured-enrolment-secret' })).toBe(5);
  });
});
