import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteTelemetryStore } from '../../src/storage/sqlite-telemetry-store.js';
import { tempDir, waitFor } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';
import { makeTestPki, type TestPki } from '../support/pki.js';
import { dynamicSecurityPlugin, freePort, hasCommand, MosquittoServer, needs } from '../support/servers.js';

const SITE = 'tls-hospital';
const USER = 'guardian';
const PASSWORD = 'collector-secret';
const suite = needs(
  'collector against a Mosquitto with TLS and passwords',
  hasCommand('mosquitto') && hasCommand('mosquitto_passwd') && hasCommand('mosquitto_ctrl') && hasCommand('openssl') && dynamicSecurityPlugin() !== undefined,
  'needs mosquitto (with mosquitto_passwd, mosquitto_ctrl and its dynamic security plugin) and openssl',
);

/** How many gantry temperatures of `device` the collector stored in its SQLite file. */
async function storedCount(dataDir: string, device: string): Promise<number> {
  const store = await openSqliteTelemetryStore({ file: join(dataDir, 'telemetry.db') });
  try {
    const points = await store.aggregate({ deviceId: device, metric: 'gantry_temp_c', from: 0, to: Date.now() + 86_400_000, step: 365 * 86_400_000 });
    return points.reduce((n, p) => n + p.count, 0);
  } finally {
    await store.close();
  }
}

/** Publishes `count` telemetry messages of `device` with QoS 1 (each acknowledged by the broker). */
async function publish(url: string, options: IClientOptions, device: string, count: number): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `dev-${device}`, protocolVersion: 5, reconnectPeriod: 0, ...options });
  const start = Date.now() - 600_000;
  for (let i = 0; i < count; i++) {
    await client.publishAsync(`guardian/${SITE}/${device}/telemetry`, JSON.stringify({ ts: start + i * 1000, metrics: { gantry_temp_c: 25 + i / 10 } }), { qos: 1 });
  }
  await client.endAsync();
}

