import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import type { SqlDatabase } from '../../src/storage/sql/database.js';
import type { WorkOrderStore } from '../../src/workorders/types.js';
import { registerOutboxMetrics } from '../../src/workorders/outbox-metrics.js';
import { waitFor } from '../helpers.js';
import { alertChange, DATABASES, HOUR, MIN, openDatabase, storedAlert, T0, transition, workOrderSide } from './support.js';

/** A store whose methods named in `failing` throw on their first `times` calls, as a database that is briefly away would. */
function flakyStore(store: WorkOrderStore, times: number, failing: ReadonlyArray<keyof WorkOrderStore> = ['openForIdentity', 'latestForIdentity', 'hasEvent']): WorkOrderStore & { failures: number } {
  let left = times;
  const wrapped = { failures: 0 } as WorkOrderStore & { failures: number };
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(store)) as Array<keyof WorkOrderStore>) {
    if (name === ('constructor' as never)) continue;
    const method = (store[name] as (...args: unknown[]) => unknown).bind(store);
    (wrapped as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      if (failing.includes(name) && left > 0) {
        left -= 1;
        wrapped.failures += 1;
        return Promise.reject(Object.assign(new Error('connection terminated unexpectedly'), { code: 'ECONNRESET' }));
      }
      return method(...args);
    };
  }
  return wrapped;
}

