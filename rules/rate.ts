/**
 * Rate-of-change rules ("magnet room warming 6 °C/h"): a Theil–Sen slope over the bucket means of
 * the window, so one noisy probe reading cannot fake a fast change, graded by per-hour levels with
 * hysteresis (a grade is held until the rate falls below 80 % of its level).
 */
import type { RateRule } from './pack-schema.js';
import { thresholdGrade, type GradeLevels } from './threshold.js';
import { theilSenArrays } from './trend.js';
import type { Grade } from '../src/kernel/grades.js';
import type { BucketPoint, BucketSeries } from './windows.js';

/** A grade's rate must fall below this share of its level to clear. */
export const RATE_CLEAR_RATIO = 0.8;

/**
 * Change per hour over the window, or undefined while the window holds too little history (fewer
 * than 3 buckets, or less than half the window): too little data says nothing, not "steady".
 */
export function ratePerHour(points: readonly BucketPoint[], bucketMs: number, windowMs: number): number | undefined {
  const filled = points.filter((p) => p.count > 0);
  return rateOfMeans(
    Float64Array.from(filled, (p) => p.ts + bucketMs / 2),
    Float64Array.from(filled, (p) => p.sum / p.count),
    filled.length,
    bucketMs,
    windowMs,
  );
}

/** `ratePerHour` on the completed buckets of a series (allocation-free: rate rules refit often). */
export function seriesRatePerHour(series: BucketSeries, windowMs: number): number | undefined {
  const { ts, values, n } = series.means(series.newest);
  return rateOfMeans(ts, values, n, series.bucketMs, windowMs);
}

/**
 * Whether the window's Theil–Sen rate provably stays below `perHour` in size, without fitting:
 * a pair of points can have a slope of at least L only if they lie within R ÷ L of each other
 * (R: the window's value range), and the median reaches L only if half the pairs do. Exact, and
 * O(n) where a fit is O(n²): a steady signal rules most fits out. Undefined history says false.
 */
export function rateCannotReach(series: BucketSeries, perHour: number): boolean {
  if (!(perHour > 0)) return false;
  const { ts, values, n } = series.means(series.newest);
  if (n < 3) return false;
  let min = values[0]!;
  let max = min;
  for (let i = 1; i < n; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  // A hair of slack over R ÷ L, so floating-point rounding cannot make the bound wrong.
  const reach = ((max - min) / (perHour / 3_600_000)) * (1 + 1e-9);
  // Pairs (i < j) with ts[j] − ts[i] ≤ reach, two pointers over the sorted times.
  let close = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (j < i + 1) j = i + 1;
    while (j < n && ts[j]! - ts[i]! <= reach) j++;
    close += j - i - 1;
  }
  const pairs = (n * (n - 1)) / 2;
  // The (interpolated) median reaches L only if at least pairs − ceil((pairs − 1) / 2) slopes do.
  return close < pairs - Math.ceil((pairs - 1) / 2);
}

/** The smallest raise level of a rate rule, per hour: below it no grade can be raised. */
export function lowestRateLevel(rule: Pick<RateRule, 'per_hour'>): number {
  return Math.min(...Object.values(rule.per_hour).filter((v): v is number => v !== undefined));
}

/** Bucket means at their bucket middles → change per hour, or undefined with too little history. */
function rateOfMeans(ts: Float64Array, values: Float64Array, n: number, bucketMs: number, windowMs: number): number | undefined {
  if (n < 3) return undefined;
  const span = ts[n - 1]! - ts[0]! + bucketMs;
  if (span < windowMs / 2) return undefined;
  const fit = theilSenArrays(ts, values, n, ts[n - 1]! - bucketMs / 2);
  return fit ? fit.slope * 3_600_000 : undefined;
}

/** The rate that counts for the rule's direction: a fall rule sees a fall as positive, a rise as none. */
export function directedRate(perHour: number, direction: RateRule['direction']): number {
  if (direction === 'rise') return Math.max(perHour, 0);
  if (direction === 'fall') return Math.max(-perHour, 0);
  return Math.abs(perHour);
}

export function rateGrade(perHour: number, previous: Grade | undefined, rule: Pick<RateRule, 'per_hour' | 'direction'>): Grade | undefined {
  const levels: GradeLevels = {};
  for (const [grade, level] of Object.entries(rule.per_hour) as Array<[Grade, number | undefined]>) {
    if (level !== undefined) levels[grade] = { raise: level, clear: level * RATE_CLEAR_RATIO };
  }
  return thresholdGrade(directedRate(perHour, rule.direction), previous, levels, 'above');
}
