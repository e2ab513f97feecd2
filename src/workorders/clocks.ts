/**
 * Response-time clocks of a work order, from the service tender (design §4). Each clock is a
 * pure function of the work order's recorded times and `now`: it shows its due time, what is
 * left, and whether it was breached — so clocks need no timers to survive a restart, and a
 * breach is found by evaluating the clocks again.
 */
import type { Grade } from '../kernel/grades.js';
import type { FaultType } from '../kernel/catalogue/fault-types.js';
import { endOfLocalDay } from '../kernel/time/zone.js';

export const CLOCK_NAMES = ['notify', 'acknowledge', 'respond', 'repair', 'planned', 'handover', 'progress', 'feedback'] as const;
export type ClockName = (typeof CLOCK_NAMES)[number];

export const CLOCK_LABELS: Readonly<Record<ClockName, { zh: string; en: string }>> = {
  notify: { zh: '通知负责人', en: 'notify the responsible person' },
  acknowledge: { zh: '负责人响应', en: 'acknowledge' },
  respond: { zh: '到场或远程连接', en: 'on site or connected remotely' },
  repair: { zh: '修复时限', en: 'repair target' },
  planned: { zh: '计划完成（预测越限前）', en: 'planned before the forecast crossing' },
  handover: { zh: '转接后确认', en: 'confirm a handed-over case' },
  progress: { zh: '每日进度跟进', en: 'daily progress update' },
  feedback: { zh: '当天反馈医院', en: 'feedback to the hospital the same day' },
};

export { FAULT_TYPES, type FaultType } from '../kernel/catalogue/fault-types.js';

export interface ClockPolicy {
  /** Emergencies: responsible person notified within this of the report. */
  readonly notifyMs: number;
  /** Emergencies: the responsible person acknowledges within this of being notified. */
  readonly acknowledgeMs: number;
  /** On site or remote connection within this of the report, for these grades. */
  readonly respondMs: number;
  readonly respondGrades: readonly Grade[];
  /** Repair targets by fault type, for these grades; a fault type without one has no repair clock. */
  readonly repairMs: Readonly<Partial<Record<FaultType, number>>>;
  readonly repairGrades: readonly Grade[];
  /** A handed-over (assigned) case is confirmed by the new assignee within this. */
  readonly handoverMs: number;
  /** While being repaired, progress is recorded at least this often. */
  readonly progressMs: number;
}

const MIN = 60_000;
const HOUR = 60 * MIN;

export const DEFAULT_CLOCK_POLICY: ClockPolicy = {
  notifyMs: MIN,
  acknowledgeMs: 5 * MIN,
  respondMs: 30 * MIN,
  respondGrades: ['general', 'severe', 'emergency'],
  repairMs: { tube: 24 * HOUR, detector: 48 * HOUR, software: 12 * HOUR },
  repairGrades: ['severe', 'emergency'],
  handoverMs: HOUR,
  progressMs: 24 * HOUR,
};

/** The times of a work order that the clocks read (epoch ms). */
export interface ClockInput {
  readonly grade: Grade;
  readonly faultType: FaultType;
  readonly kind: 'corrective' | 'planned';
  /** Report time: when the work order was opened. */
  readonly reportedAt: number;
  readonly notifiedAt?: number;
  readonly acknowledgedAt?: number;
  readonly respondedAt?: number;
  readonly startedAt?: number;
  readonly resolvedAt?: number;
  readonly closedAt?: number;
  readonly cancelledAt?: number;
  /** Planned work orders: due before the forecast crossing. */
  readonly plannedDueAt?: number;
  readonly assignedAt?: number;
  readonly handoverConfirmedAt?: number;
  readonly lastProgressAt?: number;
  readonly feedbackAt?: number;
  /** IANA zone of the site, for "the same day" (the end of the local day, `src/kernel/time/zone.ts`). */
  readonly timeZone: string;
}

export type ClockState = 'running' | 'met' | 'breached' | 'stopped';

