/**
 * Work orders: opened by alerts (one open per fault identity, a cooldown after closing, planned
 * ones for forecasts), by people through the API (hotline, web, app, SMS, e-mail), moved through
 * the state machine by people, and watched by the response-time clocks. Every change is a
 * timeline entry with who, when, from, to and note.
 */
import type { Logger } from 'pino';
import type { EngineAlert } from '../../rules/engine.js';
import type { AlertTransition } from '../kernel/alerts.js';
import { compositeMetrics } from '../../rules/composite.js';
import type { RuleSet } from '../../rules/rule-set.js';
import { compareGrades, GRADES, type Grade } from '../kernel/grades.js';
import { faultTypeOfMetric, type FaultType } from '../kernel/catalogue/fault-types.js';
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
  readonly clocks: ClockPolicy;
}

export const DEFAULT_WORK_ORDER_SETTINGS: WorkOrderSettings = { cooldownMs: 12 * 3_600_000, minGrade: 'minor', clocks: DEFAULT_CLOCK_POLICY };

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

export class WorkOrderService {
  /** Alert handling per identity runs one at a time, in order. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly breachListeners: Array<(event: BreachEvent) => void> = [];

  constructor(
    private readonly options: {
      store: WorkOrderStore;
      registry: DeviceDirectory;
      rules: RuleSet;
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

  /** Alert transitions from the rule engine; handled in order per fault identity. */
  onAlert(alert: EngineAlert, transitions: readonly AlertTransition[]): Promise<void> {
    const identity = `${alert.deviceId}/${alert.ruleId}`;
    const previous = this.queues.get(identity) ?? Promise.resolve();
    const next = previous
      .then(() => this.handleAlert(identity, alert, transitions))
      .catch((error: unknown) => this.options.logger.error({ err: error, device: alert.deviceId, rule: alert.ruleId }, 'work order for an alert could not be updated'));
    this.queues.set(identity, next);
    void next.finally(() => {
      if (this.queues.get(identity) === next) this.queues.delete(identity);
    });
    return next;
  }

