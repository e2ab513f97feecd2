/**
 * Work orders: opened by alerts (one open per fault identity, a cooldown after closing, planned
 * ones for forecasts), by people through the API (hotline, web, app, SMS, e-mail), moved through
 * the state machine by people, and watched by the response-time clocks. Every change is a
 * timeline entry with who, when, from, to and note.
 *
 * Alerts arrive as the engine's changes (`AlertChange`) from the outbox
 * (`alert-outbox-consumer.ts`), which carry all that is needed (fault type, rule kind, forecast,
 * silence, message, site): this feature does not read the rules.
 */
import type { Logger } from 'pino';
import { formatLocalMinute, messageAtRaising, type AlertChange, type AlertTransition } from '../kernel/alerts.js';
import { compareGrades, GRADES, type Grade } from '../kernel/grades.js';
import type { FaultType } from '../kernel/catalogue/fault-types.js';
import type { NoticeKind } from '../kernel/notices.js';
import type { RegisteredDevice } from '../kernel/device.js';
import type { DeviceDirectory } from '../kernel/ports/device-directory.js';
import { DEFAULT_CLOCK_POLICY, workOrderClocks, type ClockPolicy, type ClockStatus } from './clocks.js';
import { applyAction, isOpen, type WorkOrderAction, type WorkOrderState } from './state-machine.js';
import type { Breach, Channel, DeviceSnapshot, NewEvent, Reporter, ResponseMode, WorkOrder, WorkOrderEvent, WorkOrderFilter, WorkOrderKind, WorkOrderPatch, WorkOrderStore } from './types.js';

export const SYSTEM_ACTOR = 'system';

export interface WorkOrderSettings {
  /** After a work order of a fault closes, the same fault firing again within this adds to it instead of opening a new one. */
  readonly cooldownMs: number;
  /** Alerts below this grade open no work order (they are still listed as alerts). */
  readonly minGrade: Grade;
  /**
   * Self-recovery: a work order of this grade or below that nobody has acknowledged yet (new or
   * notified) is closed by the system when its alert resolves, as recovered by itself, with the
   * recovery time and a timeline entry; it stays in the record and starts no cooldown. More
   * serious ones wait for a person. `none`: every work order waits for a person.
   */
  readonly closeRecovered: Grade | 'none';
  readonly clocks: ClockPolicy;
}

export const DEFAULT_WORK_ORDER_SETTINGS: WorkOrderSettings = { cooldownMs: 12 * 3_600_000, minGrade: 'minor', closeRecovered: 'general', clocks: DEFAULT_CLOCK_POLICY };

/** What a self-recovered work order's resolution says. */
export const SELF_RECOVERED_RESOLUTION = '自行恢复：确认前告警已恢复 / recovered by itself before anyone acknowledged it';

/** Closed by the system because its alert recovered before anyone acknowledged it. */
export function isSelfRecovered(workOrder: Pick<WorkOrder, 'status' | 'closedBy'>): boolean {
  return workOrder.status === 'closed' && workOrder.closedBy === SYSTEM_ACTOR;
}

export class WorkOrderError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    readonly code: string,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = 'WorkOrderError';
  }
}

/** A breach of a response-time clock, as announced to listeners (escalation). */
export interface BreachEvent {
  readonly workOrder: WorkOrder;
  readonly clock: ClockStatus;
}

export interface ManualWorkOrderInput {
  readonly deviceId: string;
  readonly channel: Exclude<Channel, 'auto'>;
  readonly grade: Grade;
  readonly title: string;
  readonly phenomenon: string;
  readonly alarmCodes?: readonly string[];
  readonly faultType?: FaultType;
  readonly faultAt?: number;
  readonly reporter: Reporter;
}

export interface TransitionInput {
  readonly action: WorkOrderAction;
  readonly note?: string;
  readonly mode?: ResponseMode;
  readonly resolution?: string;
  readonly satisfaction?: number;
  readonly comment?: string;
  /** How the person acted, when not through the API (e.g. `link`: the acknowledge link in a message), recorded in the timeline. */
  readonly channel?: string;
}

