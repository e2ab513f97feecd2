import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';
import { deviceLogin, engineLogin } from '../support/mqtt-identity.js';

const TOKEN = 'test-admin-token-0123456789';
const FLEET = `
sites:
  - id: hospital-a
    name: A
devices:
  - { id: MR-A1, site: hospital-a, modality: MR, vendor: Siemens, model: Avanto }
  - { id: MR-A2, site: hospital-a, modality: MR, vendor: Siemens, model: Avanto }
`;

/** Connects and resolves with the CONNACK's return code (0 = accepted) and the client. */
function connect(url: string, options: IClientOptions): Promise<{ code: number; client: MqttClient }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4, ...options });
    client.once('connect', () => resolve({ code: 0, client }));
    client.once('error', (error) => {
      client.end(true);
      resolve({ code: (error as { code?: number }).code ?? -1, client });
    });
  });
}

const sample = (value: number) => JSON.stringify({ ts: Date.now() - 1_000, metrics: { helium_level_pct: value } });

describe('the embedded broker authenticates every connection and keeps each device to its own topics', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  const open: MqttClient[] = [];
  const login = async (options: IClientOptions) => {
    const result = await connect(guardian.mqttUrl, options);
    open.push(result.client);
    return result;
  };
  const metric = async (name: string, labels: string): Promise<number> => {
    const text = await (await fetch(`${guardian.httpUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  const stored = async (device: string) => (await guardian.telemetry.latest(device)).find((v) => v.metric === 'helium_level_pct')?.value;

  beforeAll(async () => {
    writeFileSync(join(dir.path, 'fleet.yaml'), FLEET);
    guardian = await startGuardian({
      config: testConfig(dir.path, { fleetFile: join(dir.path, 'fleet.yaml'), autoRegister: false }),
      explicit: new Set(['mqtt.port']),
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    for (const client of open) client.end(true);
    await guardian?.stop();
    dir.remove();
  });

  it('refuses anonymous connections and wrong passwords, and counts them', async () => {
    expect((await login({ clientId: 'anon' })).code).toBe(5);
    expect((await login({ clientId: 'guess', username: 'MR-A1', password: 'not-the-secret' })).code).toBe(5);
    await deviceLogin(guardian, 'MR-A1');
    expect((await login({ clientId: 'guess2', username: 'MR-A1', password: 'not-the-secret' })).code).toBe(4);
    expect(await metric('guardian_mqtt_refused_total', 'action="connect",reason="anonymous"')).toBe(1);
    expect(await metric('guardian_mqtt_refused_total', 'action="connect",reason="bad_password"')).toBe(1);
  });

  it('lets a device publish under its own topic only: publishing as another closes its connection and stores nothing', async () => {
    const { code, client } = await login({ clientId: 'dev-a1', ...(await deviceLogin(guardian, 'MR-A1')) });
    expect(code).toBe(0);
    await client.publishAsync('guardian/hospital-a/MR-A1/telemetry', sample(81), { qos: 1 });
    await waitFor(async () => (await stored('MR-A1')) === 81, { what: 'own sample stored' });

    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('guardian/hospital-a/MR-A2/telemetry', sample(30), { qos: 1 });
    await closed;
    // The other scanner's data was never handed to the engine.
    await new Promise((r) => setTimeout(r, 300));
    expect(await stored('MR-A2')).toBeUndefined();
    expect(await metric('guardian_mqtt_refused_total', 'action="publish",reason="foreign_topic"')).toBe(1);
  });

  it('grants a device no subscription to the fleet, while the engine reads everything', async () => {
    const { client } = await login({ clientId: 'dev-a2', ...(await deviceLogin(guardian, 'MR-A2')) });
    // mqtt.js answers a SUBACK with refusals by an error carrying the packet.
    const codes = await new Promise<unknown>((resolve) =>
      client.subscribe(['#', '$SYS/#', 'guardian/hospital-a/MR-A1/#', 'guardian/hospital-a/MR-A2/command'], (error, granted) =>
        resolve((error as { packet?: { granted?: unknown } } | null)?.packet?.granted ?? granted?.map((g) => g.qos)),
      ),
    );
    expect(codes).toEqual([128, 128, 128, 0]);

    const engine = await login({ clientId: 'engine-reader', ...engineLogin(guardian) });
    expect(engine.code).toBe(0);
    const [all] = await engine.client.subscribeAsync('#');
    expect(all?.qos).toBe(0);
  });

  it("refuses a client taking the collector's client id without the engine's credential, and the collector stays connected", async () => {
    expect(guardian.pipeline.collector.connected).toBe(true);
    const takeover = await login({ clientId: 'guardian-collector', ...(await deviceLogin(guardian, 'MR-A2')) });
    expect(takeover.code).toBe(2);
    const wrongEngine = await login({ clientId: 'guardian-collector', username: 'guardian-engine', password: 'guess-guess-guess-guess' });
    expect(wrongEngine.code).toBe(4);
    // Taken over, the collector would be cut off and back only after its reconnect back-off (1 s).
    await new Promise((r) => setTimeout(r, 300));
    expect(guardian.pipeline.collector.connected).toBe(true);
    expect(await metric('guardian_mqtt_refused_total', 'reason="engine_client_id"')).toBe(1);
    expect(await metric('guardian_mqtt_refused_total', 'reason="engine_password"')).toBe(1);
  });

  it('drops and refuses a device whose credential was revoked, and takes only the newest after a rotation', async () => {
    const first = await deviceLogin(guardian, 'MR-A2');
    const { client } = await login({ clientId: 'dev-a2-rot', ...first });
    const second = await deviceLogin(guardian, 'MR-A2');
    await waitFor(() => !client.connected, { what: 'the rotated device disconnected' });
    expect((await login({ clientId: 'dev-a2-old', ...first })).code).toBe(4);
    const renewed = await login({ clientId: 'dev-a2-new', ...second });
    expect(renewed.code).toBe(0);
    expect(await guardian.deviceCredentials.revoke('MR-A2')).toBe(true);
    await waitFor(() => !renewed.client.connected, { what: 'the revoked device disconnected' });
    expect((await login({ clientId: 'dev-a2-revoked', ...second })).code).toBe(5);
  });

  it('keeps the engine secret in the data directory, readable by its owner only', () => {
    expect(statSync(join(dir.path, 'mqtt-engine-secret')).mode & 0o777).toBe(0o600);
  });
});
