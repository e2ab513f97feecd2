/**
 * Anomaly rules: each sample against the baseline of the buckets before its own (`anomaly.ts`:
 * median and MAD, or a robust EWMA). A deviation must persist for `persist` (the pending hold)
 * to alert; one that goes away sooner is a spike, counted and recorded on the rule's condition,
 * never alerted. A late sample joins the window but is not judged.
 */
import { anomalyScore, ewmaBaseline, isAnomalous, madBaseline, type Baseline } from '../anomaly.js';
import { isQuiet, NO_CONDITION } from '../alert.js';
import { round } from '../messages.js';
import type { AnomalyRule } from '../pack-schema.js';
import type { RegisteredDevice } from '../../src/kernel/device.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { defineKind, sampleInputs, type KindHost, type Target } from './kind.js';
import { windowOf, type RuleWindow, type WindowPlan } from './window.js';

/** Buckets per window. */
const BUCKETS = 200;
/** A baseline needs this many buckets and a quarter of its window before it judges. */
const MIN_BUCKETS = 8;

/** The baseline of the buckets before `bucket`, kept on the window until a new bucket starts. */
interface BaselineMemo {
  readonly bucket: number;
  readonly value: Baseline | undefined;
}

function baselineFor(rule: AnomalyRule, state: RuleWindow, bucket: number): Baseline | undefined {
  const memo = state.memo as BaselineMemo | undefined;
  if (memo !== undefined && memo.bucket === bucket) return memo.value;
  const { series } = state;
  const { buckets: before, first, last } = series.bucketsBefore(bucket);
  const enough = before.length >= MIN_BUCKETS && last + series.bucketMs - first >= rule.window / 4;
  const value = enough ? (rule.method === 'mad' ? madBaseline(before) : ewmaBaseline(before, rule.alpha ?? 0.1, rule.k)) : undefined;
  state.memo = { bucket, value } satisfies BaselineMemo;
  return value;
}

/** A sample against the baseline of the buckets before its own. */
function judge(host: KindHost, device: RegisteredDevice, target: Target<AnomalyRule, WindowPlan>, state: RuleWindow, sample: Sample): void {
  const { rule, slot } = target;
  const baseline = baselineFor(rule, state, state.series.startOf(sample.ts));
  if (!baseline) return;
  const score = anomalyScore(sample.value, baseline);
  const active = isAnomalous(score, rule.k, rule.side);
  const alert = host.alert(slot);
  // Within the baseline and nothing open: nothing to record (the spike count stays on the quiet state).
  if (!active && isQuiet(alert)) return;
  const previous = alert?.condition ?? slot.quiet ?? NO_CONDITION;
  host.apply(
    device,
    target,
    sample.ts,
    {
      active,
      ...(active && { grade: rule.grade }),
      value: sample.value,
      condition: {
        window: [],
        score: Math.round(score * 100) / 100,
        baseline: baseline.centre,
        ...(previous.spikes !== undefined && { spikes: previous.spikes }),
        ...(previous.lastSpikeAt !== undefined && { lastSpikeAt: previous.lastSpikeAt }),
      },
    },
    () => ({ baseline: round(baseline.centre), score: round(Math.abs(score), 1) }),
  );
}

export const anomalyKind = defineKind<AnomalyRule, WindowPlan>({
  kind: 'anomaly',
  metric: (rule) => rule.metric,
  inputs: (rule) => sampleInputs([rule.metric]),
  plan: () => ({ window: undefined }),
  forMs: (rule) => rule.for ?? rule.persist,
  warm: (target) => ({ metric: target.rule.metric, windowMs: target.rule.window, series: () => windowOf(target, BUCKETS).series }),

  onSample(host, device, target, sample, late) {
    const state = windowOf(target, BUCKETS);
    if (!late) judge(host, device, target, state, sample);
    state.series.add(sample.ts, sample.value);
  },

  settle(host, device, target, ts, transitions, condition) {
    if (!transitions.some((t) => t.kind === 'cancelled')) return condition;
    // A deviation that did not persist: a spike, recorded but never alerted.
    host.counters.spikes += 1;
    host.logger.debug({ device: device.id, rule: target.rule.id, ts }, 'anomaly spike recorded (did not persist)');
    return { ...condition, spikes: (condition.spikes ?? 0) + 1, lastSpikeAt: ts };
  },
});
