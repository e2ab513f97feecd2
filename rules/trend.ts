/**
 * Robust trend forecasting for predictive warnings ("helium reaches 50 % in ≈ 9 days"). The fit
 * is Theil–Sen — the median of the slopes between all pairs of points — which shrugs off probe
 * noise and the odd spike that least squares would chase; the spread of those pairwise slopes
 * gives the confidence band of the crossing time.
 */

export interface Point {
  readonly ts: number;
  readonly value: number;
}

export interface TrendFit {
  /** Units per millisecond. */
  readonly slope: number;
  /** Fitted value at `at`. */
  readonly level: number;
  readonly at: number;
  /** Slopes bounding the confidence band. */
  readonly slopeLow: number;
  readonly slopeHigh: number;
  readonly points: number;
}

function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Theil–Sen fit of the points, evaluated at `at`; undefined with fewer than two distinct times. */
export function theilSen(points: readonly Point[], at: number, confidence = 0.9): TrendFit | undefined {
  // Typed arrays sort numerically in native code, which matters: a fit has n² / 2 slopes.
  const n = points.length;
  const slopes = new Float64Array((n * (n - 1)) / 2);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const pi = points[i]!;
    for (let j = i + 1; j < n; j++) {
      const pj = points[j]!;
      const dt = pj.ts - pi.ts;
      if (dt !== 0) slopes[count++] = (pj.value - pi.value) / dt;
    }
  }
  if (count === 0) return undefined;
  const sorted = slopes.subarray(0, count).sort();
  const slope = quantile(sorted, 0.5);
  const intercepts = new Float64Array(n);
  for (let i = 0; i < n; i++) intercepts[i] = points[i]!.value - slope * (points[i]!.ts - at);
  intercepts.sort();
  const tail = (1 - confidence) / 2;
  return { slope, level: quantile(intercepts, 0.5), at, slopeLow: quantile(sorted, tail), slopeHigh: quantile(sorted, 1 - tail), points: n };
}

export interface Crossing {
  /** Expected time the fitted line reaches the threshold (epoch ms). */
  readonly at: number;
  /** Confidence band of that time. */
  readonly earliest: number;
  readonly latest: number;
}

/**
 * When the fitted line reaches `threshold` moving in `direction`; undefined when it moves away
 * from it, is flat, or has already passed it.
 */
export function forecastCrossing(fit: TrendFit, threshold: number, direction: 'above' | 'below'): Crossing | undefined {
  const toward = (slope: number) => (direction === 'below' ? slope < 0 : slope > 0);
  const already = direction === 'below' ? fit.level <= threshold : fit.level >= threshold;
  if (already || !toward(fit.slope)) return undefined;
  const eta = (slope: number) => fit.at + (threshold - fit.level) / slope;
  const at = eta(fit.slope);
  // The steeper slope reaches the threshold first; a bound that moves away never does.
  const [steep, shallow] = direction === 'below' ? [fit.slopeLow, fit.slopeHigh] : [fit.slopeHigh, fit.slopeLow];
  return { at, earliest: toward(steep) ? eta(steep) : at, latest: toward(shallow) ? eta(shallow) : Number.POSITIVE_INFINITY };
}

/** A duration for messages: hours under two days, else days, to one decimal. */
export function describeEta(ms: number, language: 'zh' | 'en'): string {
  const hours = ms / 3_600_000;
  if (hours < 48) return language === 'zh' ? `${hours.toFixed(1)} 小时` : `${hours.toFixed(1)} hours`;
  const days = hours / 24;
  return language === 'zh' ? `${days.toFixed(1)} 天` : `${days.toFixed(1)} days`;
}
