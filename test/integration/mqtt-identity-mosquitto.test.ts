import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDeviceCredentials, type CredentialsOutput } from '../../src/cli/devices.js';
import { hashSecret } from '../../src/devices/credentials.js';
import { tempDir, waitFor } from '../helpers.js';
import { hasCommand, MosquittoServer, needs } from '../support/servers.js';

const ACL = join(import.meta.dirname, '../../deploy/mosquitto/guardian.acl');
const ENGINE_PASSWORD = 'engine-secret-0123456789';
const suite = needs('device identities on a Mosquitto with the shipped acl_file', hasCommand('mosquitto'), 'needs mosquitto');

/** Runs `guardian devices credentials` in-process and returns what it printed. */
async function credentials(configFile: string, options: Parameters<typeof runDeviceCredentials>[1]): Promise<{ out: string; err: string }> {
  let out = '';
  let err = '';
  const output: CredentialsOutput = { out: (t) => (out += t), err: (t) => (err += t) };
  await runDeviceCredentials(configFile, options, output);
  return { out, err };
}

/** The error of a publish or subscribe the broker refused (MQTT 5 reason code), or undefined. */
async function refusal(action: Promise<unknown>): Promise<number | undefined> {
  try {
    await action;
    return undefined;
  } catch (error) {
    const e = error as { code?: number; reasonCode?: number; packet?: { reasonCode?: number; granted?: number[] } };
    return e.code ?? e.reasonCode ?? e.packet?.reasonCode ?? e.packet?.granted?.[0] ?? -1;
  }
}

describe.skipIf(suite.skip)(suite.title, () => {
  const dir = tempDir('guardian-mosq-acl-');
  const configFile = join(dir.path, 'guardian.config.yaml');
  const passwd = join(dir.path, 'passwd');
  let broker: MosquittoServer;
  let passwords: Record<string, string>;
  const clients: MqttClient[] = [];
  const connect = async (options: IClientOptions) => {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5_000, ...options });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    writeFileSync(configFile, `dataDir: ${join(dir.path, 'data')}\nlog:\n  level: silent\n`);
    // The broker's password file is what the command prints, plus the engine's own user.
    const issued = await credentials(configFile, { device: ['MR-1', 'MR-2'], secretsOut: join(dir.path, 'secrets.json') });
    expect(issued.out.split('\n').filter(Boolean).map((l) => l.split(':')[0])).toEqual(['MR-1', 'MR-2']);
    writeFileSync(passwd, issued.out);
    appendFileSync(passwd, `guardian-engine:${await hashSecret(ENGINE_PASSWORD)}\n`);
    passwords = JSON.parse(readFileSync(join(dir.path, 'secrets.json'), 'utf8')) as Record<string, string>;
    broker = await MosquittoServer.start(join(dir.path, 'mosquitto'), { passwordFile: passwd, aclFile: ACL });
  });

  afterAll(async () => {
    for (const client of clients) client.end(true);
    await broker?.stop();
    dir.remove();
  });

  it('accepts the issued credentials ($7$ hashes from the engine) and refuses a wrong password or none', async () => {
    await connect({ clientId: 'mr-1', username: 'MR-1', password: passwords['MR-1']! });
    // Mosquitto 2.0 answers a wrong password with 135 (not authorized), later releases with 134.
    expect([134, 135]).toContain(await refusal(connect({ clientId: 'mr-1-guess', username: 'MR-1', password: 'wrong-password' })));
    expect(await refusal(connect({ clientId: 'anonymous' }))).toBe(135);
  });

  it('delivers a device’s message on its own topic to the engine, and refuses it publishing as another device', async () => {
    const engine = await connect({ clientId: 'engine', username: 'guardian-engine', password: ENGINE_PASSWORD });
    const received: string[] = [];
    engine.on('message', (topic) => received.push(topic));
    await engine.subscribeAsync('guardian/#', { qos: 1 });

    const device = await connect({ clientId: 'mr-1-pub', username: 'MR-1', password: passwords['MR-1']! });
    await device.publishAsync('guardian/h1/MR-1/telemetry', JSON.stringify({ ts: Date.now(), metrics: { helium_level_pct: 80 } }), { qos: 1 });
    await waitFor(() => received.includes('guardian/h1/MR-1/telemetry'), { what: 'own message delivered' });

    // Mosquitto answers the PUBACK with 135 (not authorized) and delivers nothing.
    const spoofed = await refusal(device.publishAsync('guardian/h1/MR-2/telemetry', JSON.stringify({ ts: Date.now(), metrics: { helium_level_pct: 30 } }), { qos: 1 }));
    expect(spoofed).toBe(135);
    await new Promise((r) => setTimeout(r, 300));
    expect(received).not.toContain('guardian/h1/MR-2/telemetry');
  });

  it('delivers nothing of the fleet to a device that subscribes to it', async () => {
    // Mosquitto grants the filter and checks each message against the reader's rules on delivery.
    const reader = await connect({ clientId: 'mr-2-sub', username: 'MR-2', password: passwords['MR-2']! });
    const seen: string[] = [];
    reader.on('message', (topic) => seen.push(topic));
    await reader.subscribeAsync('guardian/#', { qos: 1 });
    const engine = await connect({ clientId: 'engine-2', username: 'guardian-engine', password: ENGINE_PASSWORD });
    const engineSeen: string[] = [];
    engine.on('message', (topic) => engineSeen.push(topic));
    await engine.subscribeAsync('guardian/#', { qos: 1 });
    const device = await connect({ clientId: 'mr-1-pub-2', username: 'MR-1', password: passwords['MR-1']! });
    await device.publishAsync('guardian/h1/MR-1/event', JSON.stringify({ ts: Date.now(), code: 'E1' }), { qos: 1 });
    await waitFor(() => engineSeen.includes('guardian/h1/MR-1/event'), { what: 'the engine received the event' });
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
  });

  it('exports the live credentials as the same password-file lines, and leaves out a revoked one', async () => {
    const exported = await credentials(configFile, { export: true });
    expect(exported.out).toBe(readFileSync(passwd, 'utf8').split('\n').filter((l) => l.startsWith('MR-')).map((l) => `${l}\n`).join(''));
    await credentials(configFile, { revoke: ['MR-2'] });
    expect((await credentials(configFile, { export: true })).out).not.toContain('MR-2:');
  });
});
