/**
 * The contract suites of the ports the SQL database implements (devices, dead letters, device
 * events, silences, the audit trail), each run against SQLite and PostgreSQL: one database per engine (a new
 * SQLite file, a new PostgreSQL schema) migrated to the latest version; every test opens its own
 * connection to it and starts from its port's tables emptied. The ports use tables of their own,
 * so the suites cannot disturb each other.
 *
 * PostgreSQL: GUARDIAN_TEST_DATABASE_URL (postgres://user@host:5432/db); without it those suites
 * are skipped with the reason in their name, or fail when GUARDIAN_TEST_REQUIRE_SERVERS is set.
 */
import { afterAll } from 'vitest';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { DeadLetterRepository } from '../../src/storage/sql/dead-letter-repository.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { DeviceEventRepository } from '../../src/storage/sql/event-repository.js';
import { SilenceRepository } from '../../src/storage/sql/silence-repository.js';
import { AuditRepository, type AuditLogTable } from '../../src/storage/sql/audit-repository.js';
import { describeAuditStoreContract } from '../contract/audit-store.js';
import { describeDeadLetterStoreContract } from '../contract/dead-letter-store.contract.js';
import { describeDeviceEventStoreContract } from '../contract/device-event-store.contract.js';
import { describeDeviceStoreContract } from '../contract/device-store.contract.js';
import { describeSilenceStoreContract } from '../contract/silence-store.contract.js';
import { needs } from '../support/servers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const PG_MISSING = 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL';
// In CI a missing server fails the run instead of skipping the PostgreSQL suites.
const postgres = needs('SQL ports on PostgreSQL', PG_URL !== undefined, PG_MISSING);

type Where = Awaited<ReturnType<Target['fresh']>>;
type Table = 'sites' | 'devices' | 'dead_letters' | 'device_events' | 'silences' | 'audit_log';

interface Engine {
  readonly name: string;
  readonly skip?: string;
  /** The engine's database, created and migrated on first use (a skipped engine opens nothing). */
  database(): Promise<Where>;
}

function engine(name: string, makeTarget: () => Target, skip?: string): Engine {
  let target: Target | undefined;
  let ready: Promise<Where> | undefined;
  afterAll(async () => {
    await target?.cleanup();
  });
  const database = () =>
    (ready ??= (async () => {
      target = makeTarget();
      const where = await target.fresh();
      const migrating = await openSqlDatabase(where);
      try {
        await migrateToLatest(migrating);
      } finally {
        await migrating.close();
      }
      return where;
    })());
  return { name, ...(skip !== undefined && { skip }), database };
}

const engines: Engine[] = [
  engine('SQLite', sqliteTarget),
  engine(postgres.skip ? 'PostgreSQL' : `PostgreSQL (${new URL(PG_URL!).host})`, () => postgresTarget(PG_URL!), postgres.skip ? PG_MISSING : undefined),
];

/**
 * Stores of one adapter on the engine's database. `open` is a new connection (closed with the
 * store) to the port's tables emptied first, so each test starts as on a new database; `connect`
 * is another connection to the same data, as a restarted process opens it.
 */
function stores<S>(e: Engine, tables: readonly Table[], adapter: (database: SqlDatabase) => S) {
  const handle = (database: SqlDatabase) => ({ store: adapter(database), close: () => database.close() });
  return {
    async connect(): Promise<{ store: S; close(): Promise<void> }> {
      return handle(await openSqlDatabase(await e.database()));
    },
    async open(): Promise<{ store: S; close(): Promise<void> }> {
      const database = await openSqlDatabase(await e.database());
      try {
        for (const table of tables) await database.db.withTables<{ audit_log: AuditLogTable }>().deleteFrom(table).execute();
      } catch (error) {
        await database.close();
        throw error;
      }
      return handle(database);
    },
  };
}

for (const e of engines) {
  const skip = e.skip !== undefined ? { skip: e.skip } : {};
  const devices = stores(e, ['devices', 'sites'], (d) => new SqlDeviceStore(d.db));
  describeDeviceStoreContract(`SqlDeviceStore on ${e.name}`, async () => ({ ...(await devices.open()), reopen: devices.connect }), skip);
  describeDeadLetterStoreContract(`DeadLetterRepository on ${e.name}`, stores(e, ['dead_letters'], (d) => new DeadLetterRepository(d.db)).open, skip);
  describeDeviceEventStoreContract(`DeviceEventRepository on ${e.name}`, stores(e, ['device_events'], (d) => new DeviceEventRepository(d.db)).open, skip);
  describeSilenceStoreContract(`SilenceRepository on ${e.name}`, stores(e, ['silences'], (d) => new SilenceRepository(d.db)).open, skip);
  describeAuditStoreContract(`AuditRepository on ${e.name}`, stores(e, ['audit_log'], (d) => new AuditRepository(d.db)).open, skip);
}
