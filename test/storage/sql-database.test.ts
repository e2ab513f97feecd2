import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/kernel/errors.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { AlertRepository } from '../../src/storage/sql/alert-repository.js';
import type { StoredAlert } from '../../src/kernel/ports/alert-store.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { DeadLetterRepository } from '../../src/storage/sql/dead-letter-repository.js';
import type { DeadLetter } from '../../src/kernel/ports/dead-letter-store.js';
import { DeviceEventRepository } from '../../src/storage/sql/event-repository.js';
import { freePort, needs } from '../support/servers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
// In CI a missing server fails the run instead of skipping the PostgreSQL suite.
const PG_MISSING = 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL';
const postgresSuite = needs('SQL database on PostgreSQL', PG_URL !== undefined, PG_MISSING);
const postgresConnection = needs('PostgreSQL connection and migrations', PG_URL !== undefined, PG_MISSING);

// Epoch milliseconds past 2^32 and past what a 32-bit column holds, as every stored time is.
const T0 = Date.UTC(2031, 5, 1, 8, 30, 15, 123);
const MINUTE = 60_000;

function letter(i: number, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    receivedAt: T0 + i * MINUTE,
    reason: i % 2 ? 'invalid_json' : 'unknown_metric',
    detail: `letter ${i}`,
    topic: `guardian/site-a/dev-${i % 3}/telemetry`,
    site: 'site-a',
    deviceId: `dev-${i % 3}`,
    payload: `{"n": ${i}}`,
    payloadBytes: 10 + i,
    ...overrides,
  };
}

function alert(overrides: Partial<StoredAlert> = {}): StoredAlert {
  return {
    deviceId: 'mr-01',
    ruleId: 'helium-level-low',
    pack: 'mr-core',
    state: 'firing',
    grade: 'critical',
    lastValue: 61.37,
    record: JSON.stringify({ state: 'firing', activeAt: T0, firedAt: T0 + MINUTE }),
    condition: JSON.stringify({ grade: 'critical' }),
    messageZh: '液氦液位 61.4 % 低于 65 %',
    messageEn: 'helium level 61.4 % below 65 %',
    updatedAt: T0 + MINUTE,
    ...overrides,
  };
}

