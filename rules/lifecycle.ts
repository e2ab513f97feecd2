/**
 * The alert lifecycle: one explicit transition table and one `evaluate` that reads top to
 * bottom. Time is the event time passed in with each evaluation, never a clock, so a replay of
 * the same inputs gives the same alerts. The record is plain JSON data so it can be persisted
 * and a restart neither fires again nor forgets an open alert.
 */
import { z } from 'zod';
import { GRADES, compareGrades, type Grade } from '../src/kernel/grades.js';

import { ALERT_STATES, type AlertState, type AlertTransition, type TransitionKind } from '../src/kernel/alerts.js';

/**
 * Kinds worth telling a person about. The rest (pending, cancelled, recovering, relapsed,
 * cleared) are internal steps: a condition that comes and goes inside its hold time, or a
 * recovery that does not last, must not page anyone.
 */
const NOTIFYING_KINDS: ReadonlySet<TransitionKind> = new Set<TransitionKind>([
  'fired',
  'escalated',
  'deescalated',
  'resolved',
  'nodata',
  'error',
  'restored',
  'flapping_started',
  'flapping_ended',
]);

export interface TransitionRule {
  readonly from: AlertState;
  readonly to: AlertState;
  readonly kind: TransitionKind;
  readonly when: string;
}

const DATA_STATES = ['normal', 'pending', 'firing', 'recovering', 'resolved'] as const;

/** Every step `evaluate` may take. Anything else is a bug, and `evaluate` throws on it. */
export const TRANSITION_TABLE: readonly TransitionRule[] = [
  { from: 'normal', to: 'pending', kind: 'pending', when: 'condition became active, hold time forMs not yet met' },
  { from: 'normal', to: 'firing', kind: 'fired', when: 'condition became active and forMs is 0' },
  { from: 'pending', to: 'normal', kind: 'cancelled', when: 'condition went away before forMs elapsed' },
  { from: 'pending', to: 'firing', kind: 'fired', when: 'condition held for forMs' },
  { from: 'firing', to: 'firing', kind: 'escalated', when: 'grade became more serious' },
  { from: 'firing', to: 'firing', kind: 'deescalated', when: 'grade became less serious but the condition holds' },
  { from: 'firing', to: 'recovering', kind: 'recovering', when: 'condition went away, clear hold clearForMs not yet met' },
  { from: 'firing', to: 'resolved', kind: 'resolved', when: 'condition went away and clearForMs is 0' },
  { from: 'recovering', to: 'firing', kind: 'relapsed', when: 'condition returned before clearForMs: same alert, no new fire' },
  { from: 'recovering', to: 'resolved', kind: 'resolved', when: 'condition stayed away for clearForMs' },
  { from: 'resolved', to: 'normal', kind: 'cleared', when: 'the resolution has been reported once' },
  { from: 'resolved', to: 'pending', kind: 'pending', when: 're-trigger right after resolution, forMs not yet met' },
  { from: 'resolved', to: 'firing', kind: 'fired', when: 're-trigger right after resolution and forMs is 0' },
  ...DATA_STATES.map((from) => ({ from, to: 'nodata' as const, kind: 'nodata' as const, when: 'no data for the rule' })),
  ...DATA_STATES.map((from) => ({ from, to: 'error' as const, kind: 'error' as const, when: 'the rule could not be evaluated' })),
  { from: 'nodata', to: 'error', kind: 'error', when: 'the rule could not be evaluated' },
  { from: 'error', to: 'nodata', kind: 'nodata', when: 'no data for the rule' },
  ...(['nodata', 'error'] as const).flatMap((from): TransitionRule[] => [
    { from, to: 'normal', kind: 'restored', when: 'data is back, condition inactive, no alert was open' },
    { from, to: 'firing', kind: 'restored', when: 'data is back and the alert open before the gap still holds' },
    { from, to: 'recovering', kind: 'recovering', when: 'data is back, the open alert’s condition has gone: clear hold starts now' },
    { from, to: 'resolved', kind: 'resolved', when: 'data is back, the open alert’s condition has gone and clearForMs is 0' },
    { from, to: 'pending', kind: 'pending', when: 'data is back with a new activation, forMs not yet met' },
    { from, to: 'firing', kind: 'fired', when: 'data is back with a new activation and forMs is 0' },
  ]),
  ...ALERT_STATES.map((s) => ({ from: s, to: s, kind: 'flapping_started' as const, when: 'more than maxTransitions state changes within windowMs' })),
  ...ALERT_STATES.map((s) => ({ from: s, to: s, kind: 'flapping_ended' as const, when: 'no state change for a whole windowMs' })),
];

