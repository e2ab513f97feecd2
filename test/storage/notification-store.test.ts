/**
 * The notify feature's storage (`SqlNotificationStore`) with the work-order store that writes its
 * notices, on SQLite and on PostgreSQL: the contract suite on a new database per test, and what
 * only the SQL rows show (a notice names the timeline entry it came with).
 *
 * PostgreSQL: GUARDIAN_TEST_DATABASE_URL; without it those suites are skipped with the reason in
 * their name, or fail when GUARDIAN_TEST_REQUIRE_SERVERS is set.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import type { SqlDialectName } from '../../src/storage/sql/migrations.js';
import { SqlNotificationStore } from '../../src/storage/sql/notification-repository.js';
import { SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';
import { describeNotificationStoreContract, type NotificationSubject, type ProcessesSubject } from '../contract/notification-store.contract.js';
import { needs } from '../support/servers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const PG_MISSING = 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL';
const postgres = needs('SqlNotificationStore on PostgreSQL', PG_URL !== undefined, PG_MISSING);

const targets: Target[] = [];
afterAll(async () => {
  for (const target of targets) await target.cleanup();
});

/** A new, migrated database of `makeTarget`'s each call, with the connections opened on it. */
function databases(makeTarget: () => Target) {
  let target: Target | undefined;
  return async () => {
    if (!target) targets.push((target = makeTarget()));
    const where = await target.fresh();
    const opened: SqlDatabase[] = [];
    const connect = async () => {
      const database = await openSqlDatabase(where);
      opened.push(database);
      return database;
    };
    const main = await connect();
    await migrateToLatest(main);
    return {
      main,
      connect,
      close: async () => {
        for (const database of opened.splice(0)) await database.close();
      },
    };
  };
}

/** Another engine process's view of a PostgreSQL database: stores and acknowledgements on connections of their own. */
function processesOn(connect: () => Promise<SqlDatabase>): ProcessesSubject {
  let other: Promise<SqlDatabase> | undefined;
  const acknowledging = () => (other ??= connect());
  return {
    async store(consumer, options) {
      return new SqlNotificationStore((await connect()).db, 'postgres', { consumer, ...options });
    },
    async holdAcknowledgement(workOrderId) {
      const database = await connect();
      let release!: () => void;
      const commit = new Promise<void>((resolve) => (release = resolve));
      let updated!: () => void;
      const holding = new Promise<void>((resolve) => (updated = resolve));
      const done = database.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('work_orders')
          .set((eb) => ({ status: 'acknowledged', acknowledged_at: Date.now(), acknowledged_by: 'zhang-wei', version: eb('version', '+', 1) }))
          .where('id', '=', workOrderId)
          .execute();
        updated();
        await commit;
      });
      await Promise.race([holding, done]);
      return {
        commit: async () => {
          release();
          await done;
        },
      };
    },
    async acknowledgeAndCount(workOrderId, level) {
      const database = await acknowledging();
      return database.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('work_orders')
          .set((eb) => ({ status: 'acknowledged', acknowledged_at: Date.now(), acknowledged_by: 'zhang-wei', version: eb('version', '+', 1) }))
          .where('id', '=', workOrderId)
          .execute();
        const row = await trx
          .selectFrom('notify_deliveries')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('work_order_id', '=', workOrderId)
          .where('level', '=', level)
          .executeTakeFirstOrThrow();
        return Number(row.n);
      });
    },
  };
}

function subjectOn(dialect: SqlDialectName, makeTarget: () => Target): () => Promise<NotificationSubject> {
  const fresh = databases(makeTarget);
  return async () => {
    const { main, connect, close } = await fresh();
    return {
      workOrders: new SqlWorkOrderStore(main.db),
      store: (consumer, options) => new SqlNotificationStore(main.db, main.dialect, { consumer, ...options }),
      ...(dialect === 'postgres' && { processes: processesOn(connect) }),
      close,
    };
  };
}

const engines: Array<{ name: string; dialect: SqlDialectName; target: () => Target; skip?: string }> = [
  { name: 'SqlNotificationStore on SQLite', dialect: 'sqlite', target: sqliteTarget },
  { name: postgres.skip ? 'SqlNotificationStore on PostgreSQL' : `SqlNotificationStore on PostgreSQL (${new URL(PG_URL!).host})`, dialect: 'postgres', target: () => postgresTarget(PG_URL!), ...(postgres.skip && { skip: PG_MISSING }) },
];

for (const e of engines) {
  describeNotificationStoreContract(e.name, subjectOn(e.dialect, e.target), { ...(e.skip !== undefined && { skip: e.skip }), processes: e.dialect === 'postgres' });

  describe.skipIf(e.skip !== undefined)(`${e.name}: notice rows${e.skip !== undefined ? ` — skipped: ${e.skip}` : ''}`, () => {
    const fresh = databases(e.target);
    let close: (() => Promise<void>) | undefined;
    afterEach(async () => close?.());

    it('a notice names the timeline entry it was recorded with, and is available from its time', async () => {
      const database = await fresh();
      close = database.close;
      const db = database.main.db;
      const workOrders = new SqlWorkOrderStore(db);
      const T0 = Date.UTC(2031, 5, 1, 8, 30);
      const w = await workOrders.create(
        {
          kind: 'corrective',
          channel: 'auto',
          grade: 'general',
          siteId: 'h1',
          deviceId: 'MR-1',
          device: { modality: 'MR', vendor: 'Siemens', model: 'Avanto' },
          faultType: 'cryogenics',
          title: 'helium low',
          phenomenon: 'helium low',
          alarmCodes: [],
          faultAt: T0,
          reportedAt: T0,
          reportedBy: 'system',
        },
        { ts: T0, actor: 'system', kind: 'created', to: 'new', notice: 'opened' },
        'Asia/Shanghai',
      );
      await workOrders.addEvents(w.id, [
        { ts: T0 + 1, actor: 'system', kind: 'comment' },
        { ts: T0 + 2, actor: 'system', kind: 'alert_resolved', notice: 'recovered' },
        { ts: T0 + 3, actor: 'system', kind: 'comment' },
      ]);
      const rows = await db
        .selectFrom('notices as n')
        .innerJoin('work_order_events as e', 'e.id', 'n.event_id')
        .select(['n.kind', 'n.grade', 'n.created_at', 'n.available_at', 'n.attempts', 'n.done_at', 'e.kind as entry', 'e.ts', 'e.work_order_id'])
        .orderBy('n.id')
        .execute();
      expect(rows).toEqual([
        { kind: 'opened', grade: 'general', created_at: T0, available_at: T0, attempts: 0, done_at: null, entry: 'created', ts: T0, work_order_id: w.id },
        { kind: 'recovered', grade: 'general', created_at: T0 + 2, available_at: T0 + 2, attempts: 0, done_at: null, entry: 'alert_resolved', ts: T0 + 2, work_order_id: w.id },
      ]);
      // The entries keep their order on the timeline.
      expect((await workOrders.timeline(w.id)).map((x) => x.kind)).toEqual(['created', 'comment', 'alert_resolved', 'comment']);
    });
  });
}