/** How a change reached the service. */
export interface ChangeDelivery {
  /**
   * Names the delivery (the change's id, or the outbox row's for a change stored without one):
   * each transition's timeline entry is recorded under `${key}#${index}`, so handling the same
   * change again applies nothing twice.
   */
  readonly key?: string;
  /**
   * Made by reconciliation for a firing alert without a work order: it opens one if one is still
   * wanted and otherwise records nothing (no refire note, no cooldown note).
   */
  readonly reconciled?: boolean;
}

export function deviceSnapshot(device: RegisteredDevice): DeviceSnapshot {
  return {
    modality: device.modality,
    vendor: device.vendor,
    model: device.model,
    ...(device.serial && { serial: device.serial }),
    ...(device.installDate && { installDate: device.installDate }),
    ...(device.name && { name: device.name }),
    ...(device.location && { location: device.location }),
  };
}

const OPENING: ReadonlySet<string> = new Set(['fired', 'restored']);

/**
 * When an alert last fired in a way that opens a work order, as its change tells it: the wall
 * time (`at`, or the transition's time if later) of a change with a fired or restored transition
 * to firing; for a change without one (an escalation of an alert already firing) the time its
 * condition became active; undefined when neither is known.
 */
export function lastFiredAt(change: AlertChange): number | undefined {
  let firedAt: number | undefined;
  for (const t of change.transitions) {
    if (t.to === 'firing' && OPENING.has(t.kind)) firedAt = Math.max(firedAt ?? Number.NEGATIVE_INFINITY, t.ts, change.at);
  }
  return firedAt ?? change.activeAt;
}
const OPEN_STATES: readonly WorkOrderState[] = ['new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold'];

export class WorkOrderService {
  private readonly breachListeners: Array<(event: BreachEvent) => void> = [];

  constructor(
    private readonly options: {
      store: WorkOrderStore;
      registry: DeviceDirectory;
      logger: Logger;
      now?: () => number;
      settings?: Partial<WorkOrderSettings>;
    },
  ) {}

