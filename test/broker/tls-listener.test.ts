import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { loadConfig } from '../../src/config/load.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';
import { issueClientCertificate } from '../support/device-certs.js';
import { deviceLogin } from '../support/mqtt-identity.js';
import { makeTestPki, type TestPki } from '../support/pki.js';
import { freePort, hasCommand, needs } from '../support/servers.js';

const FLEET = `
sites:
  - id: tls-site
    name: TLS
devices:
  - { id: MR-T1, site: tls-site, modality: MR, vendor: Siemens, model: Avanto }
  - { id: MR-T2, site: tls-site, modality: MR, vendor: Siemens, model: Avanto }
`;
const suite = needs('the embedded broker’s TLS listener', hasCommand('openssl'), 'needs openssl');
const reading = (value: number) => JSON.stringify({ ts: Date.now() - 1_000, metrics: { helium_level_pct: value } });

/** Connects over mqtts to `localhost` (the name the test certificate carries); the CONNACK code, 0 when accepted. */
async function attempt(url: string, options: IClientOptions): Promise<{ code: number; client?: mqtt.MqttClient }> {
  try {
    return { code: 0, client: await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options }) };
  } catch (error) {
    return { code: (error as { code?: number }).code ?? -1 };
  }
}

describe.skipIf(suite.skip)(suite.title, () => {
  const dir = tempDir('guardian-mqtts-');
  let pki: TestPki;
  let guardian: RunningGuardian;
  let tlsUrl: string;
  const clients: mqtt.MqttClient[] = [];
  const connect = async (options: IClientOptions) => {
    const result = await attempt(tlsUrl, { ca: readFileSync(pki.caFile), ...options });
    if (result.client) clients.push(result.client);
    return result;
  };
  const stored = async (device: string) => (await guardian.telemetry.latest(device)).find((v) => v.metric === 'helium_level_pct')?.value;

  beforeAll(async () => {
    pki = makeTestPki(join(dir.path, 'pki'));
    writeFileSync(join(dir.path, 'fleet.yaml'), FLEET);
    guardian = await startGuardian({
      config: testConfig(dir.path, {
        fleetFile: join(dir.path, 'fleet.yaml'),
        autoRegister: false,
        mqtt: { tls: { port: await freePort(), certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, caFile: pki.caFile, clientCertificates: true } },
      }),
      explicit: new Set(['mqtt.port']),
      logger: silentLogger(),
    });
    // The certificate names localhost, not 127.0.0.1.
    tlsUrl = guardian.mqttTlsUrl!.replace('127.0.0.1', 'localhost');
  });

  afterAll(async () => {
    for (const client of clients) client.end(true);
    await guardian?.stop();
    dir.remove();
  });

  it('takes a device’s password over TLS, verified against the configured CA', async () => {
    expect(guardian.mqttTlsUrl).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const { code, client } = await connect({ clientId: 'tls-pw', ...(await deviceLogin(guardian, 'MR-T1')) });
    expect(code).toBe(0);
    await client!.publishAsync('guardian/tls-site/MR-T1/telemetry', reading(77), { qos: 1 });
    await waitFor(async () => (await stored('MR-T1')) === 77, { what: 'the reading sent over TLS stored' });
    // Anonymous over TLS is refused like on the plain port.
    expect((await connect({ clientId: 'tls-anon' })).code).toBe(5);
  });

  it('takes a client certificate whose common name is the device id as its identity, and keeps it to its own topics', async () => {
    const cert = issueClientCertificate(join(dir.path, 'pki'), 'MR-T2');
    const { code, client } = await connect({ clientId: 'tls-cert', cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) });
    expect(code).toBe(0);
    await client!.publishAsync('guardian/tls-site/MR-T2/telemetry', reading(66), { qos: 1 });
    await waitFor(async () => (await stored('MR-T2')) === 66, { what: 'the certificate holder’s reading stored' });
    const closed = new Promise<void>((resolve) => client!.once('close', () => resolve()));
    client!.publish('guardian/tls-site/MR-T1/telemetry', reading(10), { qos: 1 });
    await closed;
    expect(await stored('MR-T1')).not.toBe(10);
  });

  it('refuses a certificate from another CA, and the certificate of a device whose credential is revoked', async () => {
    const foreign = issueClientCertificate(join(dir.path, 'pki'), 'MR-T2', 'other-ca');
    expect((await connect({ clientId: 'tls-foreign', cert: readFileSync(foreign.certFile), key: readFileSync(foreign.keyFile) })).code).toBe(5);
    await deviceLogin(guardian, 'MR-T2');
    await guardian.deviceCredentials.revoke('MR-T2');
    const cert = issueClientCertificate(join(dir.path, 'pki'), 'MR-T2');
    expect((await connect({ clientId: 'tls-revoked', cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) })).code).toBe(5);
  });
});

describe('mqtt.tls settings', () => {
  const load = (env: Record<string, string>) => () => loadConfig({ env, file: undefined });

  it('refuses client certificates without the CA that signs them, TLS with an external broker, and a bad port, naming the setting', () => {
    const base = { GUARDIAN_MQTT_TLS_CERT_FILE: '/etc/guardian/server.pem', GUARDIAN_MQTT_TLS_KEY_FILE: '/etc/guardian/server.key' };
    expect(load({ ...base, GUARDIAN_MQTT_TLS_PORT: '8883', GUARDIAN_MQTT_TLS_CLIENT_CERTIFICATES: 'on' })).toThrow(/mqtt\.tls\.caFile \(GUARDIAN_MQTT_TLS_CA_FILE\): clientCertificates needs caFile/);
    expect(load({ ...base, GUARDIAN_MQTT_TLS_PORT: '8883', GUARDIAN_MQTT_URL: 'mqtts://broker:8883' })).toThrow(/mqtt\.tls: .*external broker/);
    expect(load({ ...base, GUARDIAN_MQTT_TLS_PORT: '70000' })).toThrow(/mqtt\.tls\.port \(GUARDIAN_MQTT_TLS_PORT\)/);
    expect(load({ GUARDIAN_MQTT_TLS_PORT: '8883' })).toThrow(/mqtt\.tls\.certFile \(GUARDIAN_MQTT_TLS_CERT_FILE\)/);
    expect(load({ GUARDIAN_MQTT_ENROLMENT_SECRET: 'short' })).toThrow(/mqtt\.enrolmentSecret \(GUARDIAN_MQTT_ENROLMENT_SECRET\): must be at least 16 characters/);
    expect(load({ GUARDIAN_AUTO_REGISTER_MAX: '0' })).toThrow(/autoRegisterMax \(GUARDIAN_AUTO_REGISTER_MAX\)/);
    expect(loadConfig({ env: { ...base, GUARDIAN_MQTT_TLS_PORT: '8883' } }).config.mqtt.tls).toEqual({ port: 8883, certFile: base.GUARDIAN_MQTT_TLS_CERT_FILE, keyFile: base.GUARDIAN_MQTT_TLS_KEY_FILE, clientCertificates: false });
  });

  it('stops start-up naming the setting when a certificate file cannot be read', async () => {
    const dir = tempDir();
    try {
      await expect(
        startGuardian({
          config: testConfig(dir.path, { mqtt: { tls: { port: 0, certFile: join(dir.path, 'missing.pem'), keyFile: join(dir.path, 'missing.key') } } }),
          explicit: new Set(['mqtt.port']),
          logger: silentLogger(),
        }),
      ).rejects.toThrow(/mqtt\.tls\.certFile \(GUARDIAN_MQTT_TLS_CERT_FILE\): cannot read/);
    } finally {
      dir.remove();
    }
  });
});
