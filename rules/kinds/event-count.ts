/**
 * Event-count rules: events within a sliding window, graded by count — the increments of a
 * counter metric (each sample is the count of the interval ending at its timestamp), or device
 * events of one code. A grade is held until the count falls below 80 % of its level.
 */
import type { RegisteredDevice } from '../../src/kernel/device.js';
import type { Grade } from '../../src/kernel/grades.js';
import { heldGrade, isQuiet } from '../alert.js';
import { describeDuration } from '../describe.js';
import type { EventCountRule } from '../pack-schema.js';
import { thresholdGrade, type GradeLevels } from '../threshold.js';
import { defineKind, sampleInputs, type KindHost, type Target } from './kind.js';
import { windowOf, type WindowPlan } from './window.js';

/** Buckets per window: the window slides by a hundredth of itself. */
const BUCKETS = 100;

interface CountPlan extends WindowPlan {
  readonly levels: GradeLevels;
}

/** Event-count levels: a grade is held until the count falls below 80 % of its level. */
function countLevels(levels: EventCountRule['levels']): GradeLevels {
  const out: GradeLevels = {};
  for (const [grade, level] of Object.entries(levels) as Array<[Grade, number | undefined]>) {
    if (level !== undefined) out[grade] = { raise: level, clear: Math.ceil(level * 0.8) - 1 };
  }
  return out;
}

/** `events` more at `ts`; `fromEvent`: they came as device events, which the engine does not count as evaluations itself. */
function count(host: KindHost, device: RegisteredDevice, target: Target<EventCountRule, CountPlan>, ts: number, events: number, fromEvent: boolean): void {
  const { rule, plan } = target;
  const { series } = windowOf(target, BUCKETS);
  series.add(ts, events);
  if (fromEvent) host.counters.evaluations += 1;
  const alert = host.alert(target.slot);
  // No new events and nothing open: the count can only have fallen, and it was below every level.
  if (events <= 0 && isQuiet(alert)) return;
  const total = series.sumSince(ts - rule.window);
  const grade = thresholdGrade(total, heldGrade(alert), plan.levels, 'above');
  if (grade === undefined && isQuiet(alert)) return;
  host.apply(
    device,
    target,
    ts,
    { active: grade !== undefined, ...(grade && { grade }), value: total, condition: { ...(grade && { grade }), window: [] } },
    (language) => ({ count: String(Math.round(total)), window: describeDuration(rule.window, language), code: rule.code ?? '' }),
  );
}

export const eventCountKind = defineKind<EventCountRule, CountPlan>({
  kind: 'event_count',
  metric: (rule) => rule.metric,
  inputs: (rule) =>
    rule.metric !== undefined
      ? sampleInputs([rule.metric])
      : // Events of a code are not readings: silence of a metric says nothing about them.
        { metrics: [], stage: 'value', codes: rule.code !== undefined ? [rule.code] : [], tick: false, afterBatch: undefined, readings: false },
  plan: (rule) => ({ window: undefined, levels: countLevels(rule.levels) }),
  warm: (target) => (target.rule.metric !== undefined ? { metric: target.rule.metric, windowMs: target.rule.window, series: () => windowOf(target, BUCKETS).series } : undefined),

  onSample(host, device, target, sample) {
    count(host, device, target, sample.ts, sample.value, false);
  },

  onEvent(host, device, target, ts, events) {
    count(host, device, target, ts, events, true);
  },
});
