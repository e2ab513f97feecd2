import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { verifySecret } from '../../src/devices/credentials.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';

const ADMIN = 'test-admin-token-0123456789';
const FLEET = `
sites:
  - id: h1
    name: 一院
devices:
  - { id: MR-1, site: h1, modality: MR, vendor: Siemens, model: Avanto }
`;

type Body = Record<string, unknown>;

describe('device credentials over the API', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  const tokens: Record<string, string> = {};
  const call = async (who: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Body }> => {
    const response = await fetch(`${guardian.httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who] ?? ADMIN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Body) : {} };
  };
  /** Whether `password` lets MR-1 connect to the embedded broker. */
  const connects = async (username: string, password: string) => {
    try {
      const client = await mqtt.connectAsync(guardian.mqttUrl, { clientId: `api-${Math.random()}`, username, password, reconnectPeriod: 0 });
      await client.endAsync();
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    writeFileSync(join(dir.path, 'fleet.yaml'), FLEET);
    guardian = await startGuardian({ config: testConfig(dir.path, { fleetFile: join(dir.path, 'fleet.yaml'), autoRegister: false }), explicit: new Set(['mqtt.port']), logger: silentLogger() });
    for (const [name, role] of [
      ['supervisor-chen', 'supervisor'],
      ['engineer-li', 'engineer'],
    ] as const) {
      const created = await call('admin', 'POST', '/api/tokens', { name, role });
      tokens[name] = created.body.token as string;
    }
    const hospital = await call('admin', 'POST', '/api/tokens', { name: 'h1-equipment', role: 'hospital', siteId: 'h1' });
    tokens['h1-equipment'] = hospital.body.token as string;
  });

  afterAll(async () => {
    await guardian?.stop();
    dir.remove();
  });

  it('registering a device answers with its credential, shown once, which connects it', async () => {
    const created = await call('supervisor-chen', 'POST', '/api/devices', { id: 'CT-NEW', site: 'h1', modality: 'CT', vendor: 'GE', model: 'Revolution' });
    expect(created.status).toBe(201);
    const credential = created.body.credential as { username: string; password: string; passwordFileLine: string; rotated: boolean };
    expect(credential).toMatchObject({ username: 'CT-NEW', rotated: false });
    expect(credential.passwordFileLine.startsWith('CT-NEW:$7$')).toBe(true);
    expect(await verifySecret(credential.password, credential.passwordFileLine.slice('CT-NEW:'.length))).toBe(true);
    expect(await connects('CT-NEW', credential.password)).toBe(true);
    // Reading the device or its credential never shows the secret again.
    const read = await call('supervisor-chen', 'GET', '/api/devices/CT-NEW/credentials');
    expect(read).toMatchObject({ status: 200, body: { deviceId: 'CT-NEW', username: 'CT-NEW', createdBy: 'supervisor-chen' } });
    expect(JSON.stringify(read.body)).not.toContain(credential.password);
    expect(JSON.stringify((await call('supervisor-chen', 'GET', '/api/devices/CT-NEW')).body)).not.toContain(credential.password);
  });

  it('rotates: the new password connects, the old one no longer does', async () => {
    const first = await call('admin', 'POST', '/api/devices/MR-1/credentials');
    expect(first).toMatchObject({ status: 201, body: { username: 'MR-1', rotated: false } });
    const second = await call('supervisor-chen', 'POST', '/api/devices/MR-1/credentials');
    expect(second).toMatchObject({ status: 201, body: { rotated: true } });
    expect(await connects('MR-1', first.body.password as string)).toBe(false);
    expect(await connects('MR-1', second.body.password as string)).toBe(true);
  });

  it('revokes: the device is refused, the credential shows when; a second revocation finds none', async () => {
    const issued = await call('admin', 'POST', '/api/devices/MR-1/credentials');
    expect((await call('supervisor-chen', 'DELETE', '/api/devices/MR-1/credentials')).status).toBe(204);
    await waitFor(async () => !(await connects('MR-1', issued.body.password as string)), { what: 'the revoked credential refused' });
    expect((await call('admin', 'GET', '/api/devices/MR-1/credentials')).body.revokedAt).toEqual(expect.any(String));
    expect((await call('admin', 'DELETE', '/api/devices/MR-1/credentials')).status).toBe(404);
  });

  it('is for admins and supervisors only, and answers 404 for a device that does not exist', async () => {
    for (const who of ['engineer-li', 'h1-equipment']) {
      expect((await call(who, 'POST', '/api/devices/MR-1/credentials')).status, who).toBe(403);
      expect((await call(who, 'GET', '/api/devices/MR-1/credentials')).status, who).toBe(403);
      expect((await call(who, 'DELETE', '/api/devices/MR-1/credentials')).status, who).toBe(403);
    }
    expect((await call('admin', 'POST', '/api/devices/NOPE/credentials')).status).toBe(404);
  });
});