function describeSqlDatabase(title: string, makeTarget: () => Target, skip = false): void {
  describe.skipIf(skip)(title, () => {
    let target: Target | undefined;
    const opened: SqlDatabase[] = [];
    const targetOf = () => (target ??= makeTarget());

    async function open(where?: { url?: string; sqliteFile: string }): Promise<SqlDatabase> {
      const database = await openSqlDatabase(where ?? (await targetOf().fresh()));
      opened.push(database);
      return database;
    }

    async function migrated(): Promise<SqlDatabase> {
      const database = await open();
      await migrateToLatest(database);
      return database;
    }

    afterAll(async () => {
      for (const d of opened.splice(0)) await d.close();
      await target?.cleanup();
    });

    it('applies the migrations once; running them again changes nothing', async () => {
      const where = await targetOf().fresh();
      const first = await open(where);
      const applied = await migrateToLatest(first);
      expect(applied.slice(0, 2)).toEqual(['0001_registry_and_ingest', '0002_alerts']);
      expect(await migrateToLatest(first)).toEqual([]);
      // A second process (a restart) finds the schema current too.
      const second = await open(where);
      expect(await migrateToLatest(second)).toEqual([]);
      expect(await second.db.selectFrom('devices').selectAll().execute()).toEqual([]);
      expect(await second.db.selectFrom('alerts').selectAll().execute()).toEqual([]);
    });

    it('registers, updates and lists devices, and reads them back after a restart', async () => {
      const database = await migrated();
      let clock = T0;
      const registry = await DeviceRegistry.open(new SqlDeviceStore(database.db), () => clock);
      await registry.upsertSite({ id: 'yt-hospital', name: '烟台毓璜顶医院', nameEn: 'Yantai Yuhuangding Hospital', timezone: 'Asia/Shanghai' });
      await registry.create(
        { id: 'yt-mr-01', site: 'yt-hospital', modality: 'MR', vendor: 'Siemens', model: 'MAGNETOM Vida', serial: 'S-1', installDate: '2021-03-04', location: { department: '放射科', floor: '2F', room: 'MR-1' } },
        'api',
      );
      await registry.create({ id: 'yt-ct-01', site: 'yt-hospital', modality: 'CT', vendor: 'GE', model: 'Revolution' }, 'fleet');
      clock += MINUTE;
      await registry.update('yt-mr-01', { name: '1号磁共振', location: { department: '放射科', room: 'MR-2' } });
      await registry.recordStatus('yt-mr-01', 'scanning', T0 + 2 * MINUTE);
      await registry.flagUnknownMetrics('yt-mr-01', ['vendor_x_pct']);
      registry.touch('yt-mr-01', T0 + 3 * MINUTE);
      await registry.flush();
      await expect(registry.create({ id: 'yt-ct-02', site: 'elsewhere', modality: 'CT', vendor: 'GE', model: 'x' }, 'api')).rejects.toThrow(/not registered/);

      const reopened = await DeviceRegistry.open(new SqlDeviceStore(database.db));
      expect(reopened.listSites()).toEqual([{ id: 'yt-hospital', name: '烟台毓璜顶医院', nameEn: 'Yantai Yuhuangding Hospital', timezone: 'Asia/Shanghai' }]);
      expect(reopened.list().map((d) => d.id)).toEqual(['yt-ct-01', 'yt-mr-01']);
      expect(reopened.list({ modality: 'MR' }).map((d) => d.id)).toEqual(['yt-mr-01']);
      expect(reopened.get('yt-mr-01')).toEqual({
        id: 'yt-mr-01',
        site: 'yt-hospital',
        modality: 'MR',
        vendor: 'Siemens',
        model: 'MAGNETOM Vida',
        serial: 'S-1',
        installDate: '2021-03-04',
        name: '1号磁共振',
        location: { department: '放射科', floor: '2F', room: 'MR-2' },
        source: 'api',
        status: { state: 'scanning', ts: T0 + 2 * MINUTE },
        lastSeen: T0 + 3 * MINUTE,
        unknownMetrics: ['vendor_x_pct'],
      });
      const row = await database.db.selectFrom('devices').select(['created_at', 'updated_at']).where('id', '=', 'yt-mr-01').executeTakeFirstOrThrow();
      expect(row).toEqual({ created_at: T0, updated_at: T0 + MINUTE });
    });

    it('keeps dead letters, filters, pages and counts them, and prunes the oldest', async () => {
      const database = await migrated();
      const letters = new DeadLetterRepository(database.db);
      // More than one insert statement's worth.
      await letters.insert(Array.from({ length: 1203 }, (_, i) => letter(i)));
      await letters.insert([letter(5000, { reason: 'invalid_json', payload: 'a\u0000b', site: undefined, deviceId: undefined })]);

      const all = await letters.list({ limit: 2 });
      expect(all.total).toBe(1204);
      expect(all.items[0]).toEqual({
        id: expect.any(Number),
        receivedAt: T0 + 5000 * MINUTE,
        reason: 'invalid_json',
        detail: 'letter 5000',
        topic: 'guardian/site-a/dev-2/telemetry',
        payload: 'a\uFFFDb',
        payloadBytes: 5010,
      });
      expect(all.items[1]!.id).toBeLessThan(all.items[0]!.id);
      const page = await letters.list({ reason: 'unknown_metric', deviceId: 'dev-0', site: 'site-a', from: T0 + 10 * MINUTE, to: T0 + 40 * MINUTE, limit: 3, offset: 1 });
      // unknown_metric (even i) from dev-0 (i divisible by 3) in [10, 40) minutes: 12, 18, 24, 30, 36.
      expect(page.total).toBe(5);
      expect(page.items.map((l) => l.receivedAt)).toEqual([T0 + 30 * MINUTE, T0 + 24 * MINUTE, T0 + 18 * MINUTE]);
      expect(await letters.countByReason()).toEqual({ invalid_json: 602, unknown_metric: 602 });

      expect(await letters.prune(1000)).toBe(204);
      expect((await letters.list()).total).toBe(1000);
      expect(await letters.prune(1000)).toBe(0);
    });

    it('stores an event once per (device, ts, code), however often it is delivered', async () => {
      const database = await migrated();
      const events = new DeviceEventRepository(database.db);
      const arc = { deviceId: 'sp-ct-01', ts: T0, code: 'TUBE_ARC', message: 'arc during exam', data: { kv: 120, nested: { ok: true } } };
      await events.insert([arc, arc, { deviceId: 'sp-ct-01', ts: T0, code: 'TUBE_ARC_2' }], T0 + 1000);
      // A QoS 1 redelivery after a reconnect.
      await events.insert([arc, { deviceId: 'sp-ct-01', ts: T0 + MINUTE, code: 'TUBE_ARC', message: 'nul \u0000 inside' }], T0 + 2000);

      const stored = await events.list({ deviceId: 'sp-ct-01' });
      expect(stored.total).toBe(3);
      expect(stored.items.map((e) => [e.ts, e.code])).toEqual([
        [T0 + MINUTE, 'TUBE_ARC'],
        [T0, 'TUBE_ARC_2'],
        [T0, 'TUBE_ARC'],
      ]);
      expect(stored.items[2]).toEqual({ id: expect.any(Number), receivedAt: T0 + 1000, ...arc });
      expect(stored.items[0]!.message).toBe('nul \uFFFD inside');
      expect((await events.list({ code: 'TUBE_ARC', from: T0, to: T0 + MINUTE })).total).toBe(1);
    });

    it('saves alerts and reads them back with numbers as numbers', async () => {
      const database = await migrated();
      const alerts = new AlertRepository(database.db);
      await alerts.save([alert(), alert({ deviceId: 'sp-ct-01', ruleId: 'tube-arcs-rising', pack: 'ct-core', state: 'pending', grade: undefined, lastValue: undefined })]);
      // The same fault firing again updates its row.
      await alerts.save([alert({ state: 'resolved', lastValue: 72.5, updatedAt: T0 + 90 * MINUTE })]);

      const { grade: _grade, lastValue: _lastValue, ...pending } = alert({ deviceId: 'sp-ct-01', ruleId: 'tube-arcs-rising', pack: 'ct-core', state: 'pending' });
      const all = (await alerts.all()).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
      expect(all).toEqual([alert({ state: 'resolved', lastValue: 72.5, updatedAt: T0 + 90 * MINUTE }), pending]);
      const raw = await database.db.selectFrom('alerts').select(['updated_at', 'last_value']).where('device_id', '=', 'mr-01').executeTakeFirstOrThrow();
      expect(typeof raw.updated_at).toBe('number');
      expect(typeof raw.last_value).toBe('number');
    });

    it('saves hundreds of alerts in one call, the last of one (device, rule) winning', async () => {
      const database = await migrated();
      const alerts = new AlertRepository(database.db);
      const many = Array.from({ length: 450 }, (_, i) => alert({ deviceId: `ct-${String(i).padStart(3, '0')}`, lastValue: i }));
      await alerts.save([...many, alert({ deviceId: 'ct-007', state: 'resolved', lastValue: -1 })]);
      await alerts.save(many.slice(0, 3).map((a) => ({ ...a, state: 'resolved' })));

      const all = (await alerts.all()).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
      expect(all).toHaveLength(450);
      expect(all[7]).toEqual(alert({ deviceId: 'ct-007', state: 'resolved', lastValue: -1 }));
      expect(all.slice(0, 3).map((a) => a.state)).toEqual(['resolved', 'resolved', 'resolved']);
      expect(all[449]).toEqual(many[449]);
    });
  });
}