export function isInTransitionTable(from: AlertState, to: AlertState, kind: TransitionKind): boolean {
  return TRANSITION_TABLE.some((rule) => rule.from === from && rule.to === to && rule.kind === kind);
}

/** What the rule's condition said at one evaluation. */
export type ConditionResult = { readonly active: boolean; readonly grade?: Grade; readonly value?: number } | { readonly nodata: true } | { readonly error: string };

export interface EvaluationInput {
  /** Event time of the evaluation, epoch ms. */
  readonly ts: number;
  readonly condition: ConditionResult;
}

export interface RuleTiming {
  /** How long the condition must hold before a pending alert fires. */
  readonly forMs: number;
  /** How long the condition must stay away before a firing alert resolves. */
  readonly clearForMs: number;
  /** More than `maxTransitions` state changes within `windowMs` is flapping. */
  readonly flap: { readonly windowMs: number; readonly maxTransitions: number };
}

/** The persisted state of one alert (one rule on one device). Plain JSON data. */
export interface AlertRecord {
  readonly state: AlertState;
  readonly grade?: Grade;
  /** When the current (or last) activation began. */
  readonly activeAt?: number;
  /** When the current (or last) activation fired. */
  readonly firedAt?: number;
  /** When the condition went away while firing; the clear hold counts from here. */
  readonly recoveringAt?: number;
  /** When the last fired alert resolved; unset while an alert is open. */
  readonly resolvedAt?: number;
  readonly lastValue?: number;
  readonly lastError?: string;
  readonly lastEvalAt?: number;
  /** When the record entered its current state. */
  readonly stateSince?: number;
  /** How many times this alert has fired; a relapse during recovery is not a new fire. */
  readonly triggerCount: number;
  readonly flapping: boolean;
  /** Times of recent state changes, only those inside the flap window and at most maxTransitions + 1. */
  readonly recentChanges: readonly number[];
}

export interface EvaluationResult {
  readonly record: AlertRecord;
  readonly transitions: readonly AlertTransition[];
  /** Set when the input was ignored; the record is returned unchanged. */
  readonly ignored?: 'out_of_order';
}

export function newAlertRecord(): AlertRecord {
  return { state: 'normal', triggerCount: 0, flapping: false, recentChanges: [] };
}

export function timingProblems(timing: RuleTiming): string[] {
  const problems: string[] = [];
  if (!(timing.forMs >= 0)) problems.push(`forMs must be >= 0, got ${timing.forMs}`);
  if (!(timing.clearForMs >= 0)) problems.push(`clearForMs must be >= 0, got ${timing.clearForMs}`);
  if (!(timing.flap.windowMs > 0)) problems.push(`flap.windowMs must be > 0, got ${timing.flap.windowMs}`);
  if (!(timing.flap.maxTransitions >= 0)) problems.push(`flap.maxTransitions must be >= 0, got ${timing.flap.maxTransitions}`);
  return problems;
}

type Draft = { -readonly [K in keyof AlertRecord]: AlertRecord[K] };
type StepTransition = Omit<AlertTransition, 'notify'>;

/** An alert is open from its fire until its resolution, across data gaps and errors. */
function isOpen(record: AlertRecord): boolean {
  return record.firedAt !== undefined && record.resolvedAt === undefined;
}

/**
 * One evaluation of one alert at event time `input.ts`. Returns the new record and the
 * transitions taken, in order. At most one state change happens per evaluation; a grade
 * change while firing and a flapping marker may accompany it.
 */
export function evaluate(record: AlertRecord, input: EvaluationInput, timing: RuleTiming): EvaluationResult {
  const { ts } = input;
  if (record.lastEvalAt !== undefined && ts < record.lastEvalAt) {
    // A late evaluation must not move the alert back in time; the caller is told so it can log it.
    return { record, transitions: [], ignored: 'out_of_order' };
  }

  return steadyEvaluation(record, input, timing) ?? fullEvaluation(record, input, timing);
}

