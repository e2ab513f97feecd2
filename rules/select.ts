/**
 * Order statistics by selection rather than sorting: trend and rate fits want three quantiles of
 * n² / 2 pairwise slopes on every refit. The selection is simple-statistics' `quickselect`; the
 * quantiles (linear interpolation, R's type 7, as its `quantile`) are read here because
 * `quantile` copies its input and selects over all of it, where a fit reuses one scratch array
 * and finds the band's tails within the halves the median's selection left. Functions work in
 * place on typed arrays and allocate nothing.
 */
import { quickselect } from 'simple-statistics';

/**
 * Rearranges `a[from…to)` so that `a[k]` holds the value a full sort would put there, everything
 * before it is ≤ and everything after it is ≥: simple-statistics' `quickselect` (Floyd–Rivest),
 * expected O(n) where a sort is O(n log n) — a fit has n² / 2 slopes and wants three quantiles.
 */
function select(a: Float64Array, k: number, from: number, to: number): void {
  // quickselect reads a right bound of 0 as "to the end of the array": a range of one needs nothing.
  if (to - from > 1) quickselect(a as unknown as number[], k, from, to - 1);
}

/** The smallest value of `a[from…to)`. */
function minOf(a: Float64Array, from: number, to: number): number {
  let m = a[from]!;
  for (let i = from + 1; i < to; i++) if (a[i]! < m) m = a[i]!;
  return m;
}

/**
 * The q-quantile of `a[0…n)` with linear interpolation between order statistics (the same value
 * as on the sorted array), found by selection; `a` is partially reordered.
 */
export function selectQuantile(a: Float64Array, n: number, q: number): number {
  return selectQuantileWithin(a, 0, n, n, q);
}

/**
 * The q-quantile of all n values when `a[from…to)` is known to hold the order statistics it
 * needs — as it is after a selection at a position beyond them (below `from` are only smaller
 * values, from `to` on only larger): the tails of a confidence band after the median.
 */
function selectQuantileWithin(a: Float64Array, from: number, to: number, n: number, q: number): number {
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  select(a, lo, from, to);
  const low = a[lo]!;
  if (pos === lo) return low;
  // After selecting lo, the next order statistic is the smallest of what lies after it.
  return low + (minOf(a, lo + 1, to) - low) * (pos - lo);
}

/**
 * The median and the two quantiles of a central band (`confidence`, e.g. 0.9 → 5 % and 95 %) of
 * `a[0…n)`: one full selection, then the tails within the halves it leaves.
 */
export function medianAndBand(a: Float64Array, n: number, confidence: number): { median: number; low: number; high: number } {
  if (n === 0) return { median: NaN, low: NaN, high: NaN };
  const tail = (1 - confidence) / 2;
  const median = selectQuantile(a, n, 0.5);
  const mid = Math.floor((n - 1) * 0.5);
  // Below mid: values ≤ a[mid]; from mid + 1 on: values ≥ it (the median may interpolate towards mid + 1).
  const lowNeedsUpTo = Math.floor((n - 1) * tail) + 2;
  const low = lowNeedsUpTo <= mid + 1 ? selectQuantileWithin(a, 0, mid + 1, n, tail) : selectQuantile(a, n, tail);
  const high = Math.floor((n - 1) * (1 - tail)) > mid ? selectQuantileWithin(a, mid + 1, n, n, 1 - tail) : selectQuantile(a, n, 1 - tail);
  return { median, low, high };
}

/** The median of `a[0…n)` (reorders it); NaN when empty. */
export function medianInPlace(a: Float64Array, n: number): number {
  return selectQuantile(a, n, 0.5);
}