describe.skipIf(suite.skip)(suite.title, () => {
  const dir = tempDir('guardian-tls-');
  let pki: TestPki;
  /** TLS with a password file. */
  let broker: MosquittoServer;
  /** TLS that also asks every client for a certificate signed by the CA. */
  let mutual: MosquittoServer;
  const running: GuardianProcess[] = [];
  const collector = (name: string, env: Record<string, string>, args = ['collect', '--no-http']) => {
    const proc = GuardianProcess.spawn(args, {
      GUARDIAN_MQTT_CLIENT_ID: `guardian-${name}`,
      GUARDIAN_DATA_DIR: join(dir.path, name),
      GUARDIAN_AUTO_REGISTER: 'on',
      ...env,
    });
    running.push(proc);
    return proc;
  };
  const secured = (extra: Record<string, string> = {}) => ({
    GUARDIAN_MQTT_URL: broker.url,
    GUARDIAN_MQTT_CA_FILE: pki.caFile,
    GUARDIAN_MQTT_USERNAME: USER,
    GUARDIAN_MQTT_PASSWORD: PASSWORD,
    ...extra,
  });
  /** A start-up refused for good: exit code 2 and the reason on one line, no stack trace. */
  const expectRefused = async (proc: GuardianProcess, ...phrases: string[]) => {
    const code = await proc.exited;
    const output = proc.output();
    expect(code, output).toBe(2);
    for (const phrase of phrases) expect(output).toContain(phrase);
    expect(output).not.toMatch(/\n\s+at /);
  };

  beforeAll(async () => {
    pki = makeTestPki(join(dir.path, 'pki'));
    const tls = { caFile: pki.caFile, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile };
    broker = await MosquittoServer.start(join(dir.path, 'mosquitto'), { tls, users: { [USER]: PASSWORD, device: 'device-secret' } });
    mutual = await MosquittoServer.start(join(dir.path, 'mosquitto-mutual'), { tls: { ...tls, requireCertificate: true } });
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.crash()));
    await broker?.stop();
    await mutual?.stop();
    dir.remove();
  });

  it('stores telemetry received over mqtts:// with the CA file, user name and password', async () => {
    const proc = collector('tls', secured());
    await proc.waitForOutput('connected to MQTT broker');
    await publish(broker.url, { ca: readFileSync(pki.caFile), username: 'device', password: 'device-secret' }, 'CT-TLS', 20);
    await waitFor(async () => (await storedCount(join(dir.path, 'tls'), 'CT-TLS')) === 20, { timeoutMs: 20_000, what: '20 messages stored' });
    expect(await proc.stop()).toBe(0);
  }, 60_000);

  it('refuses to start with a wrong password and names the settings to check', async () => {
    await expectRefused(collector('badpass', secured({ GUARDIAN_MQTT_PASSWORD: 'wrong' })), 'refused the connection', 'Not authorized', 'GUARDIAN_MQTT_PASSWORD');
  }, 30_000);

  it("refuses to start when the broker's access control does not let the user subscribe", async () => {
    // Mosquitto's acl_file grants every subscription and filters deliveries; its dynamic security
    // plugin answers a subscription it does not allow with reason code 135 (not authorized).
    const guarded = await MosquittoServer.start(join(dir.path, 'mosquitto-dynsec'), { dynamicSecurity: { admin: 'admin', password: 'admin-secret' } });
    try {
      guarded.ctrl(['dynsec', 'createClient', USER, '-p', PASSWORD]);
      const proc = collector('acl', { GUARDIAN_MQTT_URL: guarded.url, GUARDIAN_MQTT_USERNAME: USER, GUARDIAN_MQTT_PASSWORD: PASSWORD });
      await expectRefused(proc, 'refused the subscription: guardian/# (reason code 135)', "broker's access control");
    } finally {
      await guarded.stop();
    }
  }, 30_000);

  it("refuses to start when the broker's certificate is not signed by the configured CA", async () => {
    await expectRefused(collector('otherca', secured({ GUARDIAN_MQTT_CA_FILE: pki.otherCaFile })), "broker's certificate did not verify", 'GUARDIAN_MQTT_CA_FILE');
    // Without a CA file the system's CAs apply, which do not know the test CA either.
    await expectRefused(collector('noca', secured({ GUARDIAN_MQTT_CA_FILE: '' })), 'SELF_SIGNED_CERT_IN_CHAIN', 'GUARDIAN_MQTT_CA_FILE');
  }, 30_000);

  it('refuses to start when the host name is not in the certificate', async () => {
    // The certificate names localhost, not the address.
    const url = broker.url.replace('localhost', '127.0.0.1');
    await expectRefused(collector('altname', secured({ GUARDIAN_MQTT_URL: url })), 'ERR_TLS_CERT_ALTNAME_INVALID');
  }, 30_000);

  it('names the setting when a TLS file cannot be read', async () => {
    const missing = join(dir.path, 'no-such-ca.pem');
    await expectRefused(collector('missingca', secured({ GUARDIAN_MQTT_CA_FILE: missing })), 'mqtt.caFile (GUARDIAN_MQTT_CA_FILE)', missing);
  }, 30_000);

  it('presents a client certificate where the broker asks for one, and cannot connect without it', async () => {
    const base = { GUARDIAN_MQTT_URL: mutual.url, GUARDIAN_MQTT_CA_FILE: pki.caFile };
    const proc = collector('mutual', { ...base, GUARDIAN_MQTT_CERT_FILE: pki.clientCertFile, GUARDIAN_MQTT_KEY_FILE: pki.clientKeyFile });
    await proc.waitForOutput('connected to MQTT broker');
    await publish(mutual.url, { ca: readFileSync(pki.caFile), cert: readFileSync(pki.clientCertFile), key: readFileSync(pki.clientKeyFile) }, 'CT-MTLS', 5);
    await waitFor(async () => (await storedCount(join(dir.path, 'mutual'), 'CT-MTLS')) === 5, { timeoutMs: 20_000, what: '5 messages stored' });
    expect(await proc.stop()).toBe(0);

    await expectRefused(collector('nocert', base), 'refused the connection', 'GUARDIAN_MQTT_CERT_FILE');
  }, 60_000);

  it('starts while the broker is down, reports not ready, and connects and stores once it is up', async () => {
    const port = await freePort();
    const httpPort = await freePort();
    const proc = collector('late', { GUARDIAN_MQTT_URL: `mqtt://127.0.0.1:${port}`, GUARDIAN_HTTP_PORT: String(httpPort), GUARDIAN_ADMIN_TOKEN: 'late-token-0123456789' }, ['collect']);
    await proc.waitForOutput('MQTT broker not reachable yet');
    const readyz = async () => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      return { status: response.status, body: (await response.json()) as { checks: Record<string, { ok: boolean; error?: string }> } };
    };
    const before = await waitFor(() => readyz().catch(() => undefined), { what: 'the API to answer' });
    expect(before.status).toBe(503);
    expect(before.body.checks.mqtt).toEqual({ ok: false, error: 'not connected to the MQTT broker' });

    const late = await MosquittoServer.start(join(dir.path, 'mosquitto-late'), { port });
    try {
      await proc.waitForOutput('connected to MQTT broker', 60_000);
      await waitFor(async () => (await readyz()).status === 200, { what: 'ready once connected' });
      await publish(late.url, {}, 'CT-LATE', 10);
      await waitFor(async () => (await storedCount(join(dir.path, 'late'), 'CT-LATE')) === 10, { timeoutMs: 20_000, what: '10 messages stored' });
      expect(await proc.stop()).toBe(0);
    } finally {
      await late.stop();
    }
  }, 90_000);

  it('stops cleanly on SIGTERM while the broker is still unreachable', async () => {
    const port = await freePort();
    const proc = collector('never', { GUARDIAN_MQTT_URL: `mqtt://127.0.0.1:${port}` });
    await proc.waitForOutput('MQTT broker not reachable yet');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toContain('"msg":"stopped"');
  }, 30_000);
});
