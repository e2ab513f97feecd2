import fc from 'fast-check';
import { quantile } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { medianAndBand, medianInPlace, selectQuantile } from '../../rules/select.js';

/** The quantile as read off the fully sorted values: what selection must reproduce. */
function sortedQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  return sorted[lo]! + (sorted[Math.ceil(pos)]! - sorted[lo]!) * (pos - lo);
}

const values = fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 1, maxLength: 80 });

describe('order statistics by selection', () => {
  it('selectQuantile equals the quantile of the sorted values, ties and all (property)', () => {
    fc.assert(
      fc.property(values, fc.double({ min: 0, max: 1, noNaN: true }), (list, q) => {
        expect(selectQuantile(Float64Array.from(list), list.length, q)).toBe(sortedQuantile(list, q));
      }),
      { numRuns: 500 },
    );
  });

  it('medianAndBand gives the median and both band quantiles of every size, 1 to 80 values (property)', () => {
    fc.assert(
      fc.property(values, fc.constantFrom(0.5, 0.8, 0.9, 0.95, 0.99), (list, confidence) => {
        const tail = (1 - confidence) / 2;
        const got = medianAndBand(Float64Array.from(list), list.length, confidence);
        expect(got).toEqual({ median: sortedQuantile(list, 0.5), low: sortedQuantile(list, tail), high: sortedQuantile(list, 1 - tail) });
      }),
      { numRuns: 500 },
    );
  });

  it('gives exactly what simple-statistics’ quantile gives (linear interpolation), on any finite values (property)', () => {
    const doubles = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 300 });
    fc.assert(
      fc.property(doubles, fc.double({ min: 0, max: 1, noNaN: true }), (list, q) => {
        expect(selectQuantile(Float64Array.from(list), list.length, q)).toBe(quantile(list, q));
        const tail = (1 - 0.9) / 2;
        const { median, low, high } = medianAndBand(Float64Array.from(list), list.length, 0.9);
        expect([low, median, high]).toEqual(quantile(list, [tail, 0.5, 1 - tail]));
      }),
      { numRuns: 500 },
    );
  });

  it('works on the first n values only and says NaN for none', () => {
    const a = Float64Array.from([5, 1, 3, 100, -100]);
    expect(medianInPlace(a, 3)).toBe(3);
    expect(medianInPlace(new Float64Array(4), 0)).toBeNaN();
  });
});
