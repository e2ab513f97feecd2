/**
 * Trend rules: the samples are folded into bucket means over the rule's window; each time a new
 * bucket starts, a Theil–Sen fit of the completed buckets forecasts when the threshold is
 * crossed, and the nearer that is, the more serious the grade. Too little history evaluates
 * nothing (rather than "fine"), so a restart with an empty window does not resolve an open forecast.
 */
import { GRADES, type Grade } from '../../src/kernel/grades.js';
import type { Forecast } from '../alert.js';
import { round } from '../messages.js';
import type { TrendRule } from '../pack-schema.js';
import { describeEta, forecastCrossing, theilSenArrays } from '../trend.js';
import { defineKind, sampleInputs } from './kind.js';
import { windowOf, type WindowPlan } from './window.js';

/** Buckets per window: enough resolution for the fit, bounded memory. */
const BUCKETS = 150;
/** A trend is refitted at most this many times per window of event time (a fit is O(points²)). */
const FITS_PER_WINDOW = 50;

export const trendKind = defineKind<TrendRule, WindowPlan>({
  kind: 'trend',
  metric: (rule) => rule.metric,
  inputs: (rule) => sampleInputs([rule.metric]),
  plan: () => ({ window: undefined }),
  warm: (target) => ({ metric: target.rule.metric, windowMs: target.rule.window, series: () => windowOf(target, BUCKETS).series }),

  onSample(host, device, target, sample) {
    const { rule } = target;
    const state = windowOf(target, BUCKETS);
    const { series } = state;
    if (!series.add(sample.ts, sample.value)) return;
    if (sample.ts - state.lastFitAt < Math.max(series.bucketMs, rule.window / FITS_PER_WINDOW)) return;
    const means = series.means(series.newest);
    if (means.n < rule.min_points) return;
    state.lastFitAt = sample.ts;
    const fit = theilSenArrays(means.ts, means.values, means.n, sample.ts, rule.confidence);
    if (!fit) return;
    const crossing = forecastCrossing(fit, rule.threshold, rule.direction === 'above' ? 'above' : 'below');
    const eta = crossing ? crossing.at - sample.ts : Number.POSITIVE_INFINITY;
    let grade: Grade | undefined;
    if (eta <= rule.horizon) for (const g of GRADES) if (rule.grades[g] !== undefined && eta <= rule.grades[g]!) grade = g;
    const forecast: Forecast | undefined = crossing && {
      crossingAt: Math.round(crossing.at),
      earliest: Math.round(crossing.earliest),
      latest: Number.isFinite(crossing.latest) ? Math.round(crossing.latest) : Number.MAX_SAFE_INTEGER,
      slopePerDay: fit.slope * 86_400_000,
      points: fit.points,
    };
    const slopePerDay = Math.abs(fit.slope * 86_400_000);
    host.apply(
      device,
      target,
      sample.ts,
      { active: grade !== undefined, ...(grade && { grade }), value: sample.value, condition: { ...(grade && { grade }), window: [], ...(forecast && { forecast }) } },
      (language) => ({
        threshold: String(rule.threshold),
        slope: round(slopePerDay, slopePerDay < 1 ? 2 : 1),
        eta: describeEta(eta, language),
        uncertainty: forecast && forecast.latest !== Number.MAX_SAFE_INTEGER ? describeEta((forecast.latest - forecast.earliest) / 2, language) : '?',
      }),
    );
  },
});