/** `evaluate` without the shortcut for steady evaluations (exported so tests can compare the two). */
export function fullEvaluation(record: AlertRecord, input: EvaluationInput, timing: RuleTiming): EvaluationResult {
  const { ts, condition } = input;
  const next: Draft = { ...record, lastEvalAt: ts };
  const steps: StepTransition[] = [];
  /** A state change someone is told about (fired, resolved, no data…): what flapping counts. */
  let notableChange = false;

  const move = (to: AlertState, kind: TransitionKind): void => {
    if (!isInTransitionTable(next.state, to, kind)) throw new Error(`alert transition ${next.state} -> ${to} (${kind}) is not in the transition table`);
    steps.push({ from: next.state, to, grade: next.grade, ts, kind });
    if (to !== next.state) {
      next.state = to;
      next.stateSince = ts;
      if (NOTIFYING_KINDS.has(kind)) notableChange = true;
    }
  };
  const activate = (grade: Grade | undefined): void => {
    next.activeAt = ts;
    next.firedAt = undefined;
    next.recoveringAt = undefined;
    next.resolvedAt = undefined;
    next.grade = grade;
    if (timing.forMs <= 0) fire();
    else move('pending', 'pending');
  };
  const fire = (): void => {
    next.firedAt = ts;
    next.triggerCount += 1;
    move('firing', 'fired');
  };
  const startRecovery = (): void => {
    if (timing.clearForMs <= 0) return resolve();
    next.recoveringAt = ts;
    move('recovering', 'recovering');
  };
  const resolve = (): void => {
    next.resolvedAt = ts;
    next.recoveringAt = undefined;
    move('resolved', 'resolved');
  };
  const regrade = (grade: Grade | undefined): void => {
    // A condition without a grade keeps the one the alert already has.
    if (grade === undefined || next.grade === undefined || grade === next.grade) {
      next.grade = grade ?? next.grade;
      return;
    }
    const kind = compareGrades(grade, next.grade) > 0 ? 'escalated' : 'deescalated';
    next.grade = grade;
    move('firing', kind);
  };

  if ('error' in condition) {
    next.lastError = condition.error;
    if (next.state !== 'error') move('error', 'error');
  } else if ('nodata' in condition) {
    if (next.state !== 'nodata') move('nodata', 'nodata');
  } else {
    // Only what JSON can carry: it has no NaN, Infinity or -0, and the record must survive a restart unchanged.
    if (condition.value !== undefined && Number.isFinite(condition.value)) next.lastValue = condition.value === 0 ? 0 : condition.value;
    const { active, grade } = condition;
    switch (next.state) {
      case 'normal':
        if (active) activate(grade);
        break;
      case 'resolved':
        if (active) activate(grade);
        else move('normal', 'cleared');
        break;
      case 'pending':
        if (!active) {
          next.activeAt = undefined;
          next.grade = undefined;
          move('normal', 'cancelled');
        } else {
          next.grade = grade ?? next.grade;
          if (ts - (next.activeAt ?? ts) >= timing.forMs) fire();
        }
        break;
      case 'firing':
        if (active) regrade(grade);
        else startRecovery();
        break;
      case 'recovering':
        if (active) {
          next.recoveringAt = undefined;
          move('firing', 'relapsed');
          regrade(grade);
        } else if (ts - (next.recoveringAt ?? ts) >= timing.clearForMs) {
          resolve();
        }
        break;
      case 'nodata':
      case 'error':
        // Data is back. An alert open before the gap carries on (no second fire); a pending
        // activation or a clear hold cannot be trusted across the gap and restarts now.
        if (isOpen(next)) {
          if (active) {
            move('firing', 'restored');
            regrade(grade);
          } else {
            startRecovery();
          }
        } else if (active) {
          activate(grade);
        } else {
          next.activeAt = undefined;
          move('normal', 'restored');
        }
        break;
    }
  }
  if (next.state !== 'error') next.lastError = undefined;

  // Flapping: count notable state changes in the sliding window; it ends after a whole quiet
  // window. Internal steps (a pending hold that is cancelled, a recovery that relapses) are what
  // `for` and `clear_for` absorb: counting them would mark a never-fired alert as flapping.
  const { windowMs, maxTransitions } = timing.flap;
  const recent = next.recentChanges.length === 0 || next.recentChanges[0]! > ts - windowMs ? [...next.recentChanges] : next.recentChanges.filter((t) => t > ts - windowMs);
  if (notableChange) recent.push(ts);
  if (!next.flapping && recent.length > maxTransitions) {
    next.flapping = true;
    move(next.state, 'flapping_started');
  } else if (next.flapping && recent.length === 0) {
    next.flapping = false;
    move(next.state, 'flapping_ended');
  }
  next.recentChanges = recent.slice(-(maxTransitions + 1));

  const transitions = steps.map((step) => ({
    ...step,
    notify: NOTIFYING_KINDS.has(step.kind) && (!next.flapping || step.kind === 'flapping_started' || step.kind === 'flapping_ended'),
  }));
  return { record: withoutUndefined(next), transitions };
}

