/**
 * Behaviour every adapter behind the notify feature's `NotificationStore` port must show
 * (`src/notify/store.ts`), together with the work-order store that writes the notices: a notice is
 * recorded with the work-order change that causes it and with nothing else; claims are exclusive
 * leases; planning is idempotent; an escalation step and an acknowledgement never both win; a
 * round ends only while its claim holds; the delivery log, rate-limit window, reach, listing,
 * overrides, links and purge. Run against the SQL adapter on SQLite and on PostgreSQL.
 *
 * `open` must hand out an empty database of its own with both stores on it. The capabilities a
 * database of several engine processes has (`processes`) are exercised only where it has them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registeredAsSkipped, once, type ContractOptions } from './support.js';
import type { DeliveryOutcome, NewDelivery, NotificationStore, StoredOverride } from '../../src/notify/store.js';
import { DuplicateEventError, WorkOrderConflictError, type NewEvent, type NewWorkOrder, type WorkOrder, type WorkOrderStore } from '../../src/workorders/types.js';

export interface StoreOptions {
  readonly leaseMs?: number;
  readonly now?: () => number;
}

/** What several engine processes on one database can do; absent where the database serves one process (SQLite). */
export interface ProcessesSubject {
  /** A store on a connection of its own, as another engine process on the same database opens it. */
  store(consumer: string, options?: StoreOptions): Promise<NotificationStore>;
  /**
   * Acknowledges the work order (status acknowledged, version + 1) in a transaction of a
   * connection of its own and keeps that transaction open until `commit` is called.
   */
  holdAcknowledgement(workOrderId: number): Promise<{ commit(): Promise<void> }>;
  /**
   * Acknowledges the work order in a transaction of a connection of its own and, in that
   * transaction after its update, counts the work order's deliveries at `level`: what an
   * acknowledgement that committed saw of an escalation step.
   */
  acknowledgeAndCount(workOrderId: number, level: number): Promise<number>;
}

export interface NotificationSubject {
  /** Work orders on the same database: notices come with their changes. */
  readonly workOrders: WorkOrderStore;
  /** A notification store on this database for `consumer`. */
  store(consumer: string, options?: StoreOptions): NotificationStore;
  readonly processes?: ProcessesSubject;
  close(): Promise<void>;
}

const T0 = Date.UTC(2031, 5, 1, 8, 30);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const ZONE = 'Asia/Shanghai';
const LEASE = 30_000;

const workOrderInput = (overrides: Partial<NewWorkOrder> = {}): NewWorkOrder => ({
  kind: 'corrective',
  channel: 'auto',
  grade: 'severe',
  siteId: 'h1',
  deviceId: 'MR-1',
  device: { modality: 'MR', vendor: 'Siemens', model: 'Avanto' },
  faultType: 'cryogenics',
  title: '氦压缩机停机',
  phenomenon: '压缩机停机超过 15 分钟',
  alarmCodes: [],
  faultAt: T0,
  reportedAt: T0,
  reportedBy: 'system',
  ...overrides,
});

const delivery = (deliveryId: string, overrides: Partial<NewDelivery> = {}): NewDelivery => ({
  deliveryId,
  event: 'opened',
  level: 0,
  person: 'zhang-wei',
  channel: 'ops-wecom',
  dueAt: T0,
  digest: false,
  responsible: true,
  ...overrides,
});

const sent = (at: number, counted = true): DeliveryOutcome => ({ status: 'sent', sentAt: at, attempt: { outcome: 'sent', at, status: 200, durationMs: 12 }, counted });

export interface NotificationContractOptions extends ContractOptions {
  /** The database serves several engine processes: the subject offers `processes`. */
  readonly processes?: boolean;
}

