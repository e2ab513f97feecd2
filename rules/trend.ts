/**
 * Robust trend forecasting for predictive warnings ("helium reaches 50 % in ≈ 9 days"). The fit
 * is Theil–Sen — the median of the slopes between all pairs of points — which shrugs off probe
 * noise and the odd spike that least squares would chase; the spread of those pairwise slopes
 * gives the confidence band of the crossing time.
 */

import { medianAndBand, selectQuantile } from './select.js';

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

/** Scratch buffers reused by every fit, grown as needed: fits run often and allocate nothing else. */
let slopeScratch = new Float64Array(1024);
let interceptScratch = new Float64Array(64);

/** Theil–Sen fit of the points, evaluated at `at`; undefined with fewer than two distinct times. */
export function theilSen(points: readonly Point[], at: number, confidence = 0.9): TrendFit | undefined {
  const n = points.length;
  const ts = new Float64Array(n);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ts[i] = points[i]!.ts;
    values[i] = points[i]!.value;
  }
  return theilSenArrays(ts, values, n, at, confidence);
}

/** `theilSen` on parallel arrays of times and values (the first `n` of each). */
export function theilSenArrays(ts: ArrayLike<number>, values: ArrayLike<number>, n: number, at: number, confidence = 0.9): TrendFit | undefined {
  const pairs = (n * (n - 1)) / 2;
  if (slopeScratch.length < pairs) slopeScratch = new Float64Array(Math.max(pairs, 2 * slopeScratch.length));
  if (interceptScratch.length < n) interceptScratch = new Float64Array(Math.max(n, 2 * interceptScratch.length));
  const slopes = slopeScratch;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const ti = ts[i]!;
    const vi = values[i]!;
    for (let j = i + 1; j < n; j++) {
      const dt = ts[j]! - ti;
      if (dt !== 0) slopes[count++] = (values[j]! - vi) / dt;
    }
  }
  if (count === 0) return undefined;
  const { median: slope, low: slopeLow, high: slopeHigh } = medianAndBand(slopes, count, confidence);
  const intercepts = interceptScratch;
  for (let i = 0; i < n; i++) intercepts[i] = values[i]! - slope * (ts[i]! - at);
  return { slope, level: selectQuantile(intercepts, n, 0.5), at, slopeLow, slopeHigh, points: n };
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