const NO_TRANSITIONS: readonly AlertTransition[] = Object.freeze([]);

/**
 * The evaluation that changes nothing but the time and value — a firing alert still active at
 * its grade, a pending one whose hold has not run out — without the general path's copies: it
 * runs on every sample of an open alert. Undefined when anything else may happen.
 */
function steadyEvaluation(record: AlertRecord, input: EvaluationInput, timing: RuleTiming): EvaluationResult | undefined {
  const { condition, ts } = input;
  if (!('active' in condition) || !condition.active || record.flapping) return undefined;
  // No change time would leave the flap window (so the flap history stays as it is).
  if (record.recentChanges.length > 0 && !(record.recentChanges[0]! > ts - timing.flap.windowMs)) return undefined;
  if (record.recentChanges.length > timing.flap.maxTransitions) return undefined;
  if (record.state === 'firing') {
    if (condition.grade !== undefined && condition.grade !== record.grade) return undefined;
  } else if (record.state === 'pending') {
    if (ts - (record.activeAt ?? ts) >= timing.forMs) return undefined;
    if (condition.grade !== undefined && condition.grade !== record.grade) return undefined;
  } else {
    return undefined;
  }
  const value = condition.value;
  const keep = value === undefined || !Number.isFinite(value);
  return { record: { ...record, lastEvalAt: ts, ...(!keep && { lastValue: value === 0 ? 0 : value }) }, transitions: NO_TRANSITIONS };
}

/** Drops unset optional fields so the record equals its own JSON round-trip (field by field: this runs per evaluation). */
function withoutUndefined(record: Draft): AlertRecord {
  const out: Draft = { state: record.state, triggerCount: record.triggerCount, flapping: record.flapping, recentChanges: record.recentChanges };
  if (record.grade !== undefined) out.grade = record.grade;
  if (record.activeAt !== undefined) out.activeAt = record.activeAt;
  if (record.firedAt !== undefined) out.firedAt = record.firedAt;
  if (record.recoveringAt !== undefined) out.recoveringAt = record.recoveringAt;
  if (record.resolvedAt !== undefined) out.resolvedAt = record.resolvedAt;
  if (record.lastValue !== undefined) out.lastValue = record.lastValue;
  if (record.lastError !== undefined) out.lastError = record.lastError;
  if (record.lastEvalAt !== undefined) out.lastEvalAt = record.lastEvalAt;
  if (record.stateSince !== undefined) out.stateSince = record.stateSince;
  return out;
}

const SERIAL_VERSION = 1;

const AlertRecordSchema = z.object({
  state: z.enum(ALERT_STATES),
  grade: z.enum(GRADES).optional(),
  activeAt: z.number().optional(),
  firedAt: z.number().optional(),
  recoveringAt: z.number().optional(),
  resolvedAt: z.number().optional(),
  lastValue: z.number().optional(),
  lastError: z.string().optional(),
  lastEvalAt: z.number().optional(),
  stateSince: z.number().optional(),
  triggerCount: z.number().int().nonnegative(),
  flapping: z.boolean(),
  recentChanges: z.array(z.number()),
});

/** JSON text for persistence, versioned so a later layout can migrate old records. */
export function serialiseAlert(record: AlertRecord): string {
  return JSON.stringify({ v: SERIAL_VERSION, record });
}

/** Reads what `serialiseAlert` wrote; throws on anything else rather than guessing a state. */
export function deserialiseAlert(text: string): AlertRecord {
  const parsed = z.object({ v: z.literal(SERIAL_VERSION), record: AlertRecordSchema }).parse(JSON.parse(text));
  return withoutUndefined(parsed.record);
}