export function describeNotificationStoreContract(name: string, open: () => Promise<NotificationSubject>, options: NotificationContractOptions = {}): void {
  if (registeredAsSkipped(name, options)) return;
  describe(name, () => {
    let subject: NotificationSubject;
    let close: () => Promise<void>;
    let clock: number;
    const now = () => clock;
    /** A store of `consumer` on the test's clock. */
    const storeOf = (consumer: string) => subject.store(consumer, { now, leaseMs: LEASE });
    let a: NotificationStore;
    let b: NotificationStore;

    beforeEach(async () => {
      clock = T0;
      subject = await open();
      close = once(() => subject.close());
      a = storeOf('engine-a');
      b = storeOf('engine-b');
    });
    afterEach(async () => close());

    const created = (notice?: NewEvent['notice'], ts = clock): NewEvent => ({ ts, actor: 'system', kind: 'created', to: 'new', ...(notice && { notice }) });
    /** A work order opened with an `opened` notice. */
    const called = (overrides: Partial<NewWorkOrder> = {}) => subject.workOrders.create(workOrderInput(overrides), created('opened'), ZONE);
    /** Claims the notices as `store` and plans the one of `workOrder` (the others stay claimed). */
    async function plan(store: NotificationStore, workOrder: WorkOrder, deliveries: readonly NewDelivery[], steps: ReadonlyArray<{ level: number; dueAt: number }> = [], supersede = false) {
      const notice = (await store.claimNotices(100)).filter((n) => n.workOrderId === workOrder.id).at(-1);
      expect(notice, `a notice of work order ${workOrder.id}`).toBeDefined();
      expect(await store.planNotice(notice!.id, deliveries, steps, { supersede })).toBe(true);
      return notice!;
    }
    const acknowledge = (w: WorkOrder) => subject.workOrders.update(w.id, w.version, { status: 'acknowledged', acknowledgedAt: clock, acknowledgedBy: 'zhang-wei' }, [{ ts: clock, actor: 'zhang-wei', kind: 'transition', from: w.status, to: 'acknowledged' }]);
    const all = async (store: NotificationStore, filter = {}) => (await store.list(filter, { limit: 1000, offset: 0 })).items;

    describe('the notice outbox', () => {
      it('records a notice with the work-order change that causes it: its kind, the work order, the grade after the change and the time', async () => {
        const w = await called({ grade: 'severe' });
        const [opened, ...rest] = await a.claimNotices(10);
        expect(rest).toEqual([]);
        expect(opened).toEqual({ id: expect.any(Number), workOrderId: w.id, kind: 'opened', grade: 'severe', createdAt: T0, attempts: 1 });
        expect(await a.planNotice(opened!.id, [], [])).toBe(true);

        // An update that raises the grade: the notice carries the new grade; entries without a notice add none.
        clock = T0 + MINUTE;
        const raised = await subject.workOrders.update(w.id, w.version, { grade: 'emergency' }, [
          { ts: clock, actor: 'system', kind: 'alert_escalated', notice: 'escalated' },
          { ts: clock, actor: 'system', kind: 'comment', note: 'no notice' },
        ]);
        expect(raised.grade).toBe('emergency');
        const escalated = await a.claimNotices(10);
        expect(escalated).toEqual([{ id: expect.any(Number), workOrderId: w.id, kind: 'escalated', grade: 'emergency', createdAt: T0 + MINUTE, attempts: 1 }]);
        expect(escalated[0]!.id).toBeGreaterThan(opened!.id);
        await a.planNotice(escalated[0]!.id, [], []);

        // Entries added on their own: the notice takes the work order's grade as it stands.
        clock = T0 + 2 * MINUTE;
        await subject.workOrders.addEvents(w.id, [
          { ts: clock, actor: 'system', kind: 'comment' },
          { ts: clock, actor: 'system', kind: 'alert_resolved', notice: 'recovered' },
        ]);
        expect(await a.claimNotices(10)).toEqual([{ id: expect.any(Number), workOrderId: w.id, kind: 'recovered', grade: 'emergency', createdAt: T0 + 2 * MINUTE, attempts: 1 }]);

        // A work order opened without a notice, and entries without one, record none.
        const quiet = await subject.workOrders.create(workOrderInput({ deviceId: 'MR-2' }), created(), ZONE);
        await subject.workOrders.addEvents(quiet.id, [{ ts: clock, actor: 'x', kind: 'comment' }]);
        expect((await a.depth(clock)).notices).toBe(1);
        expect(await b.claimNotices(10)).toEqual([]);
      });

      it('records no notice when the change fails: a stale version, or an entry whose key is recorded already', async () => {
        const w = await subject.workOrders.create(workOrderInput(), created(), ZONE);
        await subject.workOrders.addEvents(w.id, [{ ts: clock, actor: 'system', kind: 'alert_refired', key: 'change-1/firing' }]);
        const moved = await subject.workOrders.update(w.id, w.version, { grade: 'general' }, []);

        await expect(subject.workOrders.update(w.id, w.version, { grade: 'emergency' }, [{ ts: clock, actor: 'system', kind: 'alert_escalated', notice: 'escalated' }])).rejects.toBeInstanceOf(
          WorkOrderConflictError,
        );
        // The notice's entry comes first; the duplicate key after it rolls the whole change back.
        await expect(
          subject.workOrders.update(w.id, moved.version, { grade: 'emergency' }, [
            { ts: clock, actor: 'system', kind: 'alert_escalated', notice: 'escalated' },
            { ts: clock, actor: 'system', kind: 'alert_refired', key: 'change-1/firing' },
          ]),
        ).rejects.toBeInstanceOf(DuplicateEventError);
        await expect(
          subject.workOrders.addEvents(w.id, [
            { ts: clock, actor: 'system', kind: 'alert_resolved', notice: 'recovered' },
            { ts: clock, actor: 'system', kind: 'alert_refired', key: 'change-1/firing' },
          ]),
        ).rejects.toBeInstanceOf(DuplicateEventError);

        expect(await a.claimNotices(10)).toEqual([]);
        expect((await a.depth(clock)).notices).toBe(0);
        expect(await subject.workOrders.get(w.id)).toMatchObject({ grade: 'general', version: moved.version });
        expect((await subject.workOrders.timeline(w.id)).map((e) => e.kind)).toEqual(['created', 'alert_refired']);

        // The same change without the duplicate goes through with its notice.
        await subject.workOrders.update(w.id, moved.version, { grade: 'emergency' }, [{ ts: clock, actor: 'system', kind: 'alert_escalated', notice: 'escalated' }]);
        expect(await a.claimNotices(10)).toMatchObject([{ workOrderId: w.id, kind: 'escalated', grade: 'emergency' }]);
      });

      it('hands a claimed notice to one consumer; a notice given back waits for its retry; a lease that runs out hands it to another', async () => {
        const works = [await called(), await called({ deviceId: 'MR-2' }), await called({ deviceId: 'MR-3' })];
        const mine = await a.claimNotices(2);
        expect(mine.map((n) => n.workOrderId)).toEqual([works[0]!.id, works[1]!.id]);
        const theirs = await b.claimNotices(10);
        expect(theirs.map((n) => n.workOrderId)).toEqual([works[2]!.id]);
        // A round that failed half way: the consumer gets its own claims back, not another's.
        expect((await a.claimNotices(10)).map((n) => [n.workOrderId, n.attempts])).toEqual([
          [works[0]!.id, 2],
          [works[1]!.id, 2],
        ]);
        expect(await b.planNotice(mine[0]!.id, [delivery('d-stolen')], [])).toBe(false);
        expect(await b.failNotice(mine[0]!.id, 'not mine', clock)).toBe(false);

        // Given back until a minute from now.
        expect(await a.failNotice(mine[1]!.id, 'roster unreadable', clock + MINUTE)).toBe(true);
        expect((await a.claimNotices(10)).map((n) => n.id)).toEqual([mine[0]!.id]);

        // The lease runs out: another consumer takes the notice, and the first can no longer finish it.
        clock += LEASE + 1;
        expect((await b.claimNotices(10)).map((n) => n.id)).toEqual([mine[0]!.id, theirs[0]!.id]);
        expect(await a.planNotice(mine[0]!.id, [delivery('d-late')], [])).toBe(false);
        expect(await b.planNotice(mine[0]!.id, [delivery('d-1')], [])).toBe(true);
        clock = T0 + MINUTE;
        const retried = await a.claimNotices(10);
        expect(retried.map((n) => [n.id, n.attempts])).toEqual([[mine[1]!.id, 3]]);
        expect((await all(a)).map((d) => d.deliveryId)).toEqual(['d-1']);
        expect((await a.depth(clock)).notices).toBe(2);
      });

      it('plans a notice once: its deliveries and steps in one go; a delivery id recorded already adds nothing', async () => {
        const w = await called();
        const notice = (await a.claimNotices(10))[0]!;
        const deliveries = [delivery('n1/zhang-wei/ops-wecom', { workOrderId: w.id, noticeId: notice.id }), delivery('n1/zhang-wei/mail', { workOrderId: w.id, noticeId: notice.id, channel: 'mail' })];
        expect(await a.planNotice(notice.id, deliveries, [{ level: 1, dueAt: T0 + 5 * MINUTE }, { level: 2, dueAt: T0 + 15 * MINUTE }])).toBe(true);
        // Done: planning it again (a retry whose first reply was lost) writes nothing.
        expect(await a.planNotice(notice.id, [...deliveries, delivery('n1/li-na/ops-wecom', { workOrderId: w.id })], [{ level: 3, dueAt: T0 }])).toBe(false);
        expect((await all(a)).map((d) => d.deliveryId).sort()).toEqual(['n1/zhang-wei/mail', 'n1/zhang-wei/ops-wecom']);
        const planned = (await all(a, { channel: 'mail' }))[0]!;
        expect(planned).toMatchObject({ workOrderId: w.id, noticeId: notice.id, event: 'opened', level: 0, person: 'zhang-wei', status: 'pending', attempts: 0, createdAt: T0, updatedAt: T0, digest: false, responsible: true });
        expect(planned.sentAt).toBeUndefined();

        // The same delivery ids planned from another notice (or added for a next channel) are skipped.
        clock += MINUTE;
        await subject.workOrders.addEvents(w.id, [{ ts: clock, actor: 'system', kind: 'alert_refired', notice: 'reopened' }]);
        const again = (await a.claimNotices(10))[0]!;
        expect(await a.planNotice(again.id, [deliveries[0]!, delivery('n2/li-na/sms', { workOrderId: w.id, person: 'li-na', channel: 'sms', digest: true, responsible: false })], [])).toBe(true);
        expect(await a.addDeliveries([deliveries[1]!, delivery('n2/zhang-wei/sms', { workOrderId: w.id, channel: 'sms' })])).toBe(1);
        expect(await a.addDeliveries([])).toBe(0);
        const ids = (await all(a)).map((d) => d.deliveryId);
        expect(ids.sort()).toEqual(['n1/zhang-wei/mail', 'n1/zhang-wei/ops-wecom', 'n2/li-na/sms', 'n2/zhang-wei/sms']);
        expect((await all(a, { person: 'li-na' }))[0]).toMatchObject({ digest: true, responsible: false, channel: 'sms' });

        // Steps wait for their time.
        expect(await a.claimSteps(T0 + 5 * MINUTE - 1, 10)).toEqual([]);
        expect(await a.claimSteps(T0 + 5 * MINUTE, 10)).toEqual([{ id: expect.any(Number), workOrderId: w.id, noticeId: notice.id, level: 1, dueAt: T0 + 5 * MINUTE, status: 'pending' }]);
        expect((await a.claimSteps(T0 + 15 * MINUTE, 10)).map((s) => s.level)).toEqual([1, 2]);
      });

      it('a new call with supersede cancels the pending steps of the earlier notices of its work order, and only those', async () => {
        const w = await called();
        const other = await called({ deviceId: 'MR-2' });
        await plan(a, w, [], [{ level: 1, dueAt: T0 + 5 * MINUTE }]);
        await plan(a, other, [], [{ level: 1, dueAt: T0 + 5 * MINUTE }]);
        await subject.workOrders.addEvents(w.id, [{ ts: clock, actor: 'system', kind: 'alert_escalated', notice: 'escalated' }]);
        const escalated = await plan(a, w, [], [{ level: 1, dueAt: T0 + 2 * MINUTE }], true);
        const due = await b.claimSteps(T0 + 10 * MINUTE, 10);
        expect(due).toHaveLength(2);
        expect(due.find((s) => s.workOrderId === w.id)).toMatchObject({ noticeId: escalated.id, level: 1, dueAt: T0 + 2 * MINUTE });
        expect(due.find((s) => s.workOrderId === other.id)).toMatchObject({ level: 1, dueAt: T0 + 5 * MINUTE });
        expect((await a.depth(clock)).steps).toBe(2);
      });
    });

    describe('escalation steps and acknowledgements', () => {
      /** A work order with its first call planned and a level-1 step due at T0 + 5 min, claimed by `a`. */
      async function dueStep(overrides: Partial<NewWorkOrder> = {}) {
        const w = await called(overrides);
        const notice = await plan(a, w, [delivery(`w${w.id}/l0`, { workOrderId: w.id })], [{ level: 1, dueAt: T0 + 5 * MINUTE }]);
        clock = T0 + 5 * MINUTE;
        const step = (await a.claimSteps(clock, 100)).find((s) => s.workOrderId === w.id)!;
        expect(step).toMatchObject({ level: 1, noticeId: notice.id });
        return { w, notice, step, calls: [delivery(`w${w.id}/l1/li-na`, { workOrderId: w.id, noticeId: notice.id, level: 1, person: 'li-na', dueAt: clock })] };
      }
      const atLevel = async (workOrderId: number, level: number) => (await all(a, { workOrderId })).filter((d) => d.level === level);

      it('acknowledged before the step runs: the step is cancelled and calls nobody', async () => {
        const { w, step, calls } = await dueStep();
        expect(await a.unacknowledged(w.id)).toBe(true);
        await acknowledge(w);
        expect(await a.unacknowledged(w.id)).toBe(false);
        expect(await a.expandStep(step.id, calls, { level: 2, dueAt: clock + 10 * MINUTE })).toBe('cancelled');
        expect(await atLevel(w.id, 1)).toEqual([]);
        expect(await a.claimSteps(clock + HOUR, 10)).toEqual([]);
        expect((await a.depth(clock)).steps).toBe(0);
      });

      it('the step runs first: it calls the next level and adds its repeat; the acknowledgement after it goes through and cancels the repeat', async () => {
        const { w, step, calls } = await dueStep();
        expect(await a.expandStep(step.id, calls, { level: 2, dueAt: clock + 10 * MINUTE })).toBe('expanded');
        expect((await atLevel(w.id, 1)).map((d) => [d.person, d.status])).toEqual([['li-na', 'pending']]);
        // Done: running it again (a retry whose reply was lost) is refused and adds nothing.
        expect(await a.expandStep(step.id, calls, { level: 2, dueAt: clock + 10 * MINUTE })).toBe('lost');
        const acknowledged = await acknowledge(w);
        expect(acknowledged.status).toBe('acknowledged');
        const repeat = await a.claimSteps(clock + 10 * MINUTE, 10);
        expect(repeat.map((s) => [s.workOrderId, s.level])).toEqual([[w.id, 2]]);
        expect(await a.expandStep(repeat[0]!.id, [delivery(`w${w.id}/l2`, { workOrderId: w.id, level: 2 })])).toBe('cancelled');
        expect(await atLevel(w.id, 2)).toEqual([]);
      });

      it('a work order that is notified but not acknowledged is still called; a resolved one is not', async () => {
        const first = await dueStep();
        await subject.workOrders.update(first.w.id, first.w.version, { status: 'notified', notifiedAt: clock }, []);
        expect(await a.unacknowledged(first.w.id)).toBe(true);
        expect(await a.expandStep(first.step.id, first.calls)).toBe('expanded');
        clock = T0;
        const second = await dueStep({ deviceId: 'MR-2' });
        await subject.workOrders.update(second.w.id, second.w.version, { status: 'resolved', resolvedAt: clock }, []);
        expect(await a.unacknowledged(second.w.id)).toBe(false);
        expect(await a.expandStep(second.step.id, second.calls)).toBe('cancelled');
        expect(await a.unacknowledged(999_999)).toBe(false);
      });

      it('a step whose claim ran out is lost to its first consumer: nothing written; a deferred step waits for its new time', async () => {
        const { w, step, calls } = await dueStep();
        expect(await b.claimSteps(clock, 10)).toEqual([]);
        expect(await b.expandStep(step.id, calls)).toBe('lost');
        clock += LEASE + 1;
        expect((await b.claimSteps(clock, 10)).map((s) => s.id)).toEqual([step.id]);
        expect(await a.expandStep(step.id, calls, { level: 2, dueAt: clock })).toBe('lost');
        expect(await a.deferStep(step.id, clock + HOUR)).toBe(false);
        expect(await atLevel(w.id, 1)).toEqual([]);
        // Held by a silence: deferred to its end, then due again.
        expect(await b.deferStep(step.id, clock + HOUR)).toBe(true);
        expect(await b.claimSteps(clock + HOUR - 1, 10)).toEqual([]);
        expect((await a.claimSteps(clock + HOUR, 10)).map((s) => [s.id, s.dueAt])).toEqual([[step.id, clock + HOUR]]);
        expect(await a.expandStep(step.id, calls)).toBe('expanded');
        expect((await atLevel(w.id, 1)).length).toBe(1);
      });
    });

    describe('deliveries', () => {
      async function planned(deliveries: readonly NewDelivery[]) {
        const w = await called();
        await plan(a, w, deliveries.map((d) => ({ ...d, workOrderId: w.id })));
        return w;
      }

      it('claims due deliveries, oldest due first, for one consumer at a time; a lease that runs out hands them to another', async () => {
        await planned([delivery('late', { dueAt: T0 + MINUTE }), delivery('first', { dueAt: T0 - MINUTE }), delivery('second', { dueAt: T0 }), delivery('third', { dueAt: T0 })]);
        const mine = await a.claimDeliveries(clock, 2);
        expect(mine.map((d) => d.deliveryId)).toEqual(['first', 'second']);
        expect(mine[0]).toMatchObject({ status: 'pending', claimedUntil: clock + LEASE });
        expect((await b.claimDeliveries(clock, 10)).map((d) => d.deliveryId)).toEqual(['third']);
        expect(await b.claimDeliveries(clock, 10)).toHaveLength(1);
        expect(await b.settle(mine[0]!.id, sent(clock))).toBe(false);

        clock += LEASE + 1;
        const taken = await b.claimDeliveries(clock, 10);
        expect(taken.map((d) => d.deliveryId)).toEqual(['first', 'second', 'third']);
        // The first consumer's round is over: its late settle writes nothing.
        expect(await a.settle(mine[0]!.id, sent(clock))).toBe(false);
        expect(await a.get(mine[0]!.id)).toMatchObject({ status: 'pending', attempts: 0 });
        expect(await a.attempts([mine[0]!.id])).toEqual([]);
        expect(await b.settle(mine[0]!.id, sent(clock))).toBe(true);
        expect(await a.get(mine[0]!.id)).toMatchObject({ status: 'sent', sentAt: clock, attempts: 1 });
        expect((await a.get(mine[0]!.id))?.claimedUntil).toBeUndefined();
      });

      it('settles a round: a retry later with the error, a hold that does not count, then sent; each attempt in the log by its consumer', async () => {
        await planned([delivery('d1')]);
        const [d] = await a.claimDeliveries(clock, 10);
        expect(
          await a.settle(d!.id, { status: 'pending', dueAt: clock + 2_000, lastError: 'HTTP 503', attempt: { outcome: 'retry', at: clock, status: 503, error: 'HTTP 503', durationMs: 40 }, counted: true }),
        ).toBe(true);
        expect(await a.get(d!.id)).toMatchObject({ status: 'pending', dueAt: clock + 2_000, attempts: 1, lastError: 'HTTP 503', updatedAt: clock });
        expect(await a.depth(clock)).toMatchObject({ pending: 1, retrying: 1 });
        // Not due before its retry time; the settle cleared the claim, so another consumer may take it then.
        expect(await b.claimDeliveries(clock + 1_999, 10)).toEqual([]);
        clock += 2_000;
        const [again] = await b.claimDeliveries(clock, 10);
        expect(again?.id).toBe(d!.id);
        expect(await b.settle(d!.id, { status: 'pending', dueAt: clock + HOUR, attempt: { outcome: 'held', at: clock }, counted: false })).toBe(true);
        expect(await a.get(d!.id)).toMatchObject({ attempts: 1, dueAt: clock + HOUR });
        clock += HOUR;
        await a.claimDeliveries(clock, 10);
        expect(await a.settle(d!.id, sent(clock))).toBe(true);
        expect(await a.get(d!.id)).toMatchObject({ status: 'sent', sentAt: clock, attempts: 2 });
        // Finished: not claimed again, and not settled again.
        expect(await a.claimDeliveries(clock + HOUR, 10)).toEqual([]);
        expect(await a.settle(d!.id, sent(clock))).toBe(false);
        const log = await b.attempts([d!.id]);
        expect(log).toEqual([
          { id: expect.any(Number), delivery: d!.id, at: T0, outcome: 'retry', status: 503, error: 'HTTP 503', durationMs: 40, by: 'engine-a' },
          { id: expect.any(Number), delivery: d!.id, at: T0 + 2_000, outcome: 'held', by: 'engine-b' },
          { id: expect.any(Number), delivery: d!.id, at: T0 + 2_000 + HOUR, outcome: 'sent', status: 200, durationMs: 12, by: 'engine-a' },
        ]);
        expect(await a.depth(clock)).toMatchObject({ pending: 0, retrying: 0 });
      });

      it('counts the messages a channel sent since a time, by every consumer; a digest is one message, the rows it folded are none', async () => {
        await planned([
          delivery('w1', { channel: 'ops-wecom' }),
          delivery('w2', { channel: 'ops-wecom', person: 'li-na' }),
          delivery('w3', { channel: 'ops-wecom', person: 'wang-fang' }),
          delivery('f1', { channel: 'ops-wecom', person: 'zhao-lei' }),
          delivery('f2', { channel: 'ops-wecom', person: 'chen-jing' }),
          delivery('m1', { channel: 'mail' }),
          delivery('r1', { channel: 'ops-wecom', person: 'sun-li' }),
        ]);
        const byId = new Map((await all(a)).map((d) => [d.deliveryId, d.id]));
        expect(await a.claimDeliveries(clock, 3)).toHaveLength(3);
        expect(await a.settle(byId.get('w1')!, sent(T0 + 1_000))).toBe(true);
        expect(await a.settle(byId.get('w2')!, sent(T0 + 2_000))).toBe(true);
        expect(await a.settle(byId.get('w3')!, sent(T0 + 3_000))).toBe(true);
        await b.claimDeliveries(clock, 10);
        // Over the limit: two folded into a digest, which goes out as one message.
        const digest = delivery('digest-1', { channel: 'ops-wecom', person: 'zhao-lei', event: 'digest', digest: true });
        expect(await b.addDeliveries([digest])).toBe(1);
        for (const id of ['f1', 'f2'])
          expect(await b.settle(byId.get(id)!, { status: 'folded', foldedInto: 'digest-1', sentAt: T0 + 4_000, attempt: { outcome: 'folded', at: T0 + 4_000 }, counted: false })).toBe(true);
        const digestRow = (await b.claimDeliveries(clock, 10)).find((d) => d.deliveryId === 'digest-1');
        expect(digestRow).toMatchObject({ event: 'digest', digest: true, person: 'zhao-lei' });
        expect(await b.settle(digestRow!.id, sent(T0 + 4_000))).toBe(true);
        expect(await b.settle(byId.get('m1')!, sent(T0 + 4_000))).toBe(true);
        expect(await b.settle(byId.get('r1')!, { status: 'pending', dueAt: clock, attempt: { outcome: 'retry', at: T0 + 4_000, status: 500 }, counted: true })).toBe(true);

        expect(await a.sentSince('ops-wecom', T0)).toBe(4);
        expect(await b.sentSince('ops-wecom', T0 + 2_000)).toBe(3);
        expect(await a.sentSince('ops-wecom', T0 + 4_001)).toBe(0);
        expect(await a.sentSince('mail', T0)).toBe(1);
        expect(await a.sentSince('sms', T0)).toBe(0);
        expect(await a.get(byId.get('f1')!)).toMatchObject({ status: 'folded', foldedInto: 'digest-1', attempts: 0 });
      });

      it('tells whom a work order reached: each person and channel once, sent or folded, not failed, cancelled or pending', async () => {
        const w = await planned([
          delivery('z-wecom', { person: 'zhang-wei', channel: 'ops-wecom' }),
          delivery('z-wecom-again', { person: 'zhang-wei', channel: 'ops-wecom', level: 1 }),
          delivery('z-mail', { person: 'zhang-wei', channel: 'mail' }),
          delivery('l-wecom', { person: 'li-na', channel: 'ops-wecom' }),
          delivery('w-sms', { person: 'wang-fang', channel: 'sms' }),
          delivery('c-sms', { person: 'chen-jing', channel: 'sms' }),
        ]);
        const other = await planned([delivery('other', { person: 'sun-li' })]);
        const byId = new Map((await all(a)).map((d) => [d.deliveryId, d.id]));
        await a.claimDeliveries(clock, 100);
        await a.settle(byId.get('z-wecom')!, sent(clock));
        await a.settle(byId.get('z-wecom-again')!, sent(clock));
        await a.settle(byId.get('z-mail')!, { status: 'failed', lastError: '550 mailbox unavailable', attempt: { outcome: 'failed', at: clock, status: 550 }, counted: true });
        await a.settle(byId.get('l-wecom')!, { status: 'folded', foldedInto: 'digest-9', attempt: { outcome: 'folded', at: clock }, counted: false });
        await a.settle(byId.get('c-sms')!, { status: 'cancelled', attempt: { outcome: 'cancelled', at: clock }, counted: false });
        await a.settle(byId.get('other')!, sent(clock));
        expect(await a.reached(w.id)).toEqual([
          { person: 'li-na', channel: 'ops-wecom' },
          { person: 'zhang-wei', channel: 'ops-wecom' },
        ]);
        expect(await a.reached(other.id)).toEqual([{ person: 'sun-li', channel: 'ops-wecom' }]);
        expect(await a.reached(999_999)).toEqual([]);
      });

      it('lists deliveries newest first with a filter and a page, and the total of all that match', async () => {
        const w1 = await planned([delivery('a1'), delivery('a2', { channel: 'mail' })]);
        clock = T0 + MINUTE;
        const w2 = await planned([delivery('b1', { person: 'li-na' }), delivery('b2', { person: 'li-na', channel: 'sms' })]);
        clock = T0 + 2 * MINUTE;
        await planned([delivery('c1')]);
        const page1 = await a.list({}, { limit: 2, offset: 0 });
        expect(page1.total).toBe(5);
        expect(page1.items.map((d) => d.deliveryId)).toEqual(['c1', 'b2']);
        const page3 = await a.list({}, { limit: 2, offset: 4 });
        expect(page3.items.map((d) => d.deliveryId)).toEqual(['a1']);
        expect((await a.list({ workOrderId: w1.id }, { limit: 10, offset: 0 })).items.map((d) => d.deliveryId)).toEqual(['a2', 'a1']);
        expect(await a.list({ person: 'li-na', channel: 'sms' }, { limit: 10, offset: 0 })).toMatchObject({ total: 1, items: [{ deliveryId: 'b2', workOrderId: w2.id }] });
        expect((await a.list({ from: T0 + MINUTE, to: T0 + 2 * MINUTE }, { limit: 10, offset: 0 })).items.map((d) => d.deliveryId)).toEqual(['b2', 'b1']);
        const [a1] = await a.claimDeliveries(T0, 1);
        expect(a1?.deliveryId).toBe('a1');
        await a.settle(a1!.id, sent(clock));
        expect((await a.list({ status: 'sent' }, { limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual([a1!.id]);
        expect((await a.list({ status: 'pending', channel: 'ops-wecom' }, { limit: 10, offset: 0 })).total).toBe(2);
        expect(await a.list({ person: 'nobody' }, { limit: 10, offset: 0 })).toEqual({ items: [], total: 0 });
        expect(await a.get(999_999)).toBeUndefined();
        expect(await a.attempts([])).toEqual([]);
      });

      it('reports the depth: notices to plan, pending and retrying deliveries, steps, and the oldest due', async () => {
        expect(await a.depth(clock)).toEqual({ notices: 0, pending: 0, retrying: 0, steps: 0 });
        const w = await called();
        await called({ deviceId: 'MR-2' });
        await plan(a, w, [delivery('due', { workOrderId: w.id, dueAt: T0 - MINUTE }), delivery('later', { workOrderId: w.id, dueAt: T0 + HOUR })], [{ level: 1, dueAt: T0 + 5 * MINUTE }]);
        expect(await a.depth(clock)).toEqual({ notices: 1, pending: 2, retrying: 0, steps: 1, oldestDueAt: T0 - MINUTE });
        expect(await a.depth(T0 - 2 * MINUTE)).toEqual({ notices: 1, pending: 2, retrying: 0, steps: 1 });
      });
    });

    describe('overrides, links and purge', () => {
      const override = (id: string, overrides: Partial<StoredOverride> = {}): StoredOverride => ({
        id,
        rotation: 'east-primary',
        kind: 'swap',
        from: T0,
        until: T0 + 24 * HOUR,
        replaces: 'zhang-wei',
        replacement: 'li-na',
        reason: '调休',
        createdAt: T0,
        createdBy: 'supervisor',
        ...overrides,
      });

      it('adds, lists and removes on-call overrides; an id taken already is refused', async () => {
        expect(await a.overrides()).toEqual([]);
        await a.addOverride(override('ov-1'));
        const holiday: StoredOverride = { id: 'ov-2', rotation: 'east-secondary', kind: 'holiday', from: T0, until: T0 + HOUR, replacement: 'wang-fang', createdAt: T0 + 1, createdBy: 'admin' };
        await b.addOverride(holiday);
        expect(await a.overrides()).toEqual([override('ov-1'), holiday]);
        await expect(a.addOverride(override('ov-1', { replacement: 'someone-else' }))).rejects.toThrow(/ov-1/);
        expect((await a.overrides())[0]?.replacement).toBe('li-na');
        expect(await a.removeOverride('ov-1')).toBe(true);
        expect(await a.removeOverride('ov-1')).toBe(false);
        expect(await b.overrides()).toEqual([holiday]);
      });

      it('records an acknowledge link used once: the second use is refused, whoever tries it, and tells when and by whom it was used', async () => {
        const w = await called();
        expect(await a.linkUse('link-1')).toBeUndefined();
        expect(await a.useLink('link-1', w.id, 'zhang-wei', clock)).toBe(true);
        expect(await a.useLink('link-1', w.id, 'zhang-wei', clock + 1)).toBe(false);
        expect(await b.useLink('link-1', w.id, 'li-na', clock + 2)).toBe(false);
        expect(await b.linkUse('link-1')).toEqual({ at: clock, person: 'zhang-wei' });
        expect(await b.useLink('link-2', w.id, 'li-na', clock + 2)).toBe(true);
        expect(await a.linkUse('link-2')).toEqual({ at: clock + 2, person: 'li-na' });
      });

      it('purges finished deliveries before a time with their attempts, done notices and finished steps; what is pending stays', async () => {
        const w = await called();
        const notice = await plan(a, w, [delivery('old-sent', { workOrderId: w.id }), delivery('old-pending', { workOrderId: w.id, dueAt: T0 + 10 * HOUR })], [{ level: 1, dueAt: T0 + MINUTE }, { level: 2, dueAt: T0 + 10 * HOUR }]);
        const [oldSent] = await a.claimDeliveries(clock, 1);
        await a.settle(oldSent!.id, sent(clock));
        clock = T0 + MINUTE;
        const [step] = await a.claimSteps(clock, 1);
        expect(await a.expandStep(step!.id, [])).toBe('expanded');
        clock = T0 + 2 * HOUR;
        const later = await called({ deviceId: 'MR-2' });
        await plan(a, later, [delivery('new-sent', { workOrderId: later.id, dueAt: clock })]);
        const [newSent] = await a.claimDeliveries(clock, 1);
        await a.settle(newSent!.id, sent(clock));

        expect(await a.purge(T0 + HOUR)).toBe(1);
        expect((await all(a)).map((d) => d.deliveryId).sort()).toEqual(['new-sent', 'old-pending']);
        expect(await a.attempts([oldSent!.id, newSent!.id])).toMatchObject([{ delivery: newSent!.id }]);
        // The pending step of the purged notice stays and still runs.
        expect((await a.claimSteps(T0 + 10 * HOUR, 10)).map((s) => [s.noticeId, s.level])).toEqual([[notice.id, 2]]);
        expect(await a.purge(T0 + HOUR)).toBe(0);
        expect(await a.purge(T0 + 3 * HOUR)).toBe(1);
      });
    });

    const processes = options.processes === true;
    describe(processes ? 'several engine processes on one database' : 'several engine processes on one database — skipped: the database serves one process', () => {
      it.skipIf(!processes)('two engines claiming at once get disjoint notices and deliveries, and together all of them', async () => {
        const p = subject.processes!;
        const engines = [await p.store('engine-x', { now, leaseMs: LEASE }), await p.store('engine-y', { now, leaseMs: LEASE })];
        for (let i = 0; i < 40; i++) await called({ deviceId: `MR-${i}` });
        const planned = new Map<string, number[]>();
        await Promise.all(
          engines.map(async (engine, e) => {
            const mine: number[] = [];
            planned.set(`e${e}`, mine);
            for (;;) {
              const batch = await engine.claimNotices(3);
              if (batch.length === 0) break;
              for (const n of batch) {
                expect(await engine.planNotice(n.id, [delivery(`n${n.id}`, { workOrderId: n.workOrderId, noticeId: n.id })], [])).toBe(true);
                mine.push(n.id);
              }
            }
          }),
        );
        const [x, y] = [planned.get('e0')!, planned.get('e1')!];
        expect(x.filter((id) => y.includes(id))).toEqual([]);
        expect(x.length + y.length).toBe(40);

        const sentBy = new Map<number, string>();
        await Promise.all(
          engines.map(async (engine, e) => {
            for (;;) {
              const batch = await engine.claimDeliveries(clock, 4);
              if (batch.length === 0) break;
              for (const d of batch) {
                expect(sentBy.has(d.id), `delivery ${d.id} claimed twice`).toBe(false);
                sentBy.set(d.id, `e${e}`);
                expect(await engine.settle(d.id, sent(clock))).toBe(true);
              }
            }
          }),
        );
        expect(sentBy.size).toBe(40);
        const log = await a.attempts([...sentBy.keys()]);
        expect(log).toHaveLength(40);
        expect(new Set(log.map((l) => l.delivery)).size).toBe(40);
        expect(await a.sentSince('ops-wecom', T0)).toBe(40);
      });

      it.skipIf(!processes)('an acknowledgement in flight holds the escalation step until it commits, and then wins', async () => {
        const p = subject.processes!;
        const w = await called();
        await plan(a, w, [], [{ level: 1, dueAt: T0 }]);
        const [step] = await a.claimSteps(clock, 10);
        const ack = await p.holdAcknowledgement(w.id);
        let settled = false;
        const expanding = a.expandStep(step!.id, [delivery('l1', { workOrderId: w.id, level: 1 })]).finally(() => (settled = true));
        try {
          await new Promise((resolve) => setTimeout(resolve, 300));
          expect(settled, 'the step waits for the acknowledgement').toBe(false);
        } finally {
          await ack.commit();
        }
        expect(await expanding).toBe('cancelled');
        expect(await all(a, { workOrderId: w.id })).toEqual([]);
      });

      it.skipIf(!processes)('an acknowledgement racing an escalation step ends consistent: the step cancelled, or the calls made before the acknowledgement committed', async () => {
        const p = subject.processes!;
        const outcomes: string[] = [];
        for (let i = 0; i < 30; i++) {
          const w = await called({ deviceId: `MR-${i}` });
          await plan(a, w, [], [{ level: 1, dueAt: T0 }]);
          const step = (await a.claimSteps(clock, 100)).find((s) => s.workOrderId === w.id)!;
          const calls = [delivery(`r${i}/li-na`, { workOrderId: w.id, level: 1, person: 'li-na' }), delivery(`r${i}/wang-fang`, { workOrderId: w.id, level: 1, person: 'wang-fang' })];
          const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
          const [result, seen] = await Promise.all([
            (async () => {
              await pause(i % 3);
              return a.expandStep(step.id, calls);
            })(),
            (async () => {
              await pause((i + 1) % 3);
              return p.acknowledgeAndCount(w.id, 1);
            })(),
          ]);
          const made = (await all(a, { workOrderId: w.id })).filter((d) => d.level === 1);
          if (result === 'cancelled') {
            expect(made, `race ${i}: cancelled, yet calls were made`).toEqual([]);
            expect(seen).toBe(0);
          } else {
            expect(result).toBe('expanded');
            expect(made).toHaveLength(2);
            // The acknowledgement, once its update held the row, saw the calls: they committed before it.
            expect(seen, `race ${i}: calls made after the acknowledgement`).toBe(2);
          }
          expect(await subject.workOrders.get(w.id)).toMatchObject({ status: 'acknowledged' });
          outcomes.push(result);
        }
        expect(outcomes).toHaveLength(30);
      });
    });
  });
}

