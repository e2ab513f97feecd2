import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../helpers.js';
import { GuardianProcess } from '../support/guardian-process.js';
import { freePort, needs } from '../support/servers.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
// In CI a missing server fails the run instead of skipping this suite.
const suite = needs('guardian start on PostgreSQL (GUARDIAN_DATABASE_URL)', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

const TOKEN = 'postgres-test-token-0123456789';
// Trust authentication ignores it; the engine must never print it.
const PASSWORD = 'pw-never-printed-42';
const BANNER = 'running / 已启动';

describe.skipIf(suite.skip)(suite.title, () => {
  let dir: ReturnType<typeof tempDir>;
  const schemas: string[] = [];
  const running: GuardianProcess[] = [];
  let admin: pg.Pool;

  beforeAll(() => {
    dir = tempDir('guardian-pg-');
    admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  });

  afterAll(async () => {
    for (const g of running) await g.crash();
    for (const schema of schemas) await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
    dir.remove();
  });

  /** An empty schema of this test's own and the URL that selects it, with a password in it. */
  async function freshDatabase(): Promise<{ schema: string; url: string }> {
    const schema = `guardian_t_${randomBytes(6).toString('hex')}`;
    await admin.query(`create schema ${schema}`);
    schemas.push(schema);
    const url = new URL(PG_URL!);
    url.password = PASSWORD;
    url.searchParams.set('options', `-c search_path=${schema}`);
    return { schema, url: url.toString() };
  }

  function guardian(args: string[], env: Record<string, string>): GuardianProcess {
    const g = GuardianProcess.spawn(args, { GUARDIAN_SIMULATE: 'off', GUARDIAN_ADMIN_TOKEN: TOKEN, ...env });
    running.push(g);
    return g;
  }

  it('starts with its registry on PostgreSQL, is ready, stores a registered device and finds it again after a restart', async () => {
    const { schema, url } = await freshDatabase();
    const httpPort = await freePort();
    const env = {
      GUARDIAN_DATABASE_URL: url,
      GUARDIAN_DATA_DIR: join(dir.path, 'data'),
      GUARDIAN_HTTP_PORT: String(httpPort),
      GUARDIAN_MQTT_PORT: String(await freePort()),
    };
    const api = (path: string, init: { method?: string; body?: unknown } = {}) =>
      fetch(`http://127.0.0.1:${httpPort}${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${TOKEN}`, ...(init.body !== undefined && { 'content-type': 'application/json' }) },
        ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
      });

    const first = guardian(['start'], env);
    await first.waitForOutput(BANNER);
    const ready = await api('/readyz');
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: { ok: true } } });
    expect(ready.status).toBe(200);

    expect((await api('/api/sites', { method: 'POST', body: { id: 'qd-hospital', name: '青岛市立医院', timezone: 'Asia/Shanghai' } })).status).toBe(201);
    const created = await api('/api/devices', {
      method: 'POST',
      body: { id: 'qd-mr-01', site: 'qd-hospital', modality: 'MR', vendor: 'United Imaging', model: 'uMR 780', serial: 'U-780-1', installDate: '2022-05-06', location: { department: '放射科', floor: '1F', room: 'MR-3' } },
    });
    expect(created.status).toBe(201);

    const { rows } = await admin.query<{ id: string; site: string; vendor: string; department: string; created_at: string }>(
      `select id, site, vendor, department, created_at from ${schema}.devices`,
    );
    expect(rows).toEqual([{ id: 'qd-mr-01', site: 'qd-hospital', vendor: 'United Imaging', department: '放射科', created_at: expect.any(String) }]);
    expect(Math.abs(Number(rows[0]!.created_at) - Date.now())).toBeLessThan(5 * 60_000);
    const migrated = await admin.query<{ name: string }>(`select name from ${schema}.kysely_migration order by name`);
    expect(migrated.rows.map((r) => r.name).slice(0, 2)).toEqual(['0001_registry_and_ingest', '0002_alerts']);

    expect(await first.stop()).toBe(0);
    expect(first.output()).toContain('"dialect":"postgres"');
    expect(first.output()).not.toContain(PASSWORD);

    const second = guardian(['start'], env);
    await second.waitForOutput(BANNER);
    const devices = await waitFor(async () => {
      const r = await api('/api/devices');
      return r.ok && ((await r.json()) as { items: Array<{ id: string; site: string }> }).items;
    });
    expect(devices.map((d) => [d.id, d.site])).toEqual([['qd-mr-01', 'qd-hospital']]);
    expect(await second.stop()).toBe(0);
  });

  it('stops at start with one line naming the PostgreSQL it cannot reach', async () => {
    const port = await freePort();
    const g = guardian(['start'], {
      GUARDIAN_DATABASE_URL: `postgres://guardian:${PASSWORD}@127.0.0.1:${port}/guardian`,
      GUARDIAN_DATA_DIR: join(dir.path, 'unreachable'),
      GUARDIAN_HTTP_PORT: String(await freePort()),
      GUARDIAN_MQTT_PORT: String(await freePort()),
    });
    expect(await g.exited).toBe(2);
    expect(g.output()).toContain(`guardian: cannot reach PostgreSQL at 127.0.0.1:${port}/guardian: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    expect(g.output()).not.toMatch(/\n\s+at /); // no stack trace
    expect(g.output()).not.toContain(PASSWORD);
  });

  it('lets two `guardian migrate` run at once on an empty database: one applies, the other finds it done', async () => {
    const { url } = await freshDatabase();
    const env = { GUARDIAN_DATABASE_URL: url, GUARDIAN_DATA_DIR: join(dir.path, 'migrate') };
    const both = [guardian(['migrate'], env), guardian(['migrate'], env)];
    expect(await Promise.all(both.map((g) => g.exited))).toEqual([0, 0]);
    const outputs = both.map((g) => g.output()).sort();
    expect(outputs[0]).toMatch(/^applied: 0001_registry_and_ingest, 0002_alerts\b/);
    expect(outputs[1]).toMatch(/^database postgres:\/\/[^\s:@]+@\S+ is up to date\n$/);
    expect(outputs.join('')).not.toContain(PASSWORD);
  });
});
