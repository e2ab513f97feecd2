import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuleSet } from '../../rules/rule-set.js';
import type { ApiContext, WorkOrderDesk, WorkOrderQuery } from '../../src/api/context.js';
import { buildApiServer } from '../../src/api/server.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { startGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { SilenceService } from '../../src/silences/silence-service.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { SilenceRepository } from '../../src/storage/sql/silence-repository.js';
import { ApiTokenRepository } from '../../src/storage/sql/token-repository.js';
import { TokenService } from '../../src/auth/tokens.js';
import { toSilence, SilenceSpecSchema, type SilenceSpecInput } from '../../src/silences/schedule.js';
import { tempDir, testConfig } from '../helpers.js';
import { needs } from '../support/servers.js';

const TOKEN = 'test-admin-token-0123456789';
const PACKS = join(import.meta.dirname, '../../rules/packs');
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Tuesday 1 December 2026, 00:00 in Shanghai. */
const T0 = Date.parse('2026-12-01T00:00:00+08:00');

type Body = Record<string, unknown> & { items: Array<Record<string, unknown>>; total: number; issues?: Array<{ path: string; message: string }> };

describe('silences API', () => {
  const dir = tempDir();
  let sql: SqlDatabase;
  let app: FastifyInstance;
  let service: SilenceService;
  let engineerToken: string;
  let hospitalToken: string;
  let now = T0;

  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, token: string | null = TOKEN) => {
    const response = await app.inject({
      method,
      url,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      ...(payload !== undefined && { payload: payload as Record<string, unknown> }),
    });
    return { status: response.statusCode, headers: response.headers, body: (response.body ? response.json() : undefined) as Body };
  };

  const oneOff = (startsAt: number, endsAt: number, extra: Record<string, unknown> = {}) => ({
    scope: { deviceId: 'yt-mr-01' },
    author: '张工',
    reason: '更换冷头',
    window: { startsAt: new Date(startsAt).toISOString(), endsAt: new Date(endsAt).toISOString() },
    ...extra,
  });

  beforeAll(async () => {
    sql = await openSqlDatabase({ sqliteFile: join(dir.path, 'guardian.db') });
    await migrateToLatest(sql);
    const registry = await DeviceRegistry.open(new SqlDeviceStore(sql.db), () => now);
    await registry.upsertSite({ id: 'yantai', name: '烟台医院' });
    await registry.upsertSite({ id: 'berlin', name: 'Charité', timezone: 'Europe/Berlin' });
    await registry.upsert({ id: 'yt-mr-01', site: 'yantai', modality: 'MR', vendor: 'Siemens', model: 'Avanto' }, 'api');
    await registry.upsert({ id: 'yt-ct-01', site: 'yantai', modality: 'CT', vendor: 'GE', model: 'Revolution' }, 'api');
    await registry.upsert({ id: 'de-mr-01', site: 'berlin', modality: 'MR', vendor: 'Siemens', model: 'Vida' }, 'api');
    const rules = new RuleSet(PACKS);
    expect((await rules.load()).ok).toBe(true);
    service = await SilenceService.open(new SilenceRepository(sql.db), { now: () => now });
    const tokens = new TokenService(new ApiTokenRepository(sql.db));
    engineerToken = (await tokens.create({ name: 'wang', role: 'engineer' }, 'admin', now)).token;
    hospitalToken = (await tokens.create({ name: 'yantai-equipment', role: 'hospital', siteId: 'yantai' }, 'admin', now)).token;
    const ctx: ApiContext = {
      registry,
      rules,
      alerts: { list: () => [], states: () => [] },
      workOrders: {} as WorkOrderDesk,
      workOrderQuery: {} as WorkOrderQuery,
      tokens,
      telemetry: {} as ApiContext['telemetry'],
      deadLetters: {} as ApiContext['deadLetters'],
      events: {} as ApiContext['events'],
      silences: service,
      silenceQuery: new SilenceRepository(sql.db),
      metrics: new Registry(),
      readiness: [],
      adminToken: TOKEN,
      logger: silentLogger(),
      now: () => now,
      version: 'test',
    };
    app = await buildApiServer(ctx);
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await sql?.close();
    dir.remove();
  });

  it('needs a bearer token, and a supervisor or admin to change silences', async () => {
    for (const [method, url] of [
      ['GET', '/api/silences'],
      ['GET', '/api/silences/x'],
      ['POST', '/api/silences'],
      ['PATCH', '/api/silences/x'],
      ['DELETE', '/api/silences/x'],
    ] as const) {
      const { status, body } = await call(method, url, method === 'POST' || method === 'PATCH' ? {} : undefined, null);
      expect(status, `${method} ${url}`).toBe(401);
      expect(body.error).toBe('unauthorized');
    }
    expect((await call('GET', '/api/silences', undefined, 'wrong-token-0123456789')).status).toBe(401);
    expect((await call('GET', '/api/silences', undefined, engineerToken)).status).toBe(200);
    const refused = await call('POST', '/api/silences', oneOff(T0 + HOUR, T0 + 2 * HOUR), engineerToken);
    expect(refused.status).toBe(403);
  });

  it('creates a one-off silence whose status follows the clock: pending, active, expired', async () => {
    now = T0;
    const created = await call('POST', '/api/silences', oneOff(T0 + 2 * HOUR, T0 + 4 * HOUR, { id: 'coldhead-swap' }));
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/api/silences/coldhead-swap');
    expect(created.body).toMatchObject({
      id: 'coldhead-swap',
      scope: { deviceId: 'yt-mr-01', ruleIds: [] },
      author: '张工',
      reason: '更换冷头',
      timezone: 'Asia/Shanghai',
      window: { startsAt: '2026-11-30T18:00:00.000Z', endsAt: '2026-11-30T20:00:00.000Z' },
      status: 'pending',
      statusLabel: { zh: '待生效', en: 'pending' },
      nextWindow: { startsAt: '2026-11-30T18:00:00.000Z', endsAt: '2026-11-30T20:00:00.000Z' },
      createdAt: new Date(T0).toISOString(),
    });
    expect((await call('GET', '/api/silences/coldhead-swap')).body).toEqual(created.body);

    now = T0 + 3 * HOUR;
    expect((await call('GET', '/api/silences/coldhead-swap')).body).toMatchObject({ status: 'active', statusLabel: { zh: '生效中', en: 'active' } });
    const target = { siteId: 'yantai', deviceId: 'yt-mr-01', ruleId: 'helium-level-low' };
    expect(service.activeFor(target, now)?.id).toBe('coldhead-swap');
    expect(service.activeFor({ ...target, deviceId: 'yt-ct-01' }, now)).toBeUndefined();

    now = T0 + 5 * HOUR;
    const ended = (await call('GET', '/api/silences/coldhead-swap')).body;
    expect(ended.status).toBe('expired');
    expect(ended.nextWindow).toBeUndefined();
    // Evaluation in event time still sees the window.
    expect(service.activeFor(target, T0 + 3 * HOUR)?.id).toBe('coldhead-swap');
    expect((await call('POST', '/api/silences', oneOff(T0, T0 + HOUR, { id: 'coldhead-swap' }))).status).toBe(400); // ended: refused before the id is looked at
    now = T0;
    expect((await call('POST', '/api/silences', oneOff(T0 + HOUR, T0 + 2 * HOUR, { id: 'coldhead-swap' }))).status).toBe(409);
  });

  it('refuses bad silences with a 400 that names the field', async () => {
    now = T0;
    const bad = async (payload: unknown) => {
      const { status, body } = await call('POST', '/api/silences', payload);
      expect(status, JSON.stringify(body)).toBe(400);
      return body;
    };
    const missing = await bad({ scope: { deviceId: 'yt-mr-01' }, reason: '保养', window: { startsAt: '2026-12-01T02:00:00+08:00', endsAt: '2026-12-01T04:00:00+08:00' } });
    expect(missing.issues).toEqual([{ path: 'body.author', message: 'required: who sets the silence (name or account)' }]);
    expect(missing.message).toContain('body.author');

    const backwards = await bad(oneOff(T0 + 4 * HOUR, T0 + 2 * HOUR));
    expect(backwards.issues).toEqual([{ path: 'body.window.endsAt', message: 'endsAt must be after startsAt' }]);

    expect((await bad(oneOff(T0 - 4 * HOUR, T0 - 2 * HOUR))).issues?.[0]?.path).toBe('body.window.endsAt');
    expect((await bad({ ...oneOff(T0, T0 + HOUR), timezone: 'China/Beijing' })).issues?.[0]?.path).toBe('body.timezone');
    expect((await bad({ ...oneOff(T0, T0 + HOUR), scope: {} })).issues?.[0]).toEqual({ path: 'body.scope.siteId', message: 'give siteId, deviceId or both' });
    expect((await bad({ ...oneOff(T0, T0 + HOUR), starts_at: '2026-12-01T02:00:00+08:00' })).message).toContain('starts_at');
    expect((await bad({ ...oneOff(T0, T0 + HOUR), schedule: { times: [{ start: '02:00', end: '04:00' }] } })).issues?.[0]?.path).toBe('body.schedule');
    expect((await bad({ ...oneOff(T0, T0 + HOUR), window: undefined, schedule: { weekdays: ['周二'], times: [{ start: '02:00', end: '04:00' }] } })).issues?.[0]?.path).toBe(
      'body.schedule.weekdays.0',
    );
    expect((await bad({ ...oneOff(T0, T0 + HOUR), window: undefined, schedule: { times: [{ start: '2:00', end: '04:00' }] } })).issues?.[0]?.path).toBe('body.schedule.times.0.start');
    const past = await bad({ ...oneOff(T0, T0 + HOUR), window: undefined, schedule: { times: [{ start: '02:00', end: '04:00' }], validUntil: '2026-11-01' } });
    expect(past).toMatchObject({ error: 'bad_window', issues: [{ path: 'body.schedule', message: expect.stringContaining('no window from now on') }] });

    const unknownSite = await bad({ ...oneOff(T0, T0 + HOUR), scope: { siteId: 'nowhere' } });
    expect(unknownSite).toMatchObject({ error: 'unknown_site', issues: [{ path: 'body.scope.siteId', message: expect.stringContaining('site nowhere is not registered') }] });
    const unknownDevice = await bad({ ...oneOff(T0, T0 + HOUR), scope: { deviceId: 'ghost-01' } });
    expect(unknownDevice).toMatchObject({ error: 'unknown_device', issues: [{ path: 'body.scope.deviceId' }] });
    const mismatch = await bad({ ...oneOff(T0, T0 + HOUR), scope: { siteId: 'berlin', deviceId: 'yt-mr-01' } });
    expect(mismatch).toMatchObject({ error: 'scope_mismatch', message: expect.stringContaining('yt-mr-01 is at site yantai, not berlin') });
    const unknownRule = await bad({ ...oneOff(T0, T0 + HOUR), scope: { deviceId: 'yt-mr-01', ruleIds: ['helium-level-low', 'tube-heat-high'] } });
    expect(unknownRule).toMatchObject({ error: 'unknown_rule', issues: [{ path: 'body.scope.ruleIds.1', message: expect.stringContaining('tube-heat-high') }] });
    // A rule of the device's modality is fine.
    const ok = await call('POST', '/api/silences', { ...oneOff(T0, T0 + HOUR), scope: { deviceId: 'yt-mr-01', ruleIds: ['helium-level-low'] } });
    expect(ok.status).toBe(201);
    await call('DELETE', `/api/silences/${String(ok.body.id)}`);
  });

  it('changes a silence with PATCH, keeping what is not given', async () => {
    now = T0;
    const { body: created } = await call('POST', '/api/silences', oneOff(T0 + HOUR, T0 + 2 * HOUR, { id: 'patch-me' }));
    now = T0 + 10 * 60_000;
    const renamed = await call('PATCH', '/api/silences/patch-me', { reason: '更换冷头，延长', window: { startsAt: '2026-12-01T01:00:00+08:00', endsAt: '2026-12-01T06:00:00+08:00' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({
      reason: '更换冷头，延长',
      author: '张工',
      scope: created.scope,
      window: { startsAt: '2026-11-30T17:00:00.000Z', endsAt: '2026-11-30T22:00:00.000Z' },
      createdAt: created.createdAt,
      updatedAt: new Date(now).toISOString(),
    });
    // A schedule replaces the window.
    const recurring = await call('PATCH', '/api/silences/patch-me', { schedule: { weekdays: ['tue'], times: [{ start: '02:00', end: '04:00' }] }, timezone: 'Europe/Berlin' });
    expect(recurring.status).toBe(200);
    expect(recurring.body.window).toBeUndefined();
    expect(recurring.body).toMatchObject({ timezone: 'Europe/Berlin', schedule: { weekdays: ['tue'] }, nextWindow: { startsAt: '2026-12-01T01:00:00.000Z' } });

    const bad = await call('PATCH', '/api/silences/patch-me', { author: '' });
    expect(bad.status).toBe(400);
    expect(bad.body.issues?.[0]?.path).toBe('body.author');
    const moved = await call('PATCH', '/api/silences/patch-me', { scope: { deviceId: 'ghost-01' } });
    expect(moved).toMatchObject({ status: 400, body: { error: 'unknown_device' } });
    const both = await call('PATCH', '/api/silences/patch-me', { schedule: { times: [{ start: '02:00', end: '04:00' }] }, window: { startsAt: '2026-12-01T01:00:00+08:00', endsAt: '2026-12-01T06:00:00+08:00' } });
    expect(both.status).toBe(400);
    expect((await call('PATCH', '/api/silences/patch-me', {})).status).toBe(400);
    expect((await call('PATCH', '/api/silences/nope', { reason: 'x' })).status).toBe(404);

    expect((await call('DELETE', '/api/silences/patch-me')).status).toBe(204);
    const late = await call('PATCH', '/api/silences/patch-me', { reason: '再次' });
    expect(late.status).toBe(409);
    expect(late.body.message).toContain('create a new one');
  });

  it('expires with DELETE and keeps the silence as history', async () => {
    now = T0;
    await call('POST', '/api/silences', oneOff(T0, T0 + 4 * HOUR, { id: 'to-expire' }));
    const target = { siteId: 'yantai', deviceId: 'yt-mr-01', ruleId: 'helium-level-low' };
    expect(service.activeFor(target, T0 + HOUR)?.id).toBe('to-expire');
    now = T0 + HOUR;
    const deleted = await call('DELETE', '/api/silences/to-expire');
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
    const kept = await call('GET', '/api/silences/to-expire');
    expect(kept.body).toMatchObject({ status: 'expired', statusLabel: { zh: '已过期', en: 'expired' }, expiredAt: new Date(T0 + HOUR).toISOString() });
    expect(kept.body.nextWindow).toBeUndefined();
    expect(service.activeFor(target, T0 + 2 * HOUR)?.id).not.toBe('to-expire');
    // Before the expiry it was in force, for samples evaluated late.
    expect(service.activeFor(target, T0 + 30 * 60_000)?.id).toBe('to-expire');
    // Expiring again changes nothing.
    now = T0 + 2 * HOUR;
    expect((await call('DELETE', '/api/silences/to-expire')).status).toBe(204);
    expect((await call('GET', '/api/silences/to-expire')).body.expiredAt).toBe(new Date(T0 + HOUR).toISOString());
    expect((await call('DELETE', '/api/silences/nope')).status).toBe(404);
    expect((await call('GET', '/api/silences/nope')).body).toEqual({ error: 'not_found', message: 'no silence nope' });

    // Still there after a restart, expiry included.
    const reopened = await SilenceService.open(new SilenceRepository(sql.db), { now: () => now });
    expect(reopened.get('to-expire')).toEqual(service.get('to-expire'));
    expect(reopened.list().map((s) => s.id)).toEqual(service.list().map((s) => s.id));
  });

  it('lists by status, site and device, in force first', async () => {
    now = T0 + 90 * 60_000;
    await call('POST', '/api/silences', oneOff(T0 + HOUR, T0 + 3 * HOUR, { id: 'list-active', scope: { siteId: 'yantai' } }));
    await call('POST', '/api/silences', oneOff(T0 + 6 * HOUR, T0 + 7 * HOUR, { id: 'list-later' }));
    await call('POST', '/api/silences', oneOff(T0 + 4 * HOUR, T0 + 5 * HOUR, { id: 'list-soon', scope: { deviceId: 'yt-ct-01' } }));
    await call('POST', '/api/silences', { ...oneOff(T0 + 2 * HOUR, T0 + 3 * HOUR, { id: 'list-berlin' }), scope: { siteId: 'berlin' } });
    const ids = async (query: string, token = TOKEN) => (await call('GET', `/api/silences${query}`, undefined, token)).body.items.map((s) => s.id);

    const current = await ids('');
    expect(current.slice(0, 1)).toEqual(['list-active']);
    expect(current.indexOf('list-soon')).toBeLessThan(current.indexOf('list-later'));
    expect(current).not.toContain('to-expire');
    expect(await ids('?state=active')).toEqual(['list-active']);
    expect(await ids('?state=expired')).toContain('to-expire');
    expect((await ids('?state=all')).length).toBe((await call('GET', '/api/silences?state=all&limit=1000')).body.total);
    expect(await ids('?site=berlin')).toEqual(['list-berlin']);
    expect(await ids('?device=yt-ct-01')).toEqual(['list-active', 'list-soon']);
    // coldhead-swap (T0 + 2 h … 4 h) is a silence of yt-mr-01, at yantai.
    expect(await ids('?site=yantai')).toEqual(['list-active', 'coldhead-swap', 'list-soon', 'list-later']);
    expect((await call('GET', '/api/silences?state=sometimes')).status).toBe(400);
    const page = await call('GET', '/api/silences?limit=1&offset=1');
    expect(page.body.items).toHaveLength(1);
    expect(page.body.total).toBe(current.length);

    // A hospital's own staff see their site's silences only.
    expect(await ids('', hospitalToken)).not.toContain('list-berlin');
    expect((await call('GET', '/api/silences/list-berlin', undefined, hospitalToken)).status).toBe(404);
    expect((await call('GET', '/api/silences/list-active', undefined, hospitalToken)).status).toBe(200);
    expect((await call('DELETE', '/api/silences/list-active', undefined, hospitalToken)).status).toBe(403);
  });

  // The clock only moves forward from here on: expiries stay in the past.
  it('takes the time zone from the site when none is given', async () => {
    now = Date.parse('2026-12-02T00:00:00Z');
    const created = await call('POST', '/api/silences', {
      scope: { deviceId: 'de-mr-01' },
      author: 'M. Weber',
      reason: 'Wartung',
      schedule: { weekdays: ['saturday'], times: [{ start: '22:00', duration: '6h' }] },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ timezone: 'Europe/Berlin', nextWindow: { startsAt: '2026-12-05T21:00:00.000Z', endsAt: '2026-12-06T03:00:00.000Z' } });
    const explicit = await call('POST', '/api/silences', {
      scope: { deviceId: 'de-mr-01' },
      author: 'M. Weber',
      reason: 'Wartung',
      timezone: 'Asia/Shanghai',
      schedule: { weekdays: ['saturday'], times: [{ start: '22:00', duration: '6h' }] },
    });
    expect(explicit.body.timezone).toBe('Asia/Shanghai');
    for (const id of [created.body.id, explicit.body.id]) expect((await call('DELETE', `/api/silences/${String(id)}`)).status).toBe(204);
  });

  it('creates a weekly schedule (每周二 02:00–04:00 保养) and shows its next window', async () => {
    now = Date.parse('2026-12-02T10:00:00+08:00'); // Wednesday
    const created = await call('POST', '/api/silences', {
      scope: { siteId: 'yantai' },
      author: '李主管',
      reason: '每周二 02:00–04:00 保养',
      schedule: { weekdays: ['tuesday'], times: [{ start: '02:00', end: '04:00' }] },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.headers.location).toBe(`/api/silences/${id}`);
    expect(created.body).toMatchObject({
      timezone: 'Asia/Shanghai',
      schedule: { weekdays: ['tuesday'], times: [{ start: '02:00', end: '04:00' }] },
      status: 'pending',
      nextWindow: { startsAt: '2026-12-07T18:00:00.000Z', endsAt: '2026-12-07T20:00:00.000Z' },
    });
    now = Date.parse('2026-12-08T03:00:00+08:00');
    expect((await call('GET', `/api/silences/${id}`)).body).toMatchObject({
      status: 'active',
      nextWindow: { startsAt: '2026-12-07T18:00:00.000Z', endsAt: '2026-12-07T20:00:00.000Z' },
    });
    // A site silence covers every device of the site.
    expect(service.activeFor({ siteId: 'yantai', deviceId: 'yt-ct-01', ruleId: 'tube-heat-high' }, now)?.id).toBe(id);
    expect(service.activeFor({ siteId: 'berlin', deviceId: 'de-mr-01', ruleId: 'tube-heat-high' }, now)).toBeUndefined();
    await call('DELETE', `/api/silences/${id}`);
  });

  it('documents the routes in OpenAPI', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json() as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/api/silences'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/api/silences/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
  });
});

describe('silences in the running engine', () => {
  const dir = tempDir();

  afterAll(() => dir.remove());

  it('are served by the API, handed out as guardian.silences, and survive a restart', async () => {
    writeFileSync(
      join(dir.path, 'fleet.yaml'),
      'sites:\n  - { id: test-hospital, name: 测试医院 }\ndevices:\n  - { id: MR-T1, site: test-hospital, modality: MR, vendor: Siemens, model: Avanto }\n',
    );
    const config = testConfig(dir.path, { fleetFile: join(dir.path, 'fleet.yaml'), autoRegister: false, rules: { dir: PACKS } });
    const start = () => startGuardian({ config, explicit: new Set(['mqtt.port']), logger: silentLogger() });
    let guardian = await start();
    try {
      const now = Date.now();
      const response = await fetch(`${guardian.httpUrl}/api/silences`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ scope: { deviceId: 'MR-T1' }, author: '张工', reason: '液氦加注', window: { startsAt: new Date(now - HOUR).toISOString(), endsAt: new Date(now + DAY).toISOString() } }),
      });
      expect(response.status).toBe(201);
      const { id } = (await response.json()) as { id: string };
      expect(guardian.silences.activeFor({ siteId: 'test-hospital', deviceId: 'MR-T1', ruleId: 'helium-level-low' }, now)?.id).toBe(id);
      await guardian.stop();
      guardian = await start();
      expect(guardian.silences.activeFor({ siteId: 'test-hospital', deviceId: 'MR-T1', ruleId: 'helium-level-low' }, now)?.id).toBe(id);
      const listed = await fetch(`${guardian.httpUrl}/api/silences`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(((await listed.json()) as Body).items.map((s) => [s.id, s.status])).toEqual([[id, 'active']]);
    } finally {
      await guardian.stop();
    }
  });
});

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const postgres = needs('silence storage on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

/** The same repository checks on SQLite and, when one is given, PostgreSQL (in a schema of their own). */
describe.each([
  { title: 'silence storage on SQLite', skip: false, postgres: false },
  { title: postgres.title, skip: postgres.skip, postgres: true },
])('$title', ({ skip, postgres: onPostgres }) => {
  const dir = tempDir('guardian-silences-');
  const schema = `guardian_sil_${randomBytes(5).toString('hex')}`;
  let admin: pg.Pool | undefined;
  let sql: SqlDatabase;

  beforeAll(async () => {
    if (skip) return;
    let url: string | undefined;
    if (onPostgres) {
      admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
      await admin.query(`create schema ${schema}`);
      const u = new URL(PG_URL!);
      u.searchParams.set('options', `-c search_path=${schema}`);
      url = u.toString();
    }
    sql = await openSqlDatabase({ ...(url && { url }), sqliteFile: join(dir.path, 'guardian.db') });
    expect(await migrateToLatest(sql)).toContain('0003_silences');
  });

  afterAll(async () => {
    await sql?.close();
    if (admin) {
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    }
    dir.remove();
  });

  const make = (id: string, spec: Partial<SilenceSpecInput>, at: number) =>
    toSilence(SilenceSpecSchema.parse({ scope: { siteId: 'yantai' }, author: '张工', reason: '每周二 02:00–04:00 保养', ...spec }), { id, createdAt: at, updatedAt: at });

  it.skipIf(skip)('stores, reads back, updates and expires silences, keeping expired ones', async () => {
    const repo = new SilenceRepository(sql.db);
    // Times past 2^32 ms, as every stored time is.
    const t = Date.UTC(2031, 5, 1, 8, 30, 15, 123);
    const weekly = make('weekly', { scope: { siteId: 'yantai', deviceId: 'yt-mr-01', ruleIds: ['helium-level-low', 'cold-head-warm'] }, timezone: 'Europe/Berlin', schedule: { weekdays: ['tuesday'], daysOfMonth: ['1:7', -1], times: [{ start: '02:00', end: '04:00' }, { start: '22:00', duration: '6h' }], validUntil: '2032-01-01' } }, t);
    const once = make('once', { window: { startsAt: '2031-06-02T02:00:00+08:00', endsAt: '2031-06-02T04:00:00+08:00' } }, t + 1);
    await repo.create(weekly);
    await repo.create(once);
    await expect(repo.create(once)).rejects.toThrow();
    expect(await repo.get('weekly')).toEqual(weekly);
    expect(await repo.get('once')).toEqual(once);
    expect(await repo.get('none')).toBeUndefined();
    expect(await repo.list()).toEqual([weekly, once]);

    const changed = { ...weekly, reason: '改为每月第一个周二', updatedAt: t + 5, scope: { deviceId: 'yt-mr-01', ruleIds: [] } };
    expect(await repo.update(changed)).toBe(true);
    expect(await repo.get('weekly')).toEqual(changed);
    expect(await repo.update({ ...changed, id: 'none' })).toBe(false);

    expect(await repo.expire('once', t + 10)).toBe(true);
    expect(await repo.expire('once', t + 20)).toBe(false);
    expect(await repo.get('once')).toEqual({ ...once, expiredAt: t + 10, updatedAt: t + 10 });
    expect((await repo.list({ includeExpired: false })).map((s) => s.id)).toEqual(['weekly']);
    expect((await repo.list()).map((s) => s.id)).toEqual(['weekly', 'once']);

    const service = await SilenceService.open(repo, { now: () => t + 30 });
    expect(service.list().map((s) => [s.id, s.expiredAt])).toEqual([
      ['weekly', undefined],
      ['once', t + 10],
    ]);
  });
});