describeSqlDatabase('SQL database on SQLite', sqliteTarget);
describeSqlDatabase(postgresSuite.title, () => postgresTarget(PG_URL!), postgresSuite.skip);

describe.skipIf(postgresConnection.skip)(postgresConnection.title, () => {
  const target = postgresConnection.skip ? undefined : postgresTarget(PG_URL!);
  const opened: SqlDatabase[] = [];
  afterAll(async () => {
    for (const d of opened.splice(0)) await d.close();
    await target?.cleanup();
  });
  const open = async (url: string) => {
    const database = await openSqlDatabase({ url, sqliteFile: '' });
    opened.push(database);
    return database;
  };

  it('names the database without its password and reads BIGINT without touching pg’s global parsers', async () => {
    const url = new URL((await target!.fresh()).url!);
    url.password = 'not-shown-anywhere';
    const database = await open(url.toString());
    expect(database.dialect).toBe('postgres');
    expect(database.location).toMatch(/^postgres:\/\/[^:@/]+@[^/]+:\d+\/\w+$/);
    expect(database.location).not.toContain('not-shown-anywhere');
    const { rows } = await sql<{ n: unknown; big: unknown }>`select count(*) as n, ${String(2 ** 40)}::bigint as big from pg_class`.execute(database.db);
    expect(rows[0]).toEqual({ n: expect.any(Number), big: 2 ** 40 });
    // Other pg users in the same process still get pg's defaults.
    expect(pg.types.getTypeParser(20, 'text')('5')).toBe('5');
  });

  it('says in one line which PostgreSQL it cannot reach and why', async () => {
    const port = await freePort();
    const refused = openSqlDatabase({ url: `postgres://guardian:secret@127.0.0.1:${port}/guardian`, sqliteFile: '' });
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(new RegExp(`^cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/guardian: connect ECONNREFUSED`));
    await expect(refused).rejects.not.toThrow(/secret/);

    const missing = new URL(PG_URL!);
    missing.pathname = `/guardian_missing_${randomBytes(4).toString('hex')}`;
    await expect(openSqlDatabase({ url: missing.toString(), sqliteFile: '' })).rejects.toThrow(/^cannot reach PostgreSQL at .+: database "guardian_missing_\w+" does not exist$/);
  });

  it('lets two processes that start at once migrate the same database: one applies, the other waits and finds it done', async () => {
    const { url } = await target!.fresh();
    const [a, b] = await Promise.all([open(url!), open(url!)]);
    const [appliedA, appliedB] = await Promise.all([migrateToLatest(a), migrateToLatest(b)]);
    const applied = [appliedA, appliedB].sort((x, y) => y.length - x.length);
    expect(applied[0]!.slice(0, 2)).toEqual(['0001_registry_and_ingest', '0002_alerts']);
    expect(applied[1]).toEqual([]);
  });

  it('keeps installations in different schemas of one database apart', async () => {
    const first = await open((await target!.fresh()).url!);
    const second = await open((await target!.fresh()).url!);
    expect(await migrateToLatest(first)).toContain('0001_registry_and_ingest');
    // Kysely's bookkeeping tables now exist in the first schema; the second still needs its own.
    expect(await migrateToLatest(second)).toContain('0001_registry_and_ingest');
    expect(await second.db.selectFrom('dead_letters').selectAll().execute()).toEqual([]);
  });

  it('survives a connection cut while a transaction holds it: the transaction fails, the process does not', async () => {
    const name = `guardian-cut-${randomBytes(4).toString('hex')}`;
    const url = new URL((await target!.fresh()).url!);
    url.searchParams.set('application_name', name);
    const database = await open(url.toString());
    const admin = await open((await target!.fresh()).url!);
    const failed = database.db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      // The connection is checked out and idle between statements when the server drops it:
      // pg emits 'error' on the client alone, which would end the process without a listener.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${name}`.execute(admin.db);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sql`select 2`.execute(trx);
    });
    await expect(failed).rejects.toThrow();
    const { rows } = await sql<{ n: number }>`select 3 as n`.execute(database.db);
    expect(rows[0]?.n).toBe(3);
  });
});
