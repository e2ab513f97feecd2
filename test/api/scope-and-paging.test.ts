import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { SilenceSpecSchema, toSilence, type SilenceSpecInput } from '../../src/silences/schedule.js';
import { openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { SilenceRepository } from '../../src/storage/sql/silence-repository.js';
import { SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';
import { publishAsDevice } from '../support/mqtt-identity.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';
import { needs } from '../support/servers.js';
import { postgresTarget, type Target } from '../support/sql-targets.js';

const ADMIN = 'test-admin-token-0123456789';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FLEET = `
sites:
  - { id: h1, name: 第一医院 }
  - { id: h2, name: 第二医院 }
devices:
  - { id: MR-1, site: h1, modality: MR, vendor: Siemens, model: Avanto }
  - { id: CT-2, site: h2, modality: CT, vendor: GE, model: Revolution }
`;

type Json = Record<string, unknown> & { items: Array<Record<string, unknown>>; total: number };

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const onPostgres = needs('API site scope and SQL paging on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

/**
 * The API's one site policy (a hospital sees its own site's data only, and another site's single
 * resource answers 404) and lists paged in the database: pages add up to the whole list and
 * `total` counts every match the caller may see.
 */
function describeScopeAndPaging(title: string, makeTarget: (() => Target) | undefined, skip = false): void {
  describe.skipIf(skip)(title, () => {
    const dir = tempDir();
    const target = skip ? undefined : makeTarget?.();
    let guardian: RunningGuardian;
    let db: SqlDatabase;
    const tokens: Record<string, string> = { admin: ADMIN };
    const call = async (who: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
      const response = await fetch(`${guardian.httpUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${tokens[who] ?? who}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: (text ? JSON.parse(text) : {}) as Json };
    };
    const ids = async (who: string, path: string) => (await call(who, 'GET', path)).body.items.map((i) => i.id ?? i.name);
    /** Every item, fetched page by page. */
    const allPages = async (who: string, path: string, size: number) => {
      const items: unknown[] = [];
      for (let offset = 0; ; offset += size) {
        const page = await call(who, 'GET', `${path}${path.includes('?') ? '&' : '?'}limit=${size}&offset=${offset}`);
        items.push(...page.body.items.map((i) => i.id ?? i.name));
        if (page.body.items.length < size) return { items, total: page.body.total };
      }
    };
    const report = (deviceId: string, title: string) => ({ deviceId, channel: 'hotline', grade: 'general', title, phenomenon: '扫描中断', reporter: { name: '王工' } });

    beforeAll(async () => {
      writeFileSync(join(dir.path, 'fleet.yaml'), FLEET);
      const where = await target?.fresh();
      guardian = await startGuardian({
        config: testConfig(dir.path, { fleetFile: join(dir.path, 'fleet.yaml'), autoRegister: false, ...(where?.url && { database: { url: where.url } }) }),
        explicit: new Set(['mqtt.port']),
        logger: silentLogger(),
      });
      // The engine's database, opened beside it to set up what the API cannot (past breaches and silences).
      db = await openSqlDatabase({ ...(where?.url && { url: where.url }), sqliteFile: join(dir.path, 'guardian.db') });
      for (const [name, role, siteId] of [
        ['supervisor-chen', 'supervisor'],
        ['h1-equipment', 'hospital', 'h1'],
      ] as const) {
        const created = await call('admin', 'POST', '/api/tokens', { name, role, ...(siteId && { siteId }) });
        expect(created.status).toBe(201);
        tokens[name] = created.body.token as string;
      }
    }, 60_000);

    afterAll(async () => {
      await db?.close();
      await guardian?.stop();
      await target?.cleanup();
      dir.remove();
    });

    it('work orders: pages add up to the list, totals count what the caller may see, another site’s work order is not found', async () => {
      const created: Record<string, number[]> = { h1: [], h2: [] };
      for (let i = 0; i < 5; i++) created.h1!.push((await call('supervisor-chen', 'POST', '/api/work-orders', report('MR-1', `MR ${i}`))).body.id as number);
      for (let i = 0; i < 2; i++) created.h2!.push((await call('supervisor-chen', 'POST', '/api/work-orders', report('CT-2', `CT ${i}`))).body.id as number);

      const everything = await call('supervisor-chen', 'GET', '/api/work-orders?limit=1000');
      expect(everything.body.total).toBe(7);
      // Newest report first.
      expect(everything.body.items.map((w) => w.id)).toEqual([...created.h1!, ...created.h2!].sort((a, b) => b - a));
      expect(await allPages('supervisor-chen', '/api/work-orders', 3)).toEqual({ items: everything.body.items.map((w) => w.id), total: 7 });
      expect((await call('supervisor-chen', 'GET', '/api/work-orders?site=h1&limit=2')).body.total).toBe(5);

      const own = await allPages('h1-equipment', '/api/work-orders', 2);
      expect(own).toEqual({ items: [...created.h1!].reverse(), total: 5 });
      expect((await call('h1-equipment', 'GET', '/api/work-orders?site=h2')).body).toEqual({ items: [], total: 0 });
      expect((await call('h1-equipment', 'GET', '/api/work-orders?site=h1&limit=1')).body.total).toBe(5);

      const theirs = created.h2![0]!;
      const notFound = { status: 404, body: { error: 'not_found', message: `no work order ${theirs}` } };
      expect(await call('h1-equipment', 'GET', `/api/work-orders/${theirs}`)).toEqual(notFound);
      expect(await call('h1-equipment', 'POST', `/api/work-orders/${theirs}/comments`, { note: '?' })).toEqual(notFound);
      expect(await call('h1-equipment', 'POST', `/api/work-orders/${theirs}/transitions`, { action: 'reopen' })).toEqual(notFound);
      expect(await call('h1-equipment', 'POST', '/api/work-orders', report('CT-2', 'x'))).toEqual({ status: 403, body: { error: 'forbidden', message: 'device CT-2 is not at your site' } });
      // Absent and hidden look alike.
      expect(await call('h1-equipment', 'GET', '/api/work-orders/999999')).toEqual({ status: 404, body: { error: 'not_found', message: 'no work order 999999' } });
    });

    it('escalations: paged in SQL with their work order’s number, limited to the caller’s site', async () => {
      const list = (await call('supervisor-chen', 'GET', '/api/work-orders?limit=1000')).body.items;
      const store = new SqlWorkOrderStore(db.db);
      const base = Date.now() - DAY;
      for (const [i, w] of list.entries()) {
        await store.recordBreach({ workOrderId: w.id as number, clock: 'respond', dueAt: base + i * 60_000, detectedAt: base + i * 60_000 + 1, grade: 'general', siteId: w.siteId as string });
      }
      const all = await call('supervisor-chen', 'GET', '/api/escalations?limit=1000');
      expect(all.body.total).toBe(7);
      expect(all.body.items.map((e) => e.workOrderId)).toEqual(list.map((w) => w.id));
      expect(all.body.items.map((e) => e.number)).toEqual(list.map((w) => w.number));
      const page = await call('supervisor-chen', 'GET', '/api/escalations?limit=2&offset=3');
      expect(page.body).toMatchObject({ total: 7, items: all.body.items.slice(3, 5) });
      const own = await call('h1-equipment', 'GET', '/api/escalations');
      expect(own.body.total).toBe(5);
      expect(own.body.items.every((e) => e.siteId === 'h1')).toBe(true);
      expect((await call('h1-equipment', 'GET', '/api/escalations?site=h2')).body).toEqual({ items: [], total: 0 });
    });

    it('silences: live ones by next window, then the history newest end first, paged in SQL; recurring ones that ran out count as history', async () => {
      const now = Date.now();
      const at = (ms: number) => new Date(ms).toISOString();
      const window = (from: number, to: number) => ({ startsAt: at(from), endsAt: at(to) });
      const post = async (body: Record<string, unknown>) => expect((await call('supervisor-chen', 'POST', '/api/silences', { author: '陈主管', reason: '保养', ...body })).status).toBe(201);
      await post({ id: 's-active', scope: { siteId: 'h1' }, window: window(now - HOUR, now + HOUR) });
      await post({ id: 's-pending', scope: { deviceId: 'MR-1' }, window: window(now + 2 * HOUR, now + 3 * HOUR) });
      await post({ id: 's-hand', scope: { deviceId: 'CT-2' }, window: window(now + HOUR, now + 5 * HOUR) });
      await post({ id: 's-weekly', scope: { siteId: 'h2' }, schedule: { weekdays: ['monday:sunday'], times: [{ start: '02:00', end: '04:00' }] } });
      expect((await call('supervisor-chen', 'DELETE', '/api/silences/s-hand')).status).toBe(204);
      // What the API refuses to create (already over), written as history would have left it.
      const past = (id: string, spec: SilenceSpecInput, changedAt: number) => toSilence(SilenceSpecSchema.parse(spec), { id, createdAt: changedAt, updatedAt: changedAt });
      const repository = new SilenceRepository(db.db);
      await repository.create(past('s-ended', { scope: { siteId: 'h1' }, author: '陈主管', reason: '停电', window: window(now - 5 * HOUR, now - 4 * HOUR) }, now - 6 * HOUR));
      const ranOutOn = new Date(now - 30 * DAY).toISOString().slice(0, 10);
      await repository.create(
        past('s-ranout', { scope: { deviceId: 'MR-1' }, author: '陈主管', reason: '旧计划', schedule: { weekdays: ['tuesday'], times: [{ start: '02:00', end: '04:00' }], validUntil: ranOutOn } }, now - 60 * DAY),
      );

      const live = await call('supervisor-chen', 'GET', '/api/silences');
      expect(live.body.total).toBe(3);
      expect(live.body.items[0]).toMatchObject({ id: 's-active', status: 'active' });
      const starts = live.body.items.slice(1).map((s) => (s.nextWindow as { startsAt: string }).startsAt);
      expect(starts).toEqual([...starts].sort());

      expect(await ids('supervisor-chen', '/api/silences?state=expired')).toEqual(['s-hand', 's-ended', 's-ranout']);
      expect((await call('supervisor-chen', 'GET', '/api/silences?state=expired&limit=1&offset=1')).body).toMatchObject({ total: 3, items: [{ id: 's-ended', status: 'expired' }] });
      const everything = await ids('supervisor-chen', '/api/silences?state=all&limit=1000');
      expect(everything).toEqual([...live.body.items.map((s) => s.id), 's-hand', 's-ended', 's-ranout']);
      // Pages across the live ones and the history add up.
      for (const size of [1, 2, 4]) expect(await allPages('supervisor-chen', '/api/silences?state=all', size)).toEqual({ items: everything, total: 6 });
      expect((await call('supervisor-chen', 'GET', '/api/silences/s-ranout')).body).toMatchObject({ status: 'expired' });

      expect(await ids('supervisor-chen', '/api/silences?device=CT-2&state=all')).toEqual(expect.arrayContaining(['s-weekly', 's-hand']));
      expect((await call('supervisor-chen', 'GET', '/api/silences?device=CT-2&state=all')).body.total).toBe(2);

      // A hospital sees its site's silences and its devices', nothing else, by list or by id.
      const own = await allPages('h1-equipment', '/api/silences?state=all', 2);
      expect(own).toEqual({ items: ['s-active', 's-pending', 's-ended', 's-ranout'], total: 4 });
      expect((await call('h1-equipment', 'GET', '/api/silences?site=h2&state=all')).body).toEqual({ items: [], total: 0 });
      expect(await call('h1-equipment', 'GET', '/api/silences/s-weekly')).toEqual({ status: 404, body: { error: 'not_found', message: 'no silence s-weekly' } });
      expect((await call('h1-equipment', 'GET', '/api/silences/s-pending')).status).toBe(200);
    });

    it('tokens and devices page too; a hospital lists its own site and its scanners, not tokens', async () => {
      const tokenPage = await call('admin', 'GET', '/api/tokens?limit=1&offset=1');
      expect(tokenPage.body).toMatchObject({ total: 2, items: [{ name: 'h1-equipment', role: 'hospital', siteId: 'h1' }] });
      const devices = await ids('admin', '/api/devices');
      expect(devices).toHaveLength(2);
      expect(await allPages('admin', '/api/devices', 1)).toEqual({ items: devices, total: 2 });
      expect(await ids('h1-equipment', '/api/devices')).toEqual(['MR-1']);
      expect(await ids('h1-equipment', '/api/sites')).toEqual(['h1']);
      expect((await call('h1-equipment', 'GET', '/api/tokens')).status).toBe(403);
    });

    it('domain errors answer with their status and code from the one mapping', async () => {
      expect(await call('admin', 'POST', '/api/tokens', { name: 'h1-equipment', role: 'engineer' })).toEqual({ status: 409, body: { error: 'name_taken', message: 'a token named h1-equipment exists already' } });
      expect((await call('admin', 'POST', '/api/devices', { id: 'MR-1', site: 'h1', modality: 'MR', vendor: 'Siemens', model: 'Avanto' })).body).toMatchObject({ error: 'conflict' });
      const typo = await call('admin', 'POST', '/api/devices', { id: 'MR-9', site: 'h9', modality: 'MR', vendor: 'Siemens', model: 'Avanto' });
      expect(typo).toEqual({ status: 422, body: { error: 'unknown_site', message: 'site h9 is not registered; create it first with POST /api/sites' } });
      const again = await call('supervisor-chen', 'POST', '/api/silences', { id: 's-active', scope: { siteId: 'h1' }, author: '陈主管', reason: '保养', window: { startsAt: new Date(Date.now() + HOUR).toISOString(), endsAt: new Date(Date.now() + 2 * HOUR).toISOString() } });
      expect(again.status).toBe(409);
      expect(again.body.error).toBe('conflict');
      const expired = await call('supervisor-chen', 'PATCH', '/api/silences/s-hand', { reason: 'x' });
      expect(expired).toMatchObject({ status: 409, body: { error: 'conflict' } });
      const created = await call('supervisor-chen', 'POST', '/api/work-orders', report('MR-1', 'y'));
      expect(await call('supervisor-chen', 'POST', `/api/work-orders/${created.body.id as number}/transitions`, { action: 'resolve', resolution: 'x' })).toEqual({
        status: 409,
        body: { error: 'transition_not_allowed', message: 'a work order that is new cannot be resolved; allowed: notify, acknowledge, cancel', status: 'new', allowedActions: ['notify', 'acknowledge', 'cancel'] },
      });
    });

    it('alerts: the engine’s alerts in memory, filtered by the same policy', async () => {
      const now = Date.now();
      const helium = Array.from({ length: 5 }, (_, i) => ({ ts: now - (5 - i) * 60_000, metrics: { helium_level_pct: 45 } }));
      const gantry = Array.from({ length: 11 }, (_, i) => ({ ts: now - (11 - i) * 60_000, metrics: { gantry_temp_c: 40 } }));
      // Each scanner publishes as itself: the broker lets a device publish under its own topics only.
      await publishAsDevice(guardian, 'MR-1', [['guardian/h1/MR-1/telemetry', JSON.stringify({ samples: helium })]]);
      await publishAsDevice(guardian, 'CT-2', [['guardian/h2/CT-2/telemetry', JSON.stringify({ samples: gantry })]]);
      const devices = await waitFor(
        async () => {
          const listed = await call('supervisor-chen', 'GET', '/api/alerts');
          const seen = new Set(listed.body.items.map((a) => a.deviceId));
          return seen.has('MR-1') && seen.has('CT-2') && seen;
        },
        { what: 'alerts at both sites' },
      );
      expect([...devices].sort()).toEqual(['CT-2', 'MR-1']);
      const own = await call('h1-equipment', 'GET', '/api/alerts');
      expect(own.body.total).toBeGreaterThan(0);
      expect(own.body.items.every((a) => a.site === 'h1')).toBe(true);
      expect((await call('h1-equipment', 'GET', '/api/alerts?site=h2')).body).toEqual({ items: [], total: 0 });
      expect((await call('h1-equipment', 'GET', '/api/alerts?device=CT-2')).body).toEqual({ items: [], total: 0 });
      const first = await call('supervisor-chen', 'GET', '/api/alerts?limit=1');
      const second = await call('supervisor-chen', 'GET', '/api/alerts?limit=1&offset=1');
      expect(second.body.total).toBe(first.body.total);
      expect(second.body.items[0]).not.toEqual(first.body.items[0]);
    });
  });
}

describeScopeAndPaging('API site scope and SQL paging on SQLite', undefined);
describeScopeAndPaging(onPostgres.title, PG_URL ? () => postgresTarget(PG_URL) : undefined, onPostgres.skip);
