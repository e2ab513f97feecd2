import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rateCannotReach, seriesRatePerHour } from '../../rules/rate.js';
import { BucketSeries } from '../../rules/windows.js';

const HOUR = 3_600_000;

describe('rate pruning bound', () => {
  it('says "cannot reach" only when the fitted rate really stays below the level (property)', () => {
    let pruned = 0;
    fc.assert(
      fc.property(
        fc.array(fc.record({ minute: fc.integer({ min: 0, max: 119 }), value: fc.double({ min: -5, max: 5, noNaN: true }) }), { minLength: 3, maxLength: 200 }),
        fc.double({ min: 0.01, max: 50, noNaN: true }),
        fc.double({ min: -20, max: 20, noNaN: true }),
        (samples, level, drift) => {
          const series = new BucketSeries(2 * 60_000, HOUR);
          for (const s of [...samples].sort((a, b) => a.minute - b.minute)) series.add(s.minute * 60_000, s.value + (drift * s.minute) / 60);
          // One more bucket, so every sample above lies in a completed bucket.
          series.add(121 * 60_000, 0);
          if (!rateCannotReach(series, level)) return;
          pruned += 1;
          const rate = seriesRatePerHour(series, HOUR);
          if (rate !== undefined) expect(Math.abs(rate)).toBeLessThan(level);
        },
      ),
      { numRuns: 2000 },
    );
    // The bound must also do its job: a good share of random windows is ruled out without a fit.
    expect(pruned).toBeGreaterThan(100);
  });

  it('does not rule out a real rise, and rules out a steady noisy signal', () => {
    const rising = new BucketSeries(2 * 60_000, HOUR);
    const steady = new BucketSeries(2 * 60_000, HOUR);
    for (let m = 0; m <= 62; m++) {
      rising.add(m * 60_000, 20 + (6 * m) / 60 + 0.2 * Math.sin(m));
      steady.add(m * 60_000, 20 + 0.2 * Math.sin(m * 7.1));
    }
    expect(rateCannotReach(rising, 3)).toBe(false);
    expect(seriesRatePerHour(rising, HOUR)).toBeGreaterThan(5);
    expect(rateCannotReach(steady, 3)).toBe(true);
  });
});
