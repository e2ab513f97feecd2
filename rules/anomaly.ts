/**
 * Anomalies against a device's own baseline. The baseline is built from the window's buckets
 * (count, sum, min, max), which is what the telemetry store can hand back after a restart:
 *
 * - centre: the median of the bucket means (`mad`), or their EWMA oldest to newest (`ewma`, alpha
 *   per bucket);
 * - scale: the probe noise within a bucket — the median over buckets of range ÷ d2(n), the
 *   expected range of n normal draws in standard deviations — combined with how much the bucket
 *   means wander (1.4826 × MAD of the means, or their EWMA deviation).
 *
 * Medians make one spiky bucket irrelevant; the caller compares each new sample with the baseline
 * of the buckets before it, so a spike never hides itself.
 */

import { medianInPlace } from './select.js';

export interface Baseline {
  readonly centre: number;
  /** One robust standard deviation, in the metric's unit. */
  readonly scale: number;
  readonly buckets: number;
}

interface BucketStats {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
}

/** Expected range of n standard normal draws (d2 of control-chart tables). */
const D2: ReadonlyArray<readonly [number, number]> = [
  [2, 1.128], [3, 1.693], [4, 2.059], [5, 2.326], [6, 2.534], [8, 2.847], [10, 3.078], [15, 3.472], [20, 3.735],
  [25, 3.931], [30, 4.086], [40, 4.322], [50, 4.498], [75, 4.806], [100, 5.015], [150, 5.296], [200, 5.492],
  [300, 5.756], [500, 6.073], [1000, 6.483], [5000, 7.34], [20000, 7.98],
];

/** expectedRange by n for the bucket counts met in practice, filled as they are first asked for. */
const RANGE_CACHE = new Float64Array(4096);

export function expectedRange(n: number): number {
  if (n < 2) return NaN;
  if (Number.isInteger(n) && n < RANGE_CACHE.length) return RANGE_CACHE[n] || (RANGE_CACHE[n] = interpolatedRange(n));
  return interpolatedRange(n);
}

function interpolatedRange(n: number): number {
  for (let i = 1; i < D2.length; i++) {
    const [n1, d1] = D2[i - 1]!;
    const [n2, d2] = D2[i]!;
    if (n <= n2) return d1 + ((d2 - d1) * Math.log(n / n1)) / Math.log(n2 / n1);
  }
  return D2[D2.length - 1]![1];
}

/**
 * Scratch for medians, grown as needed: baselines are rebuilt at every new bucket. The medians are
 * taken in place (`select.ts`, on simple-statistics' quickselect) rather than with its `median` and
 * `medianAbsoluteDeviation`, which give the same values but copy their input: three copies per
 * rebuild made a baseline some 50–80 % dearer, a few per cent of the engine’s time per sample.
 */
let scratch = new Float64Array(256);

function scratchOf(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  return scratch;
}

function withinScale(buckets: readonly BucketStats[]): number {
  const noise = scratchOf(buckets.length);
  let n = 0;
  for (const b of buckets) if (b.count >= 2) noise[n++] = (b.max - b.min) / expectedRange(b.count);
  return n > 0 ? medianInPlace(noise, n) : 0;
}

/** A floor for the scale, so a perfectly steady signal does not make every tiny step infinite. */
function floorScale(scale: number, centre: number): number {
  return Math.max(scale, 1e-5 * Math.max(1, Math.abs(centre)));
}

export function madBaseline(buckets: readonly BucketStats[]): Baseline | undefined {
  const within = withinScale(buckets);
  const means = scratchOf(buckets.length);
  let n = 0;
  for (const b of buckets) if (b.count > 0) means[n++] = b.sum / b.count;
  if (n === 0) return undefined;
  const centre = medianInPlace(means, n);
  for (let i = 0; i < n; i++) means[i] = Math.abs(means[i]! - centre);
  const between = 1.4826 * medianInPlace(means, n);
  return { centre, scale: floorScale(Math.sqrt(within * within + between * between), centre), buckets: n };
}

/**
 * EWMA of the bucket means with a robust update: once a few buckets have set the scale, a
 * bucket's deviation counts at most `clamp` standard deviations, so an anomaly that persists is
 * absorbed slowly instead of inflating the variance and hiding itself at once.
 */
export function ewmaBaseline(buckets: readonly BucketStats[], alpha: number, clamp = Number.POSITIVE_INFINITY): Baseline | undefined {
  const within = withinScale(buckets);
  let centre = NaN;
  let variance = 0;
  let filled = 0;
  for (const b of buckets) {
    if (b.count <= 0) continue;
    const mean = b.sum / b.count;
    if (filled++ === 0) {
      centre = mean;
      continue;
    }
    // The first EWMA_WARMUP_BUCKETS updates are unclamped while the scale is learnt.
    const sd = Math.sqrt(within * within + variance);
    const limit = filled - 2 >= EWMA_WARMUP_BUCKETS && sd > 0 ? clamp * sd : Number.POSITIVE_INFINITY;
    const deviation = Math.max(-limit, Math.min(limit, mean - centre));
    centre += alpha * deviation;
    variance = (1 - alpha) * (variance + alpha * deviation * deviation);
  }
  if (filled === 0) return undefined;
  return { centre, scale: floorScale(Math.sqrt(within * within + variance), centre), buckets: filled };
}

/** Buckets an EWMA takes unclamped while it learns the scale. */
const EWMA_WARMUP_BUCKETS = 5;

/** Deviation of `value` from the baseline in robust standard deviations, signed (+ above). */
export function anomalyScore(value: number, baseline: Baseline): number {
  return (value - baseline.centre) / baseline.scale;
}

/** Whether a score counts as anomalous on the rule's side. */
export function isAnomalous(score: number, k: number, side: 'above' | 'below' | 'both'): boolean {
  if (side === 'above') return score > k;
  if (side === 'below') return score < -k;
  return Math.abs(score) > k;
}
