/**
 * Order statistics by selection rather than sorting: trend fits want three quantiles of n² / 2
 * pairwise slopes, and anomaly baselines want medians of a few hundred bucket figures, on every
 * refit. Functions work in place on typed arrays and allocate nothing.
 */

/**
 * Rearranges `a[from…to)` so that `a[k]` holds the value a full sort would put there, everything
 * before it is ≤ and everything after it is ≥ (Hoare's selection, median-of-three pivots).
 * Expected O(n) where a sort is O(n log n): a fit has n² / 2 slopes and wants three quantiles.
 */
function select(a: Float64Array, k: number, from: number, to: number): void {
  let lo = from;
  let hi = to - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as pivot, so sorted or reversed input stays linear.
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
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
