/**
 * Behaviour every adapter behind the API's `WorkOrderQuery.openOf` must show
 * (`src/api/context.ts`): the open work orders (every status before resolved) of the devices
 * asked for, and only those, oldest first, in one call. Run against the SQL adapter on SQLite and
 * on PostgreSQL.
 *
 * `open` must hand out an empty database of its own and the store on it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registeredAsSkipped, once, type ContractOptions } from './support.js';
import type { WorkOrderQuery } from '../../src/api/context.js';
import type { NewWorkOrder, WorkOrder, WorkOrderPatch } from '../../src/workorders/types.js';

/** What the suite needs of the adapter: opening work orders and moving them, and the query under test. */
export interface OpenWorkOrderSubject {
  readonly query: Pick<WorkOrderQuery, 'openOf'>;
  create(input: NewWorkOrder): Promise<WorkOrder>;
  update(workOrder: WorkOrder, patch: WorkOrderPatch): Promise<WorkOrder>;
  close(): Promise<void>;
}

const T0 = Date.UTC(2031, 5, 1, 8, 30);

export const openWorkOrder = (deviceId: string, overrides: Partial<NewWorkOrder> = {}): NewWorkOrder => ({
  kind: 'corrective',
  channel: 'hotline',
  grade: 'general',
  siteId: deviceId.startsWith('B') ? 'site-b' : 'site-a',
  deviceId,
  device: { modality: 'MR', vendor: 'Siemens', model: 'Avanto' },
  faultType: 'other',
  title: 'fault',
  phenomenon: 'scan stopped',
  alarmCodes: [],
  faultAt: T0,
  reportedAt: T0,
  reportedBy: 'tester',
  ...overrides,
});

export function describeWorkOrderQueryContract(name: string, open: () => Promise<OpenWorkOrderSubject>, options: ContractOptions = {}): void {
  if (registeredAsSkipped(name, options)) return;
  describe(name, () => {
    let subject: OpenWorkOrderSubject;
    let close: () => Promise<void>;
    beforeEach(async () => {
      subject = await open();
      close = once(() => subject.close());
    });
    afterEach(async () => close());

    it('answers nothing for no devices, and for devices without work orders', async () => {
      expect(await subject.query.openOf([])).toEqual([]);
      await subject.create(openWorkOrder('A-1'));
      expect(await subject.query.openOf(['A-2', 'B-1'])).toEqual([]);
    });

    it('lists the open work orders of the devices asked for, oldest first, with number, status, grade and kind', async () => {
      const a1 = await subject.create(openWorkOrder('A-1', { grade: 'severe' }));
      const b1 = await subject.create(openWorkOrder('B-1', { kind: 'planned' }));
      const a2 = await subject.create(openWorkOrder('A-2'));
      const a1b = await subject.create(openWorkOrder('A-1', { grade: 'minor' }));
      const found = await subject.query.openOf(['A-1', 'B-1', 'A-1']);
      expect(found).toEqual([
        { id: a1.id, number: a1.number, deviceId: 'A-1', status: 'new', grade: 'severe', kind: 'corrective' },
        { id: b1.id, number: b1.number, deviceId: 'B-1', status: 'new', grade: 'general', kind: 'planned' },
        { id: a1b.id, number: a1b.number, deviceId: 'A-1', status: 'new', grade: 'minor', kind: 'corrective' },
      ]);
      expect(found.map((w) => w.id)).not.toContain(a2.id);
    });

    it('counts every status before resolved as open, and none after', async () => {
      const statuses = ['new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled'] as const;
      const made: Array<{ id: number; status: string }> = [];
      for (const status of statuses) {
        const workOrder = await subject.create(openWorkOrder('A-1'));
        const moved = status === 'new' ? workOrder : await subject.update(workOrder, { status });
        made.push({ id: moved.id, status: moved.status });
      }
      const open = await subject.query.openOf(['A-1']);
      expect(open.map((w) => w.status)).toEqual(statuses.slice(0, 6));
      expect(open.map((w) => w.id)).toEqual(made.slice(0, 6).map((m) => m.id));
    });
  });
}
