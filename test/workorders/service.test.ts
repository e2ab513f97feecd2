import { afterAll, describe, expect, it } from 'vitest';
import type { SqlDatabase } from '../../src/storage/sql/database.js';
import { SELF_RECOVERED_RESOLUTION, WorkOrderError, type WorkOrderSettings } from '../../src/workorders/service.js';
import { alertChange, DATABASES, DAY, HOUR, MIN, openDatabase, T0, transition, workOrderSide } from './support.js';

describe.each(DATABASES)('work orders on $title', ({ skip, target: makeTarget }) => {
  const target = skip ? undefined : makeTarget();
  const databases: SqlDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.close();
    await target?.cleanup();
  });

  async function setup(options: { minGrade?: 'minor' | 'general' | 'severe' | 'emergency'; settings?: Partial<WorkOrderSettings> } = {}) {
    const { sql, registry } = await openDatabase(target!);
    databases.push(sql);
    const side = workOrderSide(sql, registry, { settings: { ...(options.minGrade && { minGrade: options.minGrade }), ...options.settings } });
    let delivery = 0;
    /** Hands a change over as the outbox consumer does: once, under a delivery key of its own. */
    const deliver = (change = alertChange()) => side.service.handleChange(change, { key: `test:${++delivery}` });
    return { ...side, deliver, setClock: (t: number) => (side.clock.now = t) };
  }

  describe.skipIf(skip)('self-recovery: a fault gone before anyone acknowledged it', () => {
    const blip = (at: number) => alertChange({ ruleId: 'room-blip', grade: 'minor', value: 22.3, at, transitions: [transition('fired', { grade: 'minor', ts: at })] });
    const blipResolved = (at: number, ts = at) => alertChange({ ruleId: 'room-blip', grade: 'minor', state: 'resolved', value: 20, at, transitions: [transition('resolved', { grade: 'minor', ts })] });

    it('closes a new work order as recovered by itself when its alert resolves, with the recovery time, and keeps it in the record', async () => {
      const { service, deliver, setClock } = await setup();
      await deliver(blip(T0));
      // Resolved 15 ms later (event time 3 min later, as a backfill replays it).
      setClock(T0 + 15);
      await deliver(blipResolved(T0 + 15, T0 + 3 * MIN));
      const [wo] = await service.list({});
      expect(wo).toMatchObject({ status: 'closed', alertState: 'resolved', resolvedAt: T0 + 15, resolvedBy: 'system', closedAt: T0 + 15, closedBy: 'system', resolution: SELF_RECOVERED_RESOLUTION });
      expect(wo!.satisfaction).toBeUndefined();
      const timeline = await service.timeline(wo!.id);
      expect(timeline.map((e) => [e.kind, e.from, e.to])).toEqual([
        ['created', undefined, 'new'],
        ['transition', 'new', 'closed'],
      ]);
      expect(timeline[1]).toMatchObject({ actor: 'system', data: { action: 'self_recovered', recoveredAt: T0 + 3 * MIN } });
      expect(timeline[1]!.note).toContain('2026-11-20 10:03');
      expect(await service.list({ status: ['closed'] })).toHaveLength(1);
    });

    it('a self-recovered work order starts no cooldown: the fault coming back opens a new one', async () => {
      const { service, deliver, setClock } = await setup();
      await deliver(blip(T0));
      await deliver(blipResolved(T0 + MIN));
      setClock(T0 + HOUR);
      await deliver(blip(T0 + HOUR));
      const all = await service.list({});
      expect(all.map((w) => w.status)).toEqual(['new', 'closed']);
      expect((await service.timeline(all[1]!.id)).map((e) => e.kind)).not.toContain('suppressed_refire');
      // Reconciliation agrees: a firing alert whose last work order closed itself wants a new one.
      setClock(T0 + 2 * HOUR);
      await deliver(blipResolved(T0 + 2 * HOUR));
      expect(await service.wantsWorkOrder(blip(T0 + 3 * HOUR), T0 + 3 * HOUR)).toBe(true);
    });

    it('a work order acknowledged between the read and the close stays acknowledged, not closed by the system', async () => {
      const { sql, registry } = await openDatabase(target!);
      databases.push(sql);
      let raced = false;
      const side: ReturnType<typeof workOrderSide> = workOrderSide(sql, registry, {
        wrapStore: (store) =>
          Object.assign(Object.create(store) as typeof store, {
            async update(...args: Parameters<typeof store.update>) {
              if (!raced && args[2].status === 'closed') {
                // An engineer acknowledges it just before the system's close lands.
                raced = true;
                const wo = await store.get(args[0]);
                await side.service.transition(wo!.number, { action: 'acknowledge' }, 'engineer-li');
              }
              return store.update(...args);
            },
          }),
      });
      await side.service.handleChange(blip(T0), { key: 'race:1' });
      await side.service.handleChange(blipResolved(T0 + MIN), { key: 'race:2' });
      expect(raced).toBe(true);
      const [wo] = await side.service.list({});
      expect(wo).toMatchObject({ status: 'acknowledged', alertState: 'resolved', resolutionSuggestedAt: T0 + MIN });
      expect(wo!.closedBy).toBeUndefined();
      const kinds = (await side.service.timeline(wo!.id)).map((e) => [e.kind, e.to]);
      expect(kinds).not.toContainEqual(['transition', 'closed']);
      expect(kinds.at(-1)).toEqual(['alert_resolved', undefined]);
    });

    it('a work order someone acknowledged waits for a person, as does one above the configured grade', async () => {
      const { service, deliver } = await setup();
      await deliver(blip(T0));
      const [wo] = await service.list({});
      await service.transition(wo!.number, { action: 'acknowledge' }, 'engineer-li');
      await deliver(blipResolved(T0 + MIN));
      expect(await service.get(wo!.number)).toMatchObject({ status: 'acknowledged', alertState: 'resolved', resolutionSuggestedAt: T0 + MIN });
      // Severe is above the default (general): the resolve is a note, a person decides.
      await deliver(alertChange({ grade: 'severe', transitions: [transition('fired', { grade: 'severe' })] }));
      await deliver(alertChange({ grade: 'severe', state: 'resolved', transitions: [transition('resolved', { grade: 'severe' })], at: T0 + MIN }));
      const [severe] = await service.list({ identity: 'MR-1/helium-low' });
      expect(severe).toMatchObject({ status: 'new', alertState: 'resolved' });
      expect((await service.timeline(severe!.id)).map((e) => e.kind)).toEqual(['created', 'alert_resolved']);
    });

    it('is configured by grade: up to severe closes severe ones; none closes nothing', async () => {
      const severe = await setup({ settings: { closeRecovered: 'severe' } });
      await severe.deliver(alertChange({ grade: 'severe', transitions: [transition('fired', { grade: 'severe' })] }));
      await severe.deliver(alertChange({ grade: 'severe', state: 'resolved', transitions: [transition('resolved', { grade: 'severe' })], at: T0 + MIN }));
      expect((await severe.service.list({}))[0]).toMatchObject({ status: 'closed', closedBy: 'system' });
      const none = await setup({ settings: { closeRecovered: 'none' } });
      await none.deliver(blip(T0));
      await none.deliver(blipResolved(T0 + MIN));
      expect((await none.service.list({}))[0]).toMatchObject({ status: 'new', alertState: 'resolved' });
    });
  });

  describe.skipIf(skip)('opened by alert changes', () => {
    it('a planned work order is due by the nearer forecast when its forecast escalates', async () => {
      const { service, deliver } = await setup();
      const forecast = (days: number) => ({ crossingAt: T0 + days * DAY, earliest: T0 + (days - 2) * DAY, latest: T0 + (days + 2) * DAY });
      await deliver(alertChange({ ruleId: 'helium-forecast', ruleKind: 'trend', grade: 'minor', forecast: forecast(25), transitions: [transition('fired', { grade: 'minor' })] }));
      await deliver(alertChange({ ruleId: 'helium-forecast', ruleKind: 'trend', grade: 'general', forecast: forecast(10), transitions: [transition('escalated', { grade: 'general' })], at: T0 + DAY }));
      const [wo] = await service.list({});
      expect(wo).toMatchObject({ kind: 'planned', grade: 'general', plannedDueAt: T0 + 8 * DAY });
    });

    it('one per fault: firing again adds to the timeline, escalation raises the grade, resolution is suggested but a person resolves', async () => {
      const { service, deliver } = await setup();
      await deliver(alertChange());
      let [wo] = await service.list({});
      expect(wo).toMatchObject({ channel: 'auto', kind: 'corrective', status: 'new', grade: 'general', faultType: 'cryogenics', identity: 'MR-1/helium-low', reportedBy: 'system', reportedAt: T0, faultAt: T0 });
      expect(wo!.number).toMatch(/^WO-202611-0001$/);
      expect(wo!.device).toMatchObject({ vendor: 'Siemens', model: 'Avanto', installDate: '2019-05-01', location: { department: '放射科', room: '105' } });
      expect(wo!.title).toBe('MR-1 液氦 59%（触发时 2026-11-20 10:00）');
      // Escalates to severe: same work order, grade raised.
      await deliver(alertChange({ grade: 'severe', value: 49, transitions: [transition('escalated', { grade: 'severe' })], at: T0 + 5 * MIN }));
      expect(await service.list({})).toHaveLength(1);
      [wo] = await service.list({});
      expect(wo!.grade).toBe('severe');
      // The title follows the escalation, saying when: not the figures of the raising under a severe grade.
      expect(wo!.title).toBe('MR-1 液氦 49%（升级时 2026-11-20 10:00）');
      expect(wo!.phenomenon).toBe('MR-1 液氦 49%（升级时 2026-11-20 10:00）\nMR-1 helium 49% (at escalation, 2026-11-20 10:00)');
      // Resolves: suggested, not resolved.
      await deliver(alertChange({ state: 'resolved', value: 80, transitions: [transition('resolved')], at: T0 + 10 * MIN }));
      [wo] = await service.list({});
      expect(wo).toMatchObject({ status: 'new', alertState: 'resolved', resolutionSuggestedAt: T0 + 10 * MIN });
      // Fires again while the work order is still open: added to it.
      await deliver(alertChange({ value: 58, at: T0 + 11 * MIN }));
      expect(await service.list({})).toHaveLength(1);
      const timeline = await service.timeline(wo!.id);
      expect(timeline.map((e) => e.kind)).toEqual(['created', 'alert_escalated', 'alert_resolved', 'alert_refired']);
    });

    it('a cooldown after closing keeps a flapping fault from opening new work orders; after it a new one opens', async () => {
      const { service, deliver, setClock } = await setup();
      await deliver(alertChange());
      const [wo] = await service.list({});
      for (const action of ['acknowledge', 'respond', 'start', 'resolve', 'close'] as const) {
        await service.transition(wo!.number, { action, mode: 'remote', resolution: '补充液氦', satisfaction: 5 }, 'engineer-li');
      }
      setClock(T0 + HOUR);
      await deliver(alertChange({ at: T0 + HOUR }));
      expect(await service.list({})).toHaveLength(1);
      expect((await service.timeline(wo!.id)).at(-1)?.kind).toBe('suppressed_refire');
      setClock(T0 + 8 * HOUR);
      await deliver(alertChange({ at: T0 + 8 * HOUR }));
      const all = await service.list({});
      expect(all).toHaveLength(2);
      expect(all[0]!.number).toBe('WO-202611-0002');
    });

    it('the cooldown counts to when the alert fired, not to when its change was handled', async () => {
      const { service, deliver, setClock } = await setup();
      await deliver(alertChange());
      const [wo] = await service.list({});
      await service.transition(wo!.number, { action: 'cancel', note: '误报' }, 'supervisor-chen');
      // Fired 5 h after the cancellation, handled 7 h after it (the outbox waited): within the 6 h cooldown.
      setClock(T0 + 7 * HOUR);
      await deliver(alertChange({ at: T0 + 5 * HOUR }));
      expect(await service.list({})).toHaveLength(1);
      expect((await service.timeline(wo!.id)).at(-1)?.kind).toBe('suppressed_refire');
    });

    it('a resolved work order whose fault fires again goes back to in progress', async () => {
      const { service, deliver } = await setup();
      await deliver(alertChange());
      const [wo] = await service.list({});
      for (const action of ['acknowledge', 'respond', 'start', 'resolve'] as const) await service.transition(String(wo!.id), { action, mode: 'on_site', resolution: '更换液位计' }, 'engineer-li');
      await deliver(alertChange({ state: 'resolved', transitions: [transition('resolved')], at: T0 + MIN }));
      await deliver(alertChange({ at: T0 + 2 * MIN }));
      const [again] = await service.list({});
      expect(again).toMatchObject({ id: wo!.id, status: 'in_progress', alertState: 'firing' });
      expect(again!.resolvedAt).toBeUndefined();
    });

    it('a forecast of a trend rule opens a planned work order due before the earliest crossing', async () => {
      const { service, deliver } = await setup();
      const forecast = { crossingAt: T0 + 6 * DAY, earliest: T0 + 5 * DAY, latest: T0 + 8 * DAY };
      await deliver(alertChange({ ruleId: 'helium-forecast', ruleKind: 'trend', grade: 'severe', transitions: [transition('fired', { grade: 'severe' })], forecast }));
      // A trend change without a forecast opens a corrective one.
      await deliver(alertChange({ ruleId: 'helium-trend-no-forecast', ruleKind: 'trend' }));
      const planned = (await service.list({})).find((w) => w.kind === 'planned');
      expect(planned).toMatchObject({ grade: 'severe', identity: 'MR-1/helium-forecast', faultType: 'cryogenics', plannedDueAt: T0 + 5 * DAY });
      expect(service.clocks(planned!).map((c) => c.name)).toEqual(['planned']);
      expect((await service.list({ identity: 'MR-1/helium-trend-no-forecast' }))[0]?.kind).toBe('corrective');
    });

    it('silenced alerts open no work order; the change’s fault type sets the repair target', async () => {
      const { service, deliver } = await setup();
      await deliver(alertChange({ silencedBy: 'maintenance' }));
      expect(await service.list({})).toEqual([]);
      await deliver(alertChange({ ruleId: 'shield-high', faultType: 'detector', grade: 'severe', transitions: [transition('fired', { grade: 'severe' })] }));
      const [wo] = await service.list({});
      expect(wo).toMatchObject({ faultType: 'detector', grade: 'severe' });
      expect(service.clocks(wo!).find((c) => c.name === 'repair')?.dueAt).toBe(wo!.reportedAt + 48 * HOUR);
    });

    it('alerts below the minimum grade and alerts of unregistered devices open none', async () => {
      const { service, deliver } = await setup({ minGrade: 'severe' });
      await deliver(alertChange());
      await deliver(alertChange({ deviceId: 'CT-404', grade: 'emergency', transitions: [transition('fired', { grade: 'emergency' })] }));
      expect(await service.list({})).toEqual([]);
    });

    it('the same delivery handled twice applies nothing twice: no second work order, no second note, no second grade change', async () => {
      const { service, store } = await setup();
      const fired = alertChange();
      await service.handleChange(fired, { key: 'd1' });
      await service.handleChange(fired, { key: 'd1' });
      const escalated = alertChange({ grade: 'severe', transitions: [transition('escalated', { grade: 'severe' })], at: T0 + MIN });
      await service.handleChange(escalated, { key: 'd2' });
      await service.handleChange(escalated, { key: 'd2' });
      const [wo] = await service.list({});
      expect(await service.list({})).toHaveLength(1);
      expect((await service.timeline(wo!.id)).map((e) => e.kind)).toEqual(['created', 'alert_escalated']);
      expect(wo!.version).toBe(2);
      // A person closes it; the first delivery comes round once more (a crash before it was marked
      // consumed): no suppressed refire either.
      for (const action of ['acknowledge', 'respond', 'start', 'resolve', 'close'] as const) {
        await service.transition(wo!.number, { action, mode: 'remote', resolution: '补充液氦', satisfaction: 5 }, 'engineer-li');
      }
      await service.handleChange(fired, { key: 'd1' });
      expect((await service.timeline(wo!.id)).filter((e) => e.actor === 'system').map((e) => e.kind)).toEqual(['created', 'alert_escalated']);
      expect(await store.hasEvent('d1#0')).toBe(true);
    });

    it('a change of two transitions whose first was applied before a crash applies only the second', async () => {
      const { service } = await setup();
      const first = alertChange();
      await service.handleChange(first, { key: 'd1' });
      const both = alertChange({ grade: 'severe', transitions: [transition('fired', { grade: 'general' }), transition('escalated', { grade: 'severe' })] });
      await service.handleChange(both, { key: 'd1' });
      const [wo] = await service.list({});
      expect(wo!.grade).toBe('severe');
      expect((await service.timeline(wo!.id)).map((e) => e.kind)).toEqual(['created', 'alert_escalated']);
    });

    it('two handlings of one delivery at the same moment record it once (the unique key decides)', async () => {
      const { service } = await setup();
      const fired = alertChange();
      await Promise.all([service.handleChange(fired, { key: 'd1' }), service.handleChange(fired, { key: 'd1' })]);
      const all = await service.list({});
      expect(all).toHaveLength(1);
      expect((await service.timeline(all[0]!.id)).map((e) => e.kind)).toEqual(['created']);
    });
  });

  describe.skipIf(skip)('moved by people', () => {
    it('only allowed transitions succeed, each is audited, and clocks breach on wall time', async () => {
      const { service, setClock } = await setup();
      setClock(T0);
      const wo = await service.create(
        { deviceId: 'MR-1', channel: 'hotline', grade: 'emergency', title: '磁体失超风险', phenomenon: '氦压力持续升高', reporter: { name: '王工', phone: '13800000000', department: '设备科' } },
        'dispatcher-zhang',
      );
      expect(wo).toMatchObject({ channel: 'hotline', reporter: { name: '王工', department: '设备科' }, reportedBy: 'dispatcher-zhang' });
      const error = await service.transition(wo.number, { action: 'close', satisfaction: 5 }, 'x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkOrderError);
      expect(error).toMatchObject({ status: 409, details: { status: 'new', allowedActions: ['notify', 'acknowledge', 'cancel'] } });
      await expect(service.transition(wo.number, { action: 'cancel' }, 'x')).rejects.toMatchObject({ status: 400, code: 'note_required' });
      // Notified after 30 s; nobody acknowledges: after 5½ minutes the acknowledge clock breaches.
      setClock(T0 + 30_000);
      await service.transition(wo.number, { action: 'notify' }, 'dispatcher-zhang');
      setClock(T0 + 6 * MIN);
      const breaches = await service.checkBreaches();
      expect(breaches.map((b) => b.clock.name)).toEqual(['acknowledge']);
      expect(await service.checkBreaches()).toEqual([]);
      setClock(T0 + 7 * MIN);
      await service.assign(wo.number, 'engineer-li', 'supervisor-chen');
      await service.transition(wo.number, { action: 'acknowledge', note: '已接单' }, 'engineer-li');
      const after = await service.get(wo.number);
      expect(after).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'engineer-li', handoverConfirmedAt: T0 + 7 * MIN });
      const timeline = await service.timeline(wo.id);
      expect(timeline.map((e) => `${e.kind}:${e.actor}:${e.from ?? ''}>${e.to ?? ''}`)).toEqual([
        'created:dispatcher-zhang:>new',
        'transition:dispatcher-zhang:new>notified',
        'clock_breached:system:>',
        'assigned:supervisor-chen:>',
        'transition:engineer-li:notified>acknowledged',
      ]);
    });
  });
});
