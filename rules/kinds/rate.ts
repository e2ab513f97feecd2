/**
 * Rate rules: the robust slope per hour of the window (`rate.ts`), graded with hysteresis;
 * refitted as a new bucket starts, at most FITS_PER_WINDOW times per window, and not at all
 * while the rule is quiet and the window provably cannot reach its lowest level.
 */
import { heldGrade, isQuiet } from '../alert.js';
import { describeDuration } from '../describe.js';
import { round } from '../messages.js';
import type { RateRule } from '../pack-schema.js';
import { lowestRateLevel, rateCannotReach, rateGrade, seriesRatePerHour } from '../rate.js';
import { defineKind, sampleInputs } from './kind.js';
import { windowOf, type WindowPlan } from './window.js';

/** Buckets per window. */
const BUCKETS = 30;
/** A rate is refitted at most this many times per window of event time. */
const FITS_PER_WINDOW = 10;

export const rateKind = defineKind<RateRule, WindowPlan>({
  kind: 'rate',
  metric: (rule) => rule.metric,
  inputs: (rule) => sampleInputs([rule.metric]),
  plan: () => ({ window: undefined }),
  warm: (target) => ({ metric: target.rule.metric, windowMs: target.rule.window, series: () => windowOf(target, BUCKETS).series }),

  onSample(host, device, target, sample) {
    const { rule } = target;
    const state = windowOf(target, BUCKETS);
    const { series } = state;
    if (!series.add(sample.ts, sample.value)) return;
    if (sample.ts - state.lastFitAt < rule.window / FITS_PER_WINDOW) return;
    state.lastFitAt = sample.ts;
    const alert = host.alert(target.slot);
    // Quiet and provably under every level: no need to fit.
    if (isQuiet(alert) && rateCannotReach(series, lowestRateLevel(rule))) return;
    const perHour = seriesRatePerHour(series, rule.window);
    if (perHour === undefined) return;
    const grade = rateGrade(perHour, heldGrade(alert), rule);
    if (grade === undefined && isQuiet(alert)) return;
    host.apply(
      device,
      target,
      sample.ts,
      { active: grade !== undefined, ...(grade && { grade }), value: perHour, condition: { ...(grade && { grade }), window: [] } },
      (language) => ({ rate: round(perHour), window: describeDuration(rule.window, language) }),
    );
  },
});