export interface ClockStatus {
  readonly name: ClockName;
  readonly label: { readonly zh: string; readonly en: string };
  readonly startedAt: number;
  readonly dueAt: number;
  /** When the clock's step was done. */
  readonly metAt?: number;
  /** running: not yet due; met: done in time; breached: due passed first (done late or not yet); stopped: cancelled. */
  readonly state: ClockState;
  /** Time left while running (negative once overdue and still not done). */
  readonly remainingMs: number;
  readonly breachedAt?: number;
}

function clock(name: ClockName, startedAt: number, dueAt: number, metAt: number | undefined, now: number, cancelledAt: number | undefined): ClockStatus {
  const label = CLOCK_LABELS[name];
  const doneOrNow = metAt ?? now;
  const breached = doneOrNow > dueAt;
  let state: ClockState;
  if (breached) state = 'breached';
  else if (metAt !== undefined) state = 'met';
  else if (cancelledAt !== undefined) state = 'stopped';
  else state = 'running';
  // A cancelled work order stops its clocks; one already breached stays breached.
  if (cancelledAt !== undefined && metAt === undefined && cancelledAt <= dueAt) state = 'stopped';
  return {
    name,
    label,
    startedAt,
    dueAt,
    ...(metAt !== undefined && { metAt }),
    state,
    remainingMs: metAt !== undefined || state === 'stopped' ? 0 : dueAt - now,
    ...(state === 'breached' && { breachedAt: dueAt }),
  };
}

const first = (...values: Array<number | undefined>): number | undefined => {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length > 0 ? Math.min(...present) : undefined;
};

/** Every clock that applies to the work order, with its state at `now`. */
export function workOrderClocks(input: ClockInput, now: number, policy: ClockPolicy = DEFAULT_CLOCK_POLICY): ClockStatus[] {
  const out: ClockStatus[] = [];
  const cancelled = input.cancelledAt;
  // A later step also proves the earlier ones were done.
  const acknowledged = first(input.acknowledgedAt, input.respondedAt, input.startedAt, input.resolvedAt);
  const notified = first(input.notifiedAt, acknowledged);
  const responded = first(input.respondedAt, input.startedAt, input.resolvedAt);
  const at = (t: number | undefined) => (cancelled !== undefined && t === undefined ? undefined : t);

  if (input.kind === 'corrective' && input.grade === 'emergency') {
    const notifyDue = input.reportedAt + policy.notifyMs;
    out.push(clock('notify', input.reportedAt, notifyDue, at(notified), now, cancelled));
    const ackFrom = notified !== undefined && notified < notifyDue ? notified : notifyDue;
    out.push(clock('acknowledge', ackFrom, ackFrom + policy.acknowledgeMs, at(acknowledged), now, cancelled));
  }
  if (input.kind === 'corrective' && policy.respondGrades.includes(input.grade)) {
    out.push(clock('respond', input.reportedAt, input.reportedAt + policy.respondMs, at(responded), now, cancelled));
  }
  const repairMs = policy.repairMs[input.faultType];
  if (input.kind === 'corrective' && repairMs !== undefined && policy.repairGrades.includes(input.grade)) {
    out.push(clock('repair', input.reportedAt, input.reportedAt + repairMs, at(input.resolvedAt), now, cancelled));
  }
  if (input.kind === 'planned' && input.plannedDueAt !== undefined) {
    out.push(clock('planned', input.reportedAt, input.plannedDueAt, at(input.resolvedAt), now, cancelled));
  }
  if (input.assignedAt !== undefined) {
    out.push(clock('handover', input.assignedAt, input.assignedAt + policy.handoverMs, at(input.handoverConfirmedAt), now, cancelled));
  }
  if (input.startedAt !== undefined) {
    // Rolling: due a period after the last progress; met for good once resolved.
    const since = Math.max(input.startedAt, input.lastProgressAt ?? input.startedAt);
    const resolved = input.resolvedAt;
    const met = resolved !== undefined && resolved <= since + policy.progressMs ? resolved : undefined;
    out.push(clock('progress', since, since + policy.progressMs, at(met), resolved !== undefined && met === undefined ? resolved : now, cancelled));
  }
  if (input.resolvedAt !== undefined) {
    out.push(clock('feedback', input.resolvedAt, endOfLocalDay(input.timeZone, input.resolvedAt), at(first(input.feedbackAt, input.closedAt)), now, cancelled));
  }
  return out;
}
