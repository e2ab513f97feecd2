import { afterAll } from 'vitest';
import { migrateToLatest, openSqlDatabase } from '../../src/storage/sql/database.js';
import { SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';
import { describeWorkOrderQueryContract, type OpenWorkOrderSubject } from '../contract/work-order-query.contract.js';
import { needs } from '../support/servers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const postgres = needs('open work orders by device (WorkOrderQuery.openOf) on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

const targets: Target[] = [];
afterAll(async () => {
  for (const target of targets) await target.cleanup();
});

/** The SQL work-order store on a fresh database of `makeTarget`'s each time. */
const subjectOn = (makeTarget: () => Target) => {
  let target: Target | undefined;
  return async (): Promise<OpenWorkOrderSubject> => {
    if (!target) targets.push((target = makeTarget()));
    const where = await target.fresh();
    const sql = await openSqlDatabase({ ...(where.url && { url: where.url }), sqliteFile: where.sqliteFile });
    await migrateToLatest(sql);
    const store = new SqlWorkOrderStore(sql.db);
    const event = (ts: number) => ({ ts, actor: 'tester', kind: 'created', to: 'new' as const });
    return {
      query: store,
      create: (input) => store.create(input, event(input.reportedAt), 'Asia/Shanghai'),
      update: (workOrder, patch) => store.update(workOrder.id, workOrder.version, patch, []),
      close: () => sql.close(),
    };
  };
};

describeWorkOrderQueryContract('open work orders by device (WorkOrderQuery.openOf) on SQLite', subjectOn(sqliteTarget));
describeWorkOrderQueryContract(postgres.title, subjectOn(() => postgresTarget(PG_URL!)), postgres.skip ? { skip: 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL' } : {});