  private get settings(): WorkOrderSettings {
    return { ...DEFAULT_WORK_ORDER_SETTINGS, ...this.options.settings };
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private timeZone(siteId: string): string {
    return this.options.registry.getSite(siteId)?.timezone ?? 'Asia/Shanghai';
  }

  onBreach(listener: (event: BreachEvent) => void): void {
    this.breachListeners.push(listener);
  }

  /** Whether an unacknowledged work order of this grade closes itself when its alert resolves (`workOrders.closeRecovered`). */
  closesRecovered(grade: Grade): boolean {
    const upTo = this.settings.closeRecovered;
    return upTo !== 'none' && compareGrades(grade, upTo) <= 0;
  }

  /** Whether a grade opens work orders (`workOrders.minGrade`). */
  opensWorkOrders(grade: Grade | undefined): grade is Grade {
    return grade !== undefined && compareGrades(grade, this.settings.minGrade) >= 0;
  }

  /**
   * Whether a firing alert lacks the work order the normal path would have given it: reconciliation
   * asks this of every firing alert with no change waiting. Yes when it is firing, not silenced, of
   * a grade that opens work orders, its device is registered, and its fault identity has no work
   * order, or its latest one is closed or cancelled, the alert fired (`firedAt`, by default
   * `lastFiredAt(change)`) after it was closed or cancelled, and the cooldown (counted to `at`) is
   * over, or is resolved while it had heard the alert resolve (the change that fired it again was
   * lost). An open work order, one a person resolved while the alert still fired, one closed or
   * cancelled while the alert kept firing (a duplicate report, a fault the hospital lives with),
   * or a cooldown still running is left alone, as the normal path leaves them: only a firing that
   * opens a work order does so, and one that never stopped does not fire again.
   */
  async wantsWorkOrder(change: AlertChange, at = change.at, firedAt = lastFiredAt(change)): Promise<boolean> {
    if (change.state !== 'firing' || change.silencedBy !== undefined || !this.opensWorkOrders(change.grade)) return false;
    if (!this.options.registry.get(change.deviceId)) return false;
    const latest = await this.options.store.latestForIdentity(change.identity);
    if (!latest) return true;
    if (isOpen(latest.status)) return false;
    if (latest.status === 'resolved') return latest.alertState === 'resolved';
    const endedAt = latest.closedAt ?? latest.cancelledAt ?? latest.updatedAt;
    if (firedAt === undefined || firedAt <= endedAt) return false;
    return !this.inCooldown(latest, at);
  }

  /** Whether a work order's closing holds back a new one: not when it closed itself as self-recovered. */
  private inCooldown(workOrder: WorkOrder, at: number): boolean {
    if (isSelfRecovered(workOrder)) return false;
    const endedAt = workOrder.closedAt ?? workOrder.cancelledAt ?? workOrder.updatedAt;
    return at - endedAt < this.settings.cooldownMs;
  }

  /**
   * Applies an alert's change to the work order of its fault identity, transition by transition.
   * Changes of one identity must come in order, one at a time (the outbox consumer sees to it).
   * With a delivery key each transition's effect is recorded together with its keyed timeline
   * entry, and a transition whose entry is recorded already is skipped: a change handled twice (a
   * crash between handling it and marking it consumed) opens no second work order and raises no
   * grade twice. Times: the report time and the alert's notes are the change's wall time (`at`),
   * so a change that waited in the outbox still starts the clocks when the fault was detected.
   */
  async handleChange(change: AlertChange, delivery: ChangeDelivery = {}): Promise<void> {
    const device = this.options.registry.get(change.deviceId);
    if (!device) {
      this.options.logger.warn({ device: change.deviceId, rule: change.ruleId }, 'alert change of an unregistered device; no work order');
      return;
    }
    for (const [index, t] of change.transitions.entries()) {
      if (!t.notify) continue;
      const key = delivery.key === undefined ? undefined : `${delivery.key}#${index}`;
      if (key !== undefined && (await this.options.store.hasEvent(key))) continue;
      try {
        await this.applyTransition(change, t, device, key, delivery.reconciled === true);
      } catch (error) {
        // Recorded by an earlier handling of the same change that raced this one: applied once.
        if ((error as Error).name !== 'DuplicateEventError') throw error;
      }
    }
  }

  private async applyTransition(change: AlertChange, t: AlertTransition, device: RegisteredDevice, key: string | undefined, reconciled: boolean): Promise<void> {
    const { store, logger } = this.options;
    const identity = change.identity;
    const at = change.at;
    const now = this.now();
    const grade = t.grade ?? change.grade;
    const data = { alert: change.ruleId, grade, value: change.value, transition: t.kind, alertAt: at, ...(reconciled && { reconciled: true }) };
    const keyed = key === undefined ? {} : { key };
    const fields = { device: change.deviceId, rule: change.ruleId, grade };
    if (OPENING.has(t.kind) && t.to === 'firing') {
      if (!this.opensWorkOrders(grade)) return;
      // A synthetic change's transition carries when the alert last fired (`lastFiredAt`), its `at` when it was made.
      if (reconciled && !(await this.wantsWorkOrder({ ...change, grade }, at, t.ts))) return;
      if (change.silencedBy !== undefined) {
        // Maintenance window: evaluated and listed, but nobody is sent out.
        const open = await store.list({ identity, status: OPEN_STATES });
        if (open[0]) await store.addEvents(open[0].id, [{ ts: now, actor: SYSTEM_ACTOR, kind: 'alert_silenced', note: change.message.zh, data: { ...data, silence: change.silencedBy }, ...keyed }]);
        return;
      }
      const latest = await store.latestForIdentity(identity);
      if (latest?.status === 'resolved') {
        // The fix did not hold: the same work order goes back to work.
        await this.change(latest, { status: 'in_progress', alertState: 'firing', grade: moreSerious(latest.grade, grade), resolvedAt: null, resolvedBy: null, feedbackAt: null, resolutionSuggestedAt: null, updatedAt: now }, [
          { ts: now, actor: SYSTEM_ACTOR, kind: 'transition', from: 'resolved', to: 'in_progress', note: `告警再次触发 / alert fired again: ${change.message.zh}`, data, notice: 'reopened', ...keyed },
        ]);
        logger.info({ ...fields, workOrder: latest.number, ...(reconciled && { reconciled: true }) }, 'resolved work order reopened: its alert fired again');
        return;
      }
      if (latest && (latest.status === 'closed' || latest.status === 'cancelled') && this.inCooldown(latest, at)) {
        await store.addEvents(latest.id, [{ ts: now, actor: SYSTEM_ACTOR, kind: 'suppressed_refire', note: `冷却期内再次触发，未新开工单 / fired again within the cooldown: ${change.message.zh}`, data, ...keyed }]);
        logger.info({ ...fields, workOrder: latest.number }, 'alert fired again within the work-order cooldown; added to the closed work order');
        return;
      }
      const forecast = change.forecast;
      const kind: WorkOrderKind = change.ruleKind === 'trend' && forecast ? 'planned' : 'corrective';
      // The alert's figures move on; the work order keeps what was seen when it was raised, and says so.
      const raised = messageAtRaising(change.message, this.timeZone(change.siteId), t.ts);
      const { created, workOrder } = await store.openForIdentity(
        {
          identity,
          kind,
          channel: 'auto',
          grade,
          siteId: change.siteId,
          deviceId: device.id,
          device: deviceSnapshot(device),
          faultType: change.faultType,
          title: raised.zh,
          phenomenon: `${raised.zh}\n${raised.en}`,
          alarmCodes: [change.ruleId],
          ruleId: change.ruleId,
          faultAt: change.activeAt ?? t.ts,
          reportedAt: at,
          reportedBy: SYSTEM_ACTOR,
          alertState: 'firing',
          ...(kind === 'planned' && forecast && { plannedDueAt: forecast.earliest }),
        },
        { ts: now, actor: SYSTEM_ACTOR, kind: 'created', to: 'new', note: change.message.zh, data, notice: 'opened', ...keyed },
        this.timeZone(change.siteId),
      );
      if (created) {
        if (reconciled) logger.warn({ ...fields, workOrder: workOrder.number, kind }, 'work order opened by reconciliation: its alert was firing without one');
        else logger.info({ ...fields, workOrder: workOrder.number, kind }, 'work order opened by an alert');
      } else if (!reconciled) {
        // Firing again at a more serious grade than the open work order's calls people again.
        const raised = compareGrades(grade, workOrder.grade) > 0;
        await this.change(workOrder, { alertState: 'firing', grade: moreSerious(workOrder.grade, grade), resolutionSuggestedAt: null, updatedAt: now }, [
          { ts: now, actor: SYSTEM_ACTOR, kind: 'alert_refired', note: change.message.zh, data, ...(raised && { notice: 'escalated' as const }), ...keyed },
        ]);
      }
      return;
    }
    const open = (await store.list({ identity })).find((w) => isOpen(w.status) || w.status === 'resolved');
    if (!open) return;
    const alertResolvedEvent = (): NewEvent => ({
      ts: now,
      actor: SYSTEM_ACTOR,
      kind: 'alert_resolved',
      note: '告警已恢复，建议核实后解决工单 / the alert resolved; confirm and resolve the work order',
      data,
      notice: 'recovered',
      ...keyed,
    });
    if (t.kind === 'escalated' && grade) {
      // The title follows the escalation, saying when; a planned work order is due by the nearer forecast.
      const raisedTo = compareGrades(grade, open.grade) > 0;
      const escalated = messageAtRaising(change.message, this.timeZone(change.siteId), t.ts, 'escalated');
      const due = open.kind === 'planned' && change.forecast && open.plannedDueAt !== undefined && change.forecast.earliest < open.plannedDueAt ? change.forecast.earliest : undefined;
      await this.change(
        open,
        { grade: moreSerious(open.grade, grade), ...(raisedTo && { title: escalated.zh, phenomenon: `${escalated.zh}\n${escalated.en}` }), ...(due !== undefined && { plannedDueAt: due }), updatedAt: now },
        [{ ts: now, actor: SYSTEM_ACTOR, kind: 'alert_escalated', note: change.message.zh, data, ...(raisedTo && { notice: 'escalated' as const }), ...keyed }],
      );
    } else if (t.kind === 'resolved' && (open.status === 'new' || open.status === 'notified') && this.closesRecovered(open.grade)) {
      // Nobody has acknowledged it and the fault is gone: closed as recovered by itself, kept in the record.
      const recovered = formatLocalMinute(this.timeZone(change.siteId), t.ts);
      const closed = await this.change(
        open,
        { status: 'closed', alertState: 'resolved', resolvedAt: at, resolvedBy: SYSTEM_ACTOR, resolution: SELF_RECOVERED_RESOLUTION, closedAt: now, closedBy: SYSTEM_ACTOR, updatedAt: now },
        [
          {
            ts: now,
            actor: SYSTEM_ACTOR,
            kind: 'transition',
            from: open.status,
            to: 'closed',
            note: `自行恢复：告警于 ${recovered} 恢复，确认前已消失，工单自动关闭 / recovered by itself: the alert resolved at ${recovered}, before anyone acknowledged it; closed automatically`,
            data: { ...data, action: 'self_recovered', recoveredAt: t.ts },
            notice: 'recovered',
            ...keyed,
          },
        ],
        // Only while nobody has acknowledged it: someone who did in the meantime decides now.
        (fresh) => fresh.status === 'new' || fresh.status === 'notified',
      );
      if (!closed) {
        logger.info({ ...fields, workOrder: open.number }, 'work order not closed as recovered: someone acknowledged it in the meantime');
        const fresh = await store.get(open.id);
        if (fresh) await this.change(fresh, { alertState: 'resolved', resolutionSuggestedAt: at, updatedAt: now }, [alertResolvedEvent()]);
        return;
      }
      logger.info({ ...fields, workOrder: open.number, recoveredAt: new Date(t.ts).toISOString() }, 'work order closed: its alert recovered before anyone acknowledged it');
    } else if (t.kind === 'resolved') {
      // The alert cleared; a person decides whether the fault is fixed.
      await this.change(open, { alertState: 'resolved', resolutionSuggestedAt: at, updatedAt: now }, [alertResolvedEvent()]);
    } else {
      await store.addEvents(open.id, [{ ts: now, actor: SYSTEM_ACTOR, kind: `alert_${t.kind}`, note: change.message.zh, data, ...keyed }]);
    }
  }

  /**
   * Updates with optimistic concurrency, re-reading once if someone else changed it first. A change
   * decided on what the work order was (its status, say) passes `guard`: on a conflict the re-read
   * row must still satisfy it, or the change is skipped (undefined) rather than applied to a work
   * order that moved on in between.
   */
  private async change(workOrder: WorkOrder, patch: WorkOrderPatch, events: readonly NewEvent[]): Promise<WorkOrder>;
  private async change(workOrder: WorkOrder, patch: WorkOrderPatch, events: readonly NewEvent[], guard: (fresh: WorkOrder) => boolean): Promise<WorkOrder | undefined>;
  private async change(workOrder: WorkOrder, patch: WorkOrderPatch, events: readonly NewEvent[], guard?: (fresh: WorkOrder) => boolean): Promise<WorkOrder | undefined> {
    try {
      return await this.options.store.update(workOrder.id, workOrder.version, patch, events);
    } catch (error) {
      if ((error as Error).name !== 'WorkOrderConflictError') throw error;
      const fresh = await this.options.store.get(workOrder.id);
      if (!fresh) throw error;
      if (guard && !guard(fresh)) return undefined;
      return this.options.store.update(fresh.id, fresh.version, patch, events);
    }
  }

  async create(input: ManualWorkOrderInput, actor: string): Promise<WorkOrder> {
    const device = this.options.registry.get(input.deviceId);
    if (!device) throw new WorkOrderError(400, 'unknown_device', `device ${input.deviceId} is not registered`);
    const now = this.now();
    const workOrder = await this.options.store.create(
      {
        kind: 'corrective',
        channel: input.channel,
        grade: input.grade,
        siteId: device.site,
        deviceId: device.id,
        device: deviceSnapshot(device),
        faultType: input.faultType ?? 'other',
        title: input.title,
        phenomenon: input.phenomenon,
        alarmCodes: input.alarmCodes ?? [],
        reporter: input.reporter,
        faultAt: input.faultAt ?? now,
        reportedAt: now,
        reportedBy: actor,
      },
      { ts: now, actor, kind: 'created', to: 'new', note: input.title, data: { channel: input.channel }, notice: 'opened' },
      this.timeZone(device.site),
    );
    this.options.logger.info({ workOrder: workOrder.number, channel: input.channel, grade: input.grade, device: device.id, actor }, 'work order opened');
    return workOrder;
  }

  async get(idOrNumber: string): Promise<WorkOrder> {
    const workOrder = await this.options.store.get(idOrNumber);
    if (!workOrder) throw new WorkOrderError(404, 'not_found', `no work order ${idOrNumber}`);
    return workOrder;
  }

  list(filter: WorkOrderFilter): Promise<WorkOrder[]> {
    return this.options.store.list(filter);
  }

  breaches(filter: { site?: string; from?: number; to?: number }): Promise<Breach[]> {
    return this.options.store.breaches(filter);
  }

  timeline(id: number): Promise<WorkOrderEvent[]> {
    return this.options.store.timeline(id);
  }

  clocks(workOrder: WorkOrder, now = this.now()): ClockStatus[] {
    return workOrderClocks({ ...workOrder, timeZone: this.timeZone(workOrder.siteId) }, now, this.settings.clocks);
  }

  /** Applies an action of the state machine; 409 with the allowed actions when it may not. */
  async transition(idOrNumber: string, input: TransitionInput, actor: string): Promise<WorkOrder> {
    const workOrder = await this.get(idOrNumber);
    const result = applyAction(workOrder.status, input.action);
    if (!result.ok) {
      throw new WorkOrderError(409, 'transition_not_allowed', `a work order that is ${workOrder.status} cannot be ${input.action}d; allowed: ${result.allowed.join(', ') || 'none'}`, {
        status: workOrder.status,
        allowedActions: result.allowed,
      });
    }
    const now = this.now();
    const patch: { -readonly [K in keyof WorkOrderPatch]: WorkOrderPatch[K] } = { status: result.to, updatedAt: now };
    switch (input.action) {
      case 'notify':
        patch.notifiedAt = now;
        break;
      case 'acknowledge':
        patch.acknowledgedAt = now;
        patch.acknowledgedBy = actor;
        break;
      case 'respond':
        if (!input.mode) throw new WorkOrderError(400, 'mode_required', 'respond needs mode: remote or on_site');
        patch.respondedAt = now;
        patch.respondedBy = actor;
        patch.responseMode = input.mode;
        break;
      case 'start':
        patch.startedAt = workOrder.startedAt ?? now;
        patch.startedBy = workOrder.startedBy ?? actor;
        break;
      case 'resolve':
        if (!input.resolution && !input.note) throw new WorkOrderError(400, 'resolution_required', 'resolve needs resolution: what was done');
        patch.resolvedAt = now;
        patch.resolvedBy = actor;
        patch.resolution = input.resolution ?? input.note!;
        break;
      case 'close':
        if (input.satisfaction === undefined) throw new WorkOrderError(400, 'satisfaction_required', 'close needs satisfaction: 1 (poor) to 5 (excellent), from the hospital');
        patch.closedAt = now;
        patch.closedBy = actor;
        patch.satisfaction = input.satisfaction;
        if (input.comment ?? input.note) patch.satisfactionComment = input.comment ?? input.note!;
        break;
      case 'cancel':
        if (!input.note) throw new WorkOrderError(400, 'note_required', 'cancel needs a note: why');
        patch.cancelledAt = now;
        patch.cancelledBy = actor;
        break;
      case 'reopen':
        patch.resolvedAt = null;
        patch.resolvedBy = null;
        patch.feedbackAt = null;
        break;
      default:
        break;
    }
    if (workOrder.assignee === actor && workOrder.assignedAt !== undefined && workOrder.handoverConfirmedAt === undefined) patch.handoverConfirmedAt = now;
    if (workOrder.startedAt !== undefined || patch.startedAt !== undefined) patch.lastProgressAt = now;
    const event: NewEvent = {
      ts: now,
      actor,
      kind: 'transition',
      from: workOrder.status,
      to: result.to,
      ...(input.note && { note: input.note }),
      data: { action: input.action, ...(input.channel && { channel: input.channel }), ...(input.mode && { mode: input.mode }), ...(input.satisfaction !== undefined && { satisfaction: input.satisfaction }), ...(input.resolution && { resolution: input.resolution }) },
      ...(NOTICE_OF_ACTION[input.action] && { notice: NOTICE_OF_ACTION[input.action] }),
    };
    return this.update(workOrder, patch, [event]);
  }

  async assign(idOrNumber: string, assignee: string, actor: string, note?: string): Promise<WorkOrder> {
    const workOrder = await this.get(idOrNumber);
    if (!isOpen(workOrder.status) && workOrder.status !== 'resolved') throw new WorkOrderError(409, 'closed', `a ${workOrder.status} work order cannot be assigned`);
    const now = this.now();
    return this.update(workOrder, { assignee, assignedAt: now, handoverConfirmedAt: null, updatedAt: now }, [
      { ts: now, actor, kind: 'assigned', ...(note && { note }), data: { assignee, ...(workOrder.assignee && { previous: workOrder.assignee }) } },
    ]);
  }

  async comment(idOrNumber: string, actor: string, note: string, options: { feedback?: boolean } = {}): Promise<WorkOrder> {
    const workOrder = await this.get(idOrNumber);
    const now = this.now();
    const patch: { -readonly [K in keyof WorkOrderPatch]: WorkOrderPatch[K] } = { updatedAt: now };
    if (workOrder.startedAt !== undefined && isOpen(workOrder.status)) patch.lastProgressAt = now;
    if (options.feedback) patch.feedbackAt = workOrder.feedbackAt ?? now;
    if (workOrder.assignee === actor && workOrder.assignedAt !== undefined && workOrder.handoverConfirmedAt === undefined) patch.handoverConfirmedAt = now;
    return this.update(workOrder, patch, [{ ts: now, actor, kind: options.feedback ? 'feedback' : 'comment', note }]);
  }

  private async update(workOrder: WorkOrder, patch: WorkOrderPatch, events: readonly NewEvent[]): Promise<WorkOrder> {
    try {
      return await this.options.store.update(workOrder.id, workOrder.version, patch, events);
    } catch (error) {
      if ((error as Error).name === 'WorkOrderConflictError') throw new WorkOrderError(409, 'conflict', 'the work order was changed at the same time; reload and try again');
      throw error;
    }
  }

  /**
   * Finds clocks that are breached now and records each once; a new breach is logged as an
   * escalation, added to the timeline and announced to listeners.
   */
  async checkBreaches(): Promise<BreachEvent[]> {
    const now = this.now();
    const candidates = await this.options.store.list({ status: ['new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold', 'resolved'] });
    const found: BreachEvent[] = [];
    for (const workOrder of candidates) {
      for (const clock of this.clocks(workOrder, now)) {
        if (clock.state !== 'breached') continue;
        const fresh = await this.options.store.recordBreach({ workOrderId: workOrder.id, clock: clock.name, dueAt: clock.dueAt, detectedAt: now, grade: workOrder.grade, siteId: workOrder.siteId });
        if (!fresh) continue;
        this.options.logger.warn(
          { workOrder: workOrder.number, clock: clock.name, due: new Date(clock.dueAt).toISOString(), grade: workOrder.grade, site: workOrder.siteId, device: workOrder.deviceId },
          'work-order clock breached; escalation',
        );
        await this.options.store.addEvents(workOrder.id, [
          { ts: now, actor: SYSTEM_ACTOR, kind: 'clock_breached', note: `超时：${clock.label.zh} / overdue: ${clock.label.en}`, data: { clock: clock.name, dueAt: clock.dueAt } },
        ]);
        const event = { workOrder, clock };
        found.push(event);
        for (const listener of this.breachListeners) listener(event);
      }
    }
    return found;
  }
}

/** Actions people are told of: whoever was told of the fault hears it is resolved, and a reopened one calls again. */
const NOTICE_OF_ACTION: Partial<Record<WorkOrderAction, NoticeKind>> = { resolve: 'resolved', reopen: 'reopened' };

function moreSerious(a: Grade, b: Grade): Grade {
  return compareGrades(a, b) >= 0 ? a : b;
}

export const WORK_ORDER_GRADES = GRADES;
export type { WorkOrderState };