  /** Waits for the alert handling in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  private async handleAlert(identity: string, alert: EngineAlert, transitions: readonly AlertTransition[]): Promise<void> {
    const { store, logger } = this.options;
    const device = this.options.registry.get(alert.deviceId);
    if (!device) return;
    const rule = this.options.rules.forDevice(device).find((r) => r.id === alert.ruleId);
    const now = this.now();
    for (const t of transitions) {
      if (!t.notify) continue;
      const grade = t.grade ?? alert.record.grade;
      if (OPENING.has(t.kind) && t.to === 'firing') {
        if (!grade || compareGrades(grade, this.settings.minGrade) < 0) continue;
        const data = { alert: alert.ruleId, grade, value: alert.record.lastValue, transition: t.kind };
        if (alert.silencedBy !== undefined) {
          // Maintenance window: evaluated and listed, but nobody is sent out.
          const open = await store.list({ identity, status: ['new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold'] });
          if (open[0]) await store.addEvents(open[0].id, [{ ts: now, actor: SYSTEM_ACTOR, kind: 'alert_silenced', note: alert.message.zh, data: { ...data, silence: alert.silencedBy } }]);
          continue;
        }
        const latest = await store.latestForIdentity(identity);
        if (latest?.status === 'resolved') {
          // The fix did not hold: the same work order goes back to work.
          await this.change(latest, { status: 'in_progress', alertState: 'firing', grade: moreSerious(latest.grade, grade), resolvedAt: null, resolvedBy: null, feedbackAt: null, resolutionSuggestedAt: null, updatedAt: now }, [
            { ts: now, actor: SYSTEM_ACTOR, kind: 'transition', from: 'resolved', to: 'in_progress', note: `告警再次触发 / alert fired again: ${alert.message.zh}`, data },
          ]);
          continue;
        }
        if (latest && (latest.status === 'closed' || latest.status === 'cancelled')) {
          const endedAt = latest.closedAt ?? latest.cancelledAt ?? latest.updatedAt;
          if (now - endedAt < this.settings.cooldownMs) {
            await store.addEvents(latest.id, [{ ts: now, actor: SYSTEM_ACTOR, kind: 'suppressed_refire', note: `冷却期内再次触发，未新开工单 / fired again within the cooldown: ${alert.message.zh}`, data }]);
            logger.info({ workOrder: latest.number, device: alert.deviceId, rule: alert.ruleId }, 'alert fired again within the work-order cooldown; added to the closed work order');
            continue;
          }
        }
        const forecast = alert.condition.forecast;
        const kind: WorkOrderKind = rule?.kind === 'trend' && forecast ? 'planned' : 'corrective';
        const faultType = rule?.fault_type ?? faultTypeOfMetric(rule && (rule.kind === 'composite' ? compositeMetrics(rule)[0] : rule.metric));
        const { created, workOrder } = await store.openForIdentity(
          {
            identity,
            kind,
            channel: 'auto',
            grade,
            siteId: device.site,
            deviceId: device.id,
            device: deviceSnapshot(device),
            faultType,
            title: alert.message.zh,
            phenomenon: `${alert.message.zh}\n${alert.message.en}`,
            alarmCodes: [alert.ruleId],
            ruleId: alert.ruleId,
            faultAt: alert.record.activeAt ?? t.ts,
            reportedAt: now,
            reportedBy: SYSTEM_ACTOR,
            alertState: 'firing',
            ...(kind === 'planned' && forecast && { plannedDueAt: forecast.earliest }),
          },
          { ts: now, actor: SYSTEM_ACTOR, kind: 'created', to: 'new', note: alert.message.zh, data },
          this.timeZone(device.site),
        );
        if (created) logger.info({ workOrder: workOrder.number, kind, grade, device: device.id, rule: alert.ruleId }, 'work order opened by an alert');
        else await this.change(workOrder, { alertState: 'firing', grade: moreSerious(workOrder.grade, grade), resolutionSuggestedAt: null, updatedAt: now }, [{ ts: now, actor: SYSTEM_ACTOR, kind: 'alert_refired', note: alert.message.zh, data }]);
        continue;
      }
      const open = (await store.list({ identity })).find((w) => isOpen(w.status) || w.status === 'resolved');
      if (!open) continue;
      const data = { alert: alert.ruleId, grade, value: alert.record.lastValue, transition: t.kind };
      if (t.kind === 'escalated' && grade) {
        await this.change(open, { grade: moreSerious(open.grade, grade), updatedAt: now }, [{ ts: now, actor: SYSTEM_ACTOR, kind: 'alert_escalated', note: alert.message.zh, data }]);
      } else if (t.kind === 'resolved') {
        // The alert cleared; a person decides whether the fault is fixed.
        await this.change(open, { alertState: 'resolved', resolutionSuggestedAt: now, updatedAt: now }, [
          { ts: now, actor: SYSTEM_ACTOR, kind: 'alert_resolved', note: '告警已恢复，建议核实后解决工单 / the alert resolved; confirm and resolve the work order', data },
        ]);
      } else {
        await store.addEvents(open.id, [{ ts: now, actor: SYSTEM_ACTOR, kind: `alert_${t.kind}`, note: alert.message.zh, data }]);
      }
    }
  }

  /** Updates with optimistic concurrency, re-reading once if someone else changed it first. */
  private async change(workOrder: WorkOrder, patch: WorkOrderPatch, events: readonly NewEvent[]): Promise<WorkOrder> {
    try {
      return await this.options.store.update(workOrder.id, workOrder.version, patch, events);
    } catch (error) {
      if ((error as Error).name !== 'WorkOrderConflictError') throw error;
      const fresh = await this.options.store.get(workOrder.id);
      if (!fresh) throw error;
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
      { ts: now, actor, kind: 'created', to: 'new', note: input.title, data: { channel: input.channel } },
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
      data: { action: input.action, ...(input.mode && { mode: input.mode }), ...(input.satisfaction !== undefined && { satisfaction: input.satisfaction }), ...(input.resolution && { resolution: input.resolution }) },
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

function moreSerious(a: Grade, b: Grade): Grade {
  return compareGrades(a, b) >= 0 ? a : b;
}

export const WORK_ORDER_GRADES = GRADES;
export type { WorkOrderState };
