import { afterAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { numberMonth, SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';
import { WorkOrderConflictError, type NewWorkOrder } from '../../src/workorders/types.js';
import { needs } from '../support/servers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const postgres = needs('work-order store on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

const T0 = Date.parse('2026-11-25T02:00:00Z');
const ZONE = 'Asia/Shanghai';

export const sampleWorkOrder = (overrides: Partial<NewWorkOrder> = {}): NewWorkOrder => ({
  kind: 'corrective',
  channel: 'auto',
  grade: 'severe',
  siteId: 'h1',
  deviceId: 'MR-1',
  device: { modality: 'MR', vendor: 'Siemens', model: 'Avanto', installDate: '2019-05-01', location: { department: '放射科', floor: '1', room: '105' } },
  faultType: 'cryogenics',
  title: '氦压缩机停机',
  phenomenon: '压缩机停机超过 15 分钟',
  alarmCodes: ['compressor-off'],
  ruleId: 'compressor-off',
  faultAt: T0 - 60_000,
  reportedAt: T0,
  reportedBy: 'system',
  ...overrides,
});

function describeStore(title: string, makeTarget: () => Target, skip = false): void {
  describe.skipIf(skip)(title, () => {
    const target = skip ? undefined : makeTarget();
    const databases: SqlDatabase[] = [];
    afterAll(async () => {
      for (const db of databases) await db.close();
      await target?.cleanup();
    });
    const open = async () => {
      const db = await openSqlDatabase(await target!.fresh());
      databases.push(db);
      await migrateToLatest(db);
      return new SqlWorkOrderStore(db.db);
    };
    const created = { ts: T0, actor: 'system', kind: 'created', to: 'new' as const };

    it('opens one work order per fault identity and numbers them per local month', async () => {
      const store = await open();
      const first = await store.openForIdentity({ ...sampleWorkOrder(), identity: 'MR-1/compressor-off' }, created, ZONE);
      expect(first.created).toBe(true);
      expect(first.workOrder).toMatchObject({ number: 'WO-202611-0001', status: 'new', grade: 'severe', identity: 'MR-1/compressor-off', version: 1 });
      expect(first.workOrder.device.location?.room).toBe('105');
      const again = await store.openForIdentity({ ...sampleWorkOrder(), identity: 'MR-1/compressor-off' }, created, ZONE);
      expect(again).toMatchObject({ created: false, workOrder: { id: first.workOrder.id } });
      const other = await store.openForIdentity({ ...sampleWorkOrder(), identity: 'MR-1/helium-low' }, created, ZONE);
      expect(other.workOrder.number).toBe('WO-202611-0002');
      // 1 December 00:30 in Shanghai is still 30 November in UTC: the local month counts.
      const december = await store.create(sampleWorkOrder({ reportedAt: Date.parse('2026-11-30T16:30:00Z') }), created, ZONE);
      expect(december.number).toBe('WO-202612-0001');
      expect(await store.get('wo-202612-0001')).toMatchObject({ id: december.id });
      expect(await store.get(String(december.id))).toMatchObject({ number: 'WO-202612-0001' });
      expect((await store.timeline(first.workOrder.id)).map((e) => e.kind)).toEqual(['created']);
    });

    it('a closed work order frees its identity; updates are refused on a stale version', async () => {
      const store = await open();
      const { workOrder } = await store.openForIdentity({ ...sampleWorkOrder(), identity: 'MR-1/x' }, created, ZONE);
      const closed = await store.update(workOrder.id, workOrder.version, { status: 'closed', closedAt: T0 + 1, satisfaction: 5 }, [{ ts: T0 + 1, actor: 'h1-viewer', kind: 'transition', from: 'new', to: 'closed' }]);
      expect(closed).toMatchObject({ status: 'closed', version: 2, satisfaction: 5 });
      await expect(store.update(workOrder.id, workOrder.version, { grade: 'minor' }, [])).rejects.toBeInstanceOf(WorkOrderConflictError);
      const next = await store.openForIdentity({ ...sampleWorkOrder(), identity: 'MR-1/x' }, created, ZONE);
      expect(next.created).toBe(true);
      expect(next.workOrder.id).not.toBe(workOrder.id);
      expect((await store.latestForIdentity('MR-1/x'))?.id).toBe(next.workOrder.id);
      // null clears a field.
      const cleared = await store.update(closed.id, closed.version, { satisfaction: null }, []);
      expect(cleared.satisfaction).toBeUndefined();
    });

    it('many openers at once on one identity open exactly one, with gap-free numbers', async () => {
      const store = await open();
      const results = await Promise.all(Array.from({ length: 12 }, () => store.openForIdentity({ ...sampleWorkOrder(), identity: 'MR-1/race' }, created, ZONE)));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.workOrder.id)).size).toBe(1);
      const next = await store.create(sampleWorkOrder(), created, ZONE);
      expect(next.number).toBe('WO-202611-0002');
    });

    it('records a breach once per clock and due time', async () => {
      const store = await open();
      const workOrder = await store.create(sampleWorkOrder(), created, ZONE);
      const breach = { workOrderId: workOrder.id, clock: 'respond', dueAt: T0 + 1_800_000, detectedAt: T0 + 1_900_000, grade: 'severe' as const, siteId: 'h1' };
      expect(await store.recordBreach(breach)).toBe(true);
      expect(await store.recordBreach({ ...breach, detectedAt: T0 + 2_000_000 })).toBe(false);
      expect(await store.breaches({ site: 'h1' })).toEqual([breach]);
    });
  });
}

describe('work-order numbers', () => {
  it('count in the local month of the site', () => {
    expect(numberMonth(Date.parse('2026-11-30T16:30:00Z'), 'Asia/Shanghai')).toBe('202612');
    expect(numberMonth(Date.parse('2026-11-30T16:30:00Z'), 'Europe/Berlin')).toBe('202611');
  });
});

describeStore('work-order store on SQLite', sqliteTarget);
describeStore(postgres.title, () => postgresTarget(PG_URL!), postgres.skip);