describe.each(DATABASES)('the alert outbox on $title', ({ skip, dialect, target: makeTarget }) => {
  const target = skip ? undefined : makeTarget();
  const databases: SqlDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.close();
    await target?.cleanup();
  });
  const open = async (devices = 1) => {
    const opened = await openDatabase(target!, devices);
    databases.push(opened.sql);
    return opened;
  };
  const outboxRows = (db: SqlDatabase) => db.db.selectFrom('alert_outbox').selectAll().orderBy('id').execute();

  describe.skipIf(skip)('saving alerts with their changes', () => {
    it('writes the alerts, their changes and each alert’s last change in one transaction, 200 rows a statement', async () => {
      const { sql: db, registry } = await open();
      const { alerts } = workOrderSide(db, registry);
      const changes = Array.from({ length: 450 }, (_, i) => alertChange({ ruleId: `rule-${i}` }));
      await alerts.save(
        changes.map((c) => storedAlert(c)),
        changes,
      );
      const rows = await outboxRows(db);
      expect(rows).toHaveLength(450);
      expect(rows[0]).toMatchObject({ identity: 'MR-1/rule-0', device_id: 'MR-1', site_id: 'h1', rule_id: 'rule-0', origin: 'engine', created_at: T0, consumed_at: null, attempts: 0 });
      expect(JSON.parse(rows[0]!.change)).toEqual(changes[0]);
      const stored = await db.db.selectFrom('alerts').select(['rule_id', 'last_change']).where('rule_id', '=', 'rule-7').executeTakeFirstOrThrow();
      expect(JSON.parse(stored.last_change!)).toEqual(changes[7]);
      // Saved again without a change (a new value only): the last change stays.
      await alerts.save([storedAlert(changes[7]!, { lastValue: 58 })]);
      const again = await db.db.selectFrom('alerts').select(['last_value', 'last_change']).where('rule_id', '=', 'rule-7').executeTakeFirstOrThrow();
      expect(again.last_value).toBe(58);
      expect(JSON.parse(again.last_change!)).toEqual(changes[7]);
    });

    it('a statement that fails leaves neither the alerts nor the changes', async () => {
      const { sql: db, registry } = await open();
      const { alerts } = workOrderSide(db, registry);
      const good = Array.from({ length: 250 }, (_, i) => alertChange({ ruleId: `rule-${i}` }));
      // The last change has no site: its outbox insert fails on the NOT NULL, after the alerts were written.
      const bad = alertChange({ ruleId: 'rule-bad', siteId: null as unknown as string });
      await expect(alerts.save([...good, bad].map((c) => storedAlert(c)), [...good, bad])).rejects.toThrow();
      expect(await db.db.selectFrom('alerts').select('rule_id').execute()).toEqual([]);
      expect(await outboxRows(db)).toEqual([]);
    });

    it('tells its listeners after a save with changes has committed, not after one without', async () => {
      const { sql: db, registry } = await open();
      const { alerts } = workOrderSide(db, registry);
      const heard: number[] = [];
      alerts.onChangesSaved((n) => heard.push(n));
      await alerts.save([storedAlert(alertChange())]);
      await alerts.save([storedAlert(alertChange())], [alertChange(), alertChange({ at: T0 + 1 })]);
      expect(heard).toEqual([2]);
    });
  });

  describe.skipIf(skip)('draining into work orders', () => {
    it('opens the work order of a saved change and marks the change consumed', async () => {
      const { sql: db, registry } = await open();
      const { alerts, consumer, service } = workOrderSide(db, registry);
      const change = alertChange();
      await alerts.save([storedAlert(change)], [change]);
      await consumer.drain();
      const [wo] = await service.list({});
      expect(wo).toMatchObject({ identity: 'MR-1/helium-low', status: 'new', grade: 'general', reportedAt: T0 });
      const [row] = await outboxRows(db);
      expect(row).toMatchObject({ consumed_at: T0, claimed_by: null, attempts: 1, last_error: null });
      expect(consumer.counters()).toMatchObject({ consumed: 1, failed: 0 });
      expect(await consumer.depth()).toEqual({ pending: 0, failing: 0 });
    });

    it('shows depth, consumed, failed and reconciled in /metrics', async () => {
      const { sql: db, registry } = await open();
      const { alerts, consumer } = workOrderSide(db, registry);
      const metrics = new Registry();
      registerOutboxMetrics(metrics, consumer);
      const change = alertChange();
      await alerts.save([storedAlert(change)], [change, alertChange({ ruleId: 'shield-high' })]);
      let text = await metrics.metrics();
      expect(text).toContain('guardian_alert_outbox_depth{state="pending"} 2');
      expect(text).toContain('guardian_alert_outbox_consumed_total 0');
      await consumer.drain();
      text = await metrics.metrics();
      expect(text).toContain('guardian_alert_outbox_depth{state="pending"} 0');
      expect(text).toContain('guardian_alert_outbox_oldest_seconds 0');
      expect(text).toContain('guardian_alert_outbox_consumed_total 2');
      expect(text).toMatch(/guardian_alert_outbox_failed_total 0\n/);
      expect(text).toMatch(/guardian_alert_outbox_reconciled_total 0\n/);
    });

    it('hands out one identity’s changes one at a time and in order; other identities go alongside', async () => {
      const { sql: db, registry } = await open();
      const { alerts, outbox } = workOrderSide(db, registry);
      const a1 = alertChange();
      const a2 = alertChange({ grade: 'severe', transitions: [transition('escalated', { grade: 'severe' })], at: T0 + 1 });
      const b1 = alertChange({ ruleId: 'shield-high' });
      await alerts.save([storedAlert(a2), storedAlert(b1)], [a1, a2, b1]);
      const other = workOrderSide(db, registry, { outboxOptions: { consumer: 'other' } }).outbox;
      const first = await outbox.claim(10);
      expect(first.map((e) => ('change' in e ? e.change.identity : e.unreadable))).toEqual(['MR-1/helium-low', 'MR-1/shield-high']);
      // Claimed: nothing for another consumer until they are consumed, not even the next of the first identity.
      expect(await other.claim(10)).toEqual([]);
      // The same consumer claims again only when it is done with what it holds (a drain that failed half way): it gets them back.
      expect((await outbox.claim(10)).map((e) => e.id)).toEqual(first.map((e) => e.id));
      await outbox.complete([first[0]!.id]);
      const second = await other.claim(10);
      expect(second).toHaveLength(1);
      expect(second[0]).toMatchObject({ change: { transitions: [{ kind: 'escalated' }] } });
    });

    it('a change handled twice (a crash before it was marked consumed) opens one work order and notes it once', async () => {
      const { sql: db, registry } = await open();
      let completeFails = 1;
      const { alerts, consumer, service } = workOrderSide(db, registry, {
        wrapOutbox: (outbox) => ({
          ...bindAll(outbox),
          complete: (ids) => (completeFails-- > 0 ? Promise.reject(new Error('connection lost before commit')) : outbox.complete(ids)),
        }),
      });
      const fired = alertChange();
      const escalated = alertChange({ grade: 'severe', transitions: [transition('escalated', { grade: 'severe' })], at: T0 + MIN });
      await alerts.save([storedAlert(escalated)], [fired, escalated]);
      // The first drain handles the fired change, then cannot mark it: it stays claimed by this consumer.
      await consumer.drain();
      expect(await service.list({})).toHaveLength(1);
      expect((await outboxRows(db))[0]).toMatchObject({ consumed_at: null, attempts: 1 });
      // The next drain claims it again, handles it again (without effect) and goes on.
      await consumer.drain();
      const all = await service.list({});
      expect(all).toHaveLength(1);
      expect(all[0]!.grade).toBe('severe');
      expect((await service.timeline(all[0]!.id)).map((e) => e.kind)).toEqual(['created', 'alert_escalated']);
      expect((await outboxRows(db)).map((r) => [r.attempts, r.consumed_at !== null])).toEqual([
        [2, true],
        [1, true],
      ]);
    });

    it('a change saved twice (a commit whose reply was lost, retried) is one outbox row with one effect', async () => {
      const { sql: db, registry } = await open();
      const { alerts, consumer, service } = workOrderSide(db, registry);
      const fired = alertChange({ id: 'change-fired' });
      const resolved = alertChange({ id: 'change-resolved', state: 'resolved', transitions: [transition('resolved')], at: T0 + MIN });
      await alerts.save([storedAlert(fired)], [fired]);
      await alerts.save([storedAlert(fired)], [fired]);
      expect(await outboxRows(db)).toMatchObject([{ change_id: 'change-fired' }]);
      await consumer.drain();
      const [wo] = await service.list({});
      for (const action of ['acknowledge', 'respond', 'start'] as const) await service.transition(wo!.number, { action, mode: 'remote' }, 'engineer-li');
      // Written again after it was consumed, with the next change in the same save: only the next one is new.
      await alerts.save([storedAlert(resolved)], [fired, resolved]);
      await alerts.save([storedAlert(resolved)], [fired, resolved]);
      expect((await outboxRows(db)).map((r) => r.change_id)).toEqual(['change-fired', 'change-resolved']);
      await consumer.drain();
      expect(await service.list({})).toHaveLength(1);
      expect((await service.timeline(wo!.id)).filter((e) => e.actor === 'system').map((e) => e.kind)).toEqual(['created', 'alert_resolved']);
      // Even a copy that got in as another row (written before the unique index) is applied once: the key is the change's id.
      await db.db.insertInto('alert_outbox').values({ identity: fired.identity, device_id: 'MR-1', site_id: 'h1', rule_id: fired.ruleId, change: JSON.stringify(fired), origin: 'engine', created_at: T0, available_at: T0 }).execute();
      await consumer.drain();
      expect((await service.timeline(wo!.id)).filter((e) => e.actor === 'system').map((e) => e.kind)).toEqual(['created', 'alert_resolved']);
      expect(await service.get(wo!.number)).toMatchObject({ status: 'in_progress', alertState: 'resolved' });
    });

    it('a database failure at the hand-off is retried with back-off until the work order is open', async () => {
      const { sql: db, registry } = await open();
      const clock = {
        get now() {
          return Date.now();
        },
      };
      let flaky: ReturnType<typeof flakyStore> | undefined;
      const { alerts, consumer, service } = workOrderSide(db, registry, {
        clock: clock as { now: number },
        wrapStore: (store) => (flaky = flakyStore(store, 3)),
        outboxSettings: { retryMinMs: 20, retryMaxMs: 200, pollMs: 10_000 },
      });
      await consumer.start();
      try {
        const change = alertChange({ at: Date.now() });
        await alerts.save([storedAlert(change)], [change]);
        consumer.wake();
        // The first three attempts fail; each is given back with its error and a retry time.
        await waitFor(async () => (await db.db.selectFrom('alert_outbox').select('last_error').executeTakeFirst())?.last_error, { timeoutMs: 5_000, what: 'a failed attempt' });
        const [wo] = await waitFor(async () => {
          const list = await service.list({});
          return list.length > 0 && list;
        }, { timeoutMs: 10_000, what: 'the work order after the retries' });
        expect(wo).toMatchObject({ identity: 'MR-1/helium-low', status: 'new' });
        expect(flaky!.failures).toBe(3);
        const [row] = await outboxRows(db);
        expect(row!.consumed_at).not.toBeNull();
        expect(row!.attempts).toBeGreaterThanOrEqual(2);
        expect(row!.last_error).toMatch(/connection terminated/);
        expect(consumer.counters().failed).toBeGreaterThanOrEqual(1);
      } finally {
        await consumer.stop();
      }
    });

    it('a failed change holds back the later changes of its identity until its retry, not those of others', async () => {
      const { sql: db, registry } = await open();
      const clock = { now: T0 };
      let failFor = 'MR-1/helium-low';
      const { alerts, consumer, service } = workOrderSide(db, registry, {
        clock,
        wrapStore: (store) => ({
          ...bindAll(store),
          openForIdentity: (input, event, zone) => (input.identity === failFor ? Promise.reject(new Error('deadlock detected')) : store.openForIdentity(input, event, zone)),
        }),
        outboxSettings: { retryMinMs: 1_000, retryMaxMs: 60_000 },
      });
      const fired = alertChange();
      const resolved = alertChange({ state: 'resolved', transitions: [transition('resolved')], at: T0 + 1 });
      const other = alertChange({ ruleId: 'shield-high' });
      await alerts.save([storedAlert(resolved), storedAlert(other)], [fired, resolved, other]);
      await consumer.drain();
      expect((await service.list({})).map((w) => w.identity)).toEqual(['MR-1/shield-high']);
      let rows = await outboxRows(db);
      expect(rows.map((r) => [r.attempts, r.consumed_at !== null, r.available_at])).toEqual([
        [1, false, T0 + 1_000],
        [0, false, T0],
        [1, true, T0],
      ]);
      // Before the retry time nothing moves; after it the fired change opens its work order, then the resolution follows.
      failFor = '';
      await consumer.drain();
      expect(await service.list({ identity: 'MR-1/helium-low' })).toEqual([]);
      clock.now = T0 + 1_000;
      await consumer.drain();
      const [wo] = await service.list({ identity: 'MR-1/helium-low' });
      expect(wo).toMatchObject({ alertState: 'resolved' });
      rows = await outboxRows(db);
      expect(rows.every((r) => r.consumed_at !== null)).toBe(true);
    });

    it('a claim runs out: the changes of a consumer that died are handed to another after the lease', async () => {
      const { sql: db, registry } = await open();
      const clock = { now: T0 };
      const dead = workOrderSide(db, registry, { clock, outboxOptions: { consumer: 'dead', leaseMs: MIN } });
      const alive = workOrderSide(db, registry, { clock, outboxOptions: { consumer: 'alive', leaseMs: MIN } });
      const change = alertChange();
      await dead.alerts.save([storedAlert(change)], [change]);
      expect(await dead.outbox.claim(10)).toHaveLength(1);
      await alive.consumer.drain();
      expect(await alive.service.list({})).toEqual([]);
      clock.now = T0 + MIN + 1;
      await alive.consumer.drain();
      expect(await alive.service.list({})).toHaveLength(1);
      expect((await outboxRows(db))[0]).toMatchObject({ attempts: 2, claimed_by: null });
    });

    it('a consumer whose claim runs out mid-batch marks nothing another consumer now holds, skips what it no longer holds, and each identity stays in order', async () => {
      const { sql: db, registry } = await open();
      const clock = { now: T0 };
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const blocked = new Promise<void>((resolve) => (entered = resolve));
      let first = true;
      // The slow consumer stalls in its first change (a long pause, a slow database) past its claim.
      const slow = workOrderSide(db, registry, {
        clock,
        outboxOptions: { consumer: 'slow', leaseMs: MIN },
        outboxSettings: { concurrency: 1 },
        wrapStore: (store) => ({
          ...bindAll(store),
          hasEvent: async (key) => {
            if (first) {
              first = false;
              entered();
              await gate;
            }
            return store.hasEvent(key);
          },
        }),
      });
      // Work orders wait for a person when their alert resolves (no self-recovery): the resolve is a note.
      const other = workOrderSide(db, registry, { clock, outboxOptions: { consumer: 'other', leaseMs: MIN }, settings: { closeRecovered: 'none' } });
      const fired = alertChange();
      const resolved = alertChange({ state: 'resolved', transitions: [transition('resolved')], at: T0 + 1 });
      const shield = alertChange({ ruleId: 'shield-high' });
      await slow.alerts.save([storedAlert(resolved), storedAlert(shield)], [fired, resolved, shield]);
      const [firedRow, resolvedRow, shieldRow] = await outboxRows(db);

      const draining = slow.consumer.drain();
      await blocked;
      // Past the claim: another consumer takes the stalled change and holds it.
      clock.now = T0 + MIN + 1;
      expect((await other.outbox.claim(1)).map((e) => e.id)).toEqual([firedRow!.id]);
      release();
      await draining;
      // The slow consumer applied it (once: the other's handling finds it recorded), but did not
      // mark it: the other consumer still holds it, and the next change of the identity waits.
      expect(await outboxRows(db)).toMatchObject([
        { id: firedRow!.id, consumed_at: null, claimed_by: 'other' },
        { id: resolvedRow!.id, consumed_at: null, claimed_by: null, attempts: 0 },
        // Its claim had run out before its turn: skipped, claimed again and handled by the next round.
        { id: shieldRow!.id, attempts: 2, claimed_by: null },
      ]);
      expect((await outboxRows(db))[2]!.consumed_at).not.toBeNull();
      expect(slow.consumer.counters()).toMatchObject({ consumed: 1, expired: 2 });

      await other.consumer.drain();
      const [wo] = await other.service.list({ identity: 'MR-1/helium-low' });
      expect((await other.service.timeline(wo!.id)).map((e) => e.kind)).toEqual(['created', 'alert_resolved']);
      expect(wo).toMatchObject({ alertState: 'resolved' });
      const rows = await outboxRows(db);
      expect(rows.every((r) => r.consumed_at !== null)).toBe(true);
      expect(rows[0]!.consumed_at! <= rows[1]!.consumed_at!).toBe(true);
      expect(other.consumer.counters()).toMatchObject({ consumed: 2, expired: 0 });
    });

    it('an unreadable change is skipped and logged, and does not hold back its identity', async () => {
      const { sql: db, registry } = await open();
      const { alerts, consumer, service } = workOrderSide(db, registry);
      const change = alertChange();
      await db.db
        .insertInto('alert_outbox')
        .values({ identity: change.identity, device_id: 'MR-1', site_id: 'h1', rule_id: 'helium-low', change: '{"not":"a change"', origin: 'engine', created_at: T0, available_at: T0 })
        .execute();
      await alerts.save([storedAlert(change)], [change]);
      await consumer.drain();
      expect(await service.list({})).toHaveLength(1);
      expect(consumer.counters()).toMatchObject({ unreadable: 1, consumed: 2 });
    });

    it('deletes consumed changes after the retention', async () => {
      const { sql: db, registry } = await open();
      const clock = { now: T0 };
      const { alerts, consumer } = workOrderSide(db, registry, { clock, outboxSettings: { retentionMs: HOUR } });
      const change = alertChange();
      await alerts.save([storedAlert(change)], [change]);
      await consumer.drain();
      await consumer.reconcile();
      expect(await outboxRows(db)).toHaveLength(1);
      clock.now = T0 + HOUR + 1;
      await consumer.reconcile();
      expect(await outboxRows(db)).toEqual([]);
    });
  });

  describe.skipIf(skip)('reconciliation', () => {
    /** Saves an alert with its change, then loses the change (as a failed hand-off before the outbox did). */
    const firingWithLostChange = async (side: ReturnType<typeof workOrderSide>, change = alertChange()) => {
      await side.alerts.save([storedAlert(change)], [change]);
      await side.sql.db.deleteFrom('alert_outbox').where('identity', '=', change.identity).execute();
    };

    it('opens the work order of a firing alert whose change was lost, once, and counts it', async () => {
      const { sql: db, registry } = await open();
      const side = workOrderSide(db, registry, { clock: { now: T0 + 10 * MIN } });
      await firingWithLostChange(side);
      expect(await side.consumer.reconcile()).toBe(1);
      await side.consumer.drain();
      const [wo] = await side.service.list({});
      expect(wo).toMatchObject({ identity: 'MR-1/helium-low', status: 'new', grade: 'general', faultAt: T0, reportedAt: T0 + 10 * MIN });
      const [created] = await side.service.timeline(wo!.id);
      expect(created).toMatchObject({ kind: 'created', data: { reconciled: true } });
      expect(side.consumer.counters()).toMatchObject({ reconciled: 1, consumed: 1 });
      const [row] = await outboxRows(db);
      expect(row).toMatchObject({ origin: 'reconcile' });
      // Its work order is open now: nothing more to do.
      expect(await side.consumer.reconcile()).toBe(0);
    });

    it('runs at start: the consumer reconciles before it drains', async () => {
      const { sql: db, registry } = await open();
      const side = workOrderSide(db, registry);
      await firingWithLostChange(side);
      await side.consumer.start();
      await side.consumer.stop();
      expect(await side.service.list({})).toHaveLength(1);
    });

    it('leaves alone what the normal path leaves alone: a change waiting, silenced, below the minimum grade, not firing, an open or person-resolved work order, the cooldown', async () => {
      const { sql: db, registry } = await open();
      const clock = { now: T0 };
      const side = workOrderSide(db, registry, { clock, settings: { minGrade: 'general' } });
      // A change waiting in the outbox: the consumer will handle it.
      const waiting = alertChange({ ruleId: 'waiting' });
      await side.alerts.save([storedAlert(waiting)], [waiting]);
      await firingWithLostChange(side, alertChange({ ruleId: 'silenced', silencedBy: 'maintenance' }));
      await firingWithLostChange(side, alertChange({ ruleId: 'minor', grade: 'minor', transitions: [transition('fired', { grade: 'minor' })] }));
      await firingWithLostChange(side, alertChange({ ruleId: 'recovered', state: 'resolved', transitions: [transition('resolved')] }));
      await firingWithLostChange(side, alertChange({ ruleId: 'other-device', deviceId: 'MR-404' }));
      expect(await side.consumer.reconcile()).toBe(0);

      // Person-resolved while the alert still fires: resolving is theirs; the alert's next firing reopens it.
      const held = alertChange({ ruleId: 'held' });
      await side.alerts.save([storedAlert(held)], [held]);
      await side.consumer.drain();
      const [heldWo] = await side.service.list({ identity: 'MR-1/held' });
      for (const action of ['acknowledge', 'respond', 'start', 'resolve'] as const) await side.service.transition(heldWo!.number, { action, mode: 'remote', resolution: '已处理' }, 'engineer-li');
      // Closed: nothing during the cooldown (no note every minute either), a new one after it.
      const closed = alertChange({ ruleId: 'closed' });
      await side.alerts.save([storedAlert(closed)], [closed]);
      await side.consumer.drain();
      const [closedWo] = await side.service.list({ identity: 'MR-1/closed' });
      await side.service.transition(closedWo!.number, { action: 'cancel', note: '重复报修' }, 'supervisor-chen');
      clock.now = T0 + HOUR;
      expect(await side.consumer.reconcile()).toBe(0);
      expect((await side.service.timeline(closedWo!.id)).map((e) => e.kind)).toEqual(['created', 'transition']);
      // After the cooldown too: the alert never stopped firing, so the normal path would open none.
      clock.now = T0 + 7 * HOUR;
      expect(await side.consumer.reconcile()).toBe(0);
      clock.now = T0 + 30 * HOUR;
      expect(await side.consumer.reconcile()).toBe(0);
      expect(await side.service.list({ identity: 'MR-1/closed' })).toHaveLength(1);
      expect(await side.service.list({ identity: 'MR-1/held' })).toHaveLength(1);
    });

    it('a work order cancelled while its alert kept firing gets no second one; a firing after the cancel whose change was lost does', async () => {
      const { sql: db, registry } = await open();
      const clock = { now: T0 };
      const side = workOrderSide(db, registry, { clock });
      const fired = alertChange();
      await side.alerts.save([storedAlert(fired)], [fired]);
      await side.consumer.drain();
      const [wo] = await side.service.list({});
      clock.now = T0 + HOUR;
      await side.service.transition(wo!.number, { action: 'cancel', note: '重复报修' }, 'supervisor-chen');
      // Cooldown over, the alert still firing since before the cancel: left alone, every time.
      for (const hours of [7, 8, 48]) {
        clock.now = T0 + hours * HOUR;
        expect(await side.consumer.reconcile()).toBe(0);
      }
      // A synthetic change enqueued before the cancel is checked again when handled: nothing either.
      expect(await side.outbox.enqueueReconciled({ ...fired, transitions: [transition('fired', { grade: 'general', ts: T0 })], at: clock.now })).toBe(true);
      await side.consumer.drain();
      expect(await side.service.list({})).toHaveLength(1);
      // It resolved and fired again after the cancel, and that change was lost: reconciled.
      const refired = alertChange({ at: T0 + 50 * HOUR, activeAt: T0 + 50 * HOUR, transitions: [transition('fired', { grade: 'general', ts: T0 + 50 * HOUR })] });
      clock.now = T0 + 50 * HOUR;
      await firingWithLostChange(side, refired);
      clock.now = T0 + 51 * HOUR;
      expect(await side.consumer.reconcile()).toBe(1);
      await side.consumer.drain();
      const all = await side.service.list({});
      expect(all).toHaveLength(2);
      expect(all.find((w) => w.id !== wo!.id)).toMatchObject({ status: 'new', faultAt: T0 + 50 * HOUR, reportedAt: T0 + 51 * HOUR });
      expect(await side.consumer.reconcile()).toBe(0);
    });

    it('reopens a resolved work order whose alert resolved and fired again when that change was lost', async () => {
      const { sql: db, registry } = await open();
      const side = workOrderSide(db, registry, { settings: { closeRecovered: 'none' } });
      const fired = alertChange();
      await side.alerts.save([storedAlert(fired)], [fired]);
      await side.consumer.drain();
      const [wo] = await side.service.list({});
      const resolved = alertChange({ state: 'resolved', transitions: [transition('resolved')], at: T0 + MIN });
      await side.alerts.save([storedAlert(resolved)], [resolved]);
      await side.consumer.drain();
      for (const action of ['acknowledge', 'respond', 'start', 'resolve'] as const) await side.service.transition(wo!.number, { action, mode: 'remote', resolution: '已处理' }, 'engineer-li');
      await firingWithLostChange(side, alertChange({ at: T0 + 2 * MIN }));
      expect(await side.consumer.reconcile()).toBe(1);
      await side.consumer.drain();
      expect(await side.service.get(wo!.number)).toMatchObject({ status: 'in_progress', alertState: 'firing' });
    });

    it('does not enqueue for an alert that stopped firing or got a change of its own since it was looked at', async () => {
      const { sql: db, registry } = await open();
      const side = workOrderSide(db, registry);
      const change = alertChange();
      await firingWithLostChange(side, change);
      const [candidate] = await side.outbox.firingWithoutPending();
      expect(candidate).toMatchObject({ identity: 'MR-1/helium-low', state: 'firing', grade: 'general' });
      await side.alerts.save([storedAlert(change)], [change]);
      expect(await side.outbox.enqueueReconciled({ ...candidate!, at: T0 })).toBe(false);
      await side.alerts.save([storedAlert(change, { state: 'resolved' })]);
      await db.db.deleteFrom('alert_outbox').execute();
      expect(await side.outbox.enqueueReconciled({ ...candidate!, at: T0 })).toBe(false);
    });
  });

  // Claims with FOR UPDATE SKIP LOCKED between processes: SQLite runs one engine, so the
  // SQLite variant registers nothing here rather than a skipped suite.
  if (dialect !== 'postgres') return;
  describe.skipIf(skip)('several engines on one PostgreSQL', () => {
    it('two consumers claiming at once never get the same change', async () => {
      const { sql: db, registry } = await open();
      const other = await openSecond(db);
      const a = workOrderSide(db, registry, { outboxOptions: { consumer: 'a' } });
      const b = workOrderSide(other.sql, other.registry, { outboxOptions: { consumer: 'b' } });
      const changes = Array.from({ length: 200 }, (_, i) => alertChange({ ruleId: `rule-${i}` }));
      await a.alerts.save(changes.map((c) => storedAlert(c)), changes);
      const claimed: number[] = [];
      let rounds = 0;
      for (; rounds < 100; rounds++) {
        const [x, y] = await Promise.all([a.outbox.claim(7), b.outbox.claim(7)]);
        if (x.length + y.length === 0) break;
        const ids = (entries: typeof x) => entries.map((e) => e.id);
        claimed.push(...ids(x), ...ids(y));
        await Promise.all([a.outbox.complete(ids(x)), b.outbox.complete(ids(y))]);
      }
      expect(claimed).toHaveLength(200);
      expect(new Set(claimed).size).toBe(200);
      // Both got their share: neither waited for the other's locks.
      expect(rounds).toBeLessThan(20);
    });

    it('two consumers draining at once open exactly one work order per identity, each change applied once', async () => {
      const { sql: db, registry } = await open(10);
      const other = await openSecond(db);
      const a = workOrderSide(db, registry, { outboxOptions: { consumer: 'a' }, outboxSettings: { batchSize: 5 } });
      const b = workOrderSide(other.sql, other.registry, { outboxOptions: { consumer: 'b' }, outboxSettings: { batchSize: 5 } });
      // 10 devices × 4 rules; each fault fires, escalates, and fires again from a second engine that took the device over.
      const changes = [];
      for (let d = 1; d <= 10; d++) {
        for (let r = 0; r < 4; r++) {
          const base = { deviceId: `MR-${d}`, ruleId: `rule-${r}` };
          changes.push(alertChange(base));
          changes.push(alertChange({ ...base, grade: 'severe', transitions: [transition('escalated', { grade: 'severe' })], at: T0 + 1 }));
          changes.push(alertChange({ ...base, grade: 'severe', transitions: [transition('fired', { grade: 'severe' })], at: T0 + 2 }));
        }
      }
      await a.alerts.save([], changes.slice(0, 60));
      await b.alerts.save([], changes.slice(60));
      await Promise.all([a.consumer.drain(), b.consumer.drain(), a.consumer.drain(), b.consumer.drain()]);
      const orders = await db.db.selectFrom('work_orders').select(['id', 'identity', 'grade']).execute();
      expect(orders).toHaveLength(40);
      expect(new Set(orders.map((o) => o.identity)).size).toBe(40);
      expect(orders.every((o) => o.grade === 'severe')).toBe(true);
      const events = await db.db.selectFrom('work_order_events').select(['work_order_id', 'kind']).execute();
      const kinds = (id: number) => events.filter((e) => e.work_order_id === id).map((e) => e.kind).sort();
      for (const o of orders) expect(kinds(o.id)).toEqual(['alert_escalated', 'alert_refired', 'created']);
      const rows = await outboxRows(db);
      expect(rows.every((r) => r.consumed_at !== null && r.attempts === 1)).toBe(true);
      expect(a.consumer.counters().consumed + b.consumer.counters().consumed).toBe(120);
      expect(a.consumer.counters().consumed).toBeGreaterThan(0);
      expect(b.consumer.counters().consumed).toBeGreaterThan(0);
    });

    it('a consumer whose connections are cut mid-drain recovers and finishes', async () => {
      const { sql: db } = await open(5);
      const clock = {
        get now() {
          return Date.now();
        },
      };
      const other = await openSecond(db, 'guardian-outbox-victim');
      const victim = workOrderSide(other.sql, other.registry, {
        clock: clock as { now: number },
        outboxSettings: { retryMinMs: 20, retryMaxMs: 100, pollMs: 50, batchSize: 2, concurrency: 1 },
        // Slow, on one of its own connections, so the cut comes while it works.
        wrapStore: (store) => ({ ...bindAll(store), openForIdentity: async (...args) => (await sql`select pg_sleep(0.4)`.execute(other.sql.db), store.openForIdentity(...args)) }),
      });
      const changes = Array.from({ length: 5 }, (_, i) => alertChange({ deviceId: `MR-${i + 1}`, at: Date.now() }));
      await victim.alerts.save([], changes);
      void victim.consumer.start();
      try {
        await waitFor(async () => (await db.db.selectFrom('work_orders').select('id').execute()).length > 0, { timeoutMs: 5_000, what: 'the first work order' });
        // Cut every connection of the consumer's pool; the pool reconnects, the failures are retried.
        await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'guardian-outbox-victim' and pid <> pg_backend_pid()`.execute(db.db);
        await waitFor(async () => (await db.db.selectFrom('work_orders').select('id').execute()).length === 5, { timeoutMs: 15_000, what: 'five work orders' });
        await waitFor(async () => (await outboxRows(db)).every((r) => r.consumed_at !== null), { timeoutMs: 5_000, what: 'the outbox drained' });
        // The cut was felt (a change or the outbox itself failed), and nothing was applied twice.
        const counts = victim.consumer.counters();
        expect(counts.failed + counts.outboxErrors).toBeGreaterThan(0);
        expect(await db.db.selectFrom('work_order_events').select('id').execute()).toHaveLength(5);
      } finally {
        await victim.consumer.stop();
      }
    });
  });

  /** A second engine's connection pool on the same database (and schema). */
  async function openSecond(first: SqlDatabase, applicationName?: string) {
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(first.db);
    const url = new URL(process.env.GUARDIAN_TEST_DATABASE_URL!.trim());
    url.searchParams.set('options', `-c search_path=${rows[0]!.schema}`);
    if (applicationName) url.searchParams.set('application_name', applicationName);
    const { openSqlDatabase } = await import('../../src/storage/sql/database.js');
    const { DeviceRegistry } = await import('../../src/devices/registry.js');
    const { SqlDeviceStore } = await import('../../src/storage/sql/device-repository.js');
    const second = await openSqlDatabase({ url: url.toString(), sqliteFile: '' });
    databases.push(second);
    return { sql: second, registry: await DeviceRegistry.open(new SqlDeviceStore(second.db)) };
  }
});

/** An object with the methods of `target` bound to it, to override some of them. */
function bindAll<T extends object>(target: T): T {
  const out: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(target))) {
    if (name === 'constructor') continue;
    const value = (target as Record<string, unknown>)[name];
    if (typeof value === 'function') out[name] = (value as (...args: unknown[]) => unknown).bind(target);
  }
  return out as T;
}

