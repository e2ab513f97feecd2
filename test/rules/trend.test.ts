import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeEta, forecastCrossing, theilSen } from '../../rules/trend.js';

const DAY = 86_400_000;

describe('Theil–Sen trend forecast', () => {
  it('gives exactly the quantiles of the fully sorted pairwise slopes (selection, not sorting)', () => {
    const quantile = (sorted: number[], q: number) => {
      const pos = (sorted.length - 1) * q;
      const lo = Math.floor(pos);
      const hi = Math.ceil(pos);
      return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
    };
    fc.assert(
      fc.property(
        fc.array(fc.record({ ts: fc.integer({ min: 0, max: 50 }), value: fc.integer({ min: -5, max: 5 }) }), { minLength: 2, maxLength: 60 }),
        fc.constantFrom(0.5, 0.8, 0.9, 0.95),
        (points, confidence) => {
          const slopes: number[] = [];
          for (let i = 0; i < points.length; i++)
            for (let j = i + 1; j < points.length; j++) if (points[j]!.ts !== points[i]!.ts) slopes.push((points[j]!.value - points[i]!.value) / (points[j]!.ts - points[i]!.ts));
          const fit = theilSen(points, 25, confidence);
          if (slopes.length === 0) {
            expect(fit).toBeUndefined();
            return;
          }
          slopes.sort((a, b) => a - b);
          const tail = (1 - confidence) / 2;
          // `+ 0` folds −0 into 0: which of two equal zeros lands in the middle is not a difference.
          expect(fit!.slope + 0).toBe(quantile(slopes, 0.5) + 0);
          expect(fit!.slopeLow + 0).toBe(quantile(slopes, tail) + 0);
          expect(fit!.slopeHigh + 0).toBe(quantile(slopes, 1 - tail) + 0);
          const intercepts = points.map((p) => p.value - fit!.slope * (p.ts - 25)).sort((a, b) => a - b);
          expect(fit!.level + 0).toBe(quantile(intercepts, 0.5) + 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('recovers the slope of a noisy line and forecasts its crossing with a band around it', () => {
    // Helium falling 3 %/day from 80 % with ±1 % noise and two spikes.
    const points = Array.from({ length: 96 }, (_, i) => ({ ts: i * (DAY / 16), value: 80 - 3 * (i / 16) + Math.sin(i * 7.3) }));
    points[20] = { ts: points[20]!.ts, value: 20 };
    points[50] = { ts: points[50]!.ts, value: 99 };
    const at = points[points.length - 1]!.ts;
    const fit = theilSen(points, at)!;
    expect(fit.slope * DAY).toBeCloseTo(-3, 1);
    const crossing = forecastCrossing(fit, 50, 'below')!;
    // 80 − 3·6 = 62 now → 50 in ≈ 4 days.
    expect((crossing.at - at) / DAY).toBeCloseTo(4, 0);
    expect(crossing.earliest).toBeLessThanOrEqual(crossing.at);
    expect(crossing.latest).toBeGreaterThanOrEqual(crossing.at);
  });

  it('forecasts nothing for a flat or receding signal, or one already past the threshold', () => {
    const flat = theilSen([0, 1, 2, 3].map((i) => ({ ts: i * DAY, value: 70 })), 3 * DAY)!;
    expect(forecastCrossing(flat, 50, 'below')).toBeUndefined();
    const rising = theilSen([0, 1, 2, 3].map((i) => ({ ts: i * DAY, value: 70 + i })), 3 * DAY)!;
    expect(forecastCrossing(rising, 50, 'below')).toBeUndefined();
    const below = theilSen([0, 1, 2, 3].map((i) => ({ ts: i * DAY, value: 45 - i })), 3 * DAY)!;
    expect(forecastCrossing(below, 50, 'below')).toBeUndefined();
  });

  it('recovers any straight line exactly (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -10, max: 10, noNaN: true }), fc.double({ min: -100, max: 100, noNaN: true }), fc.integer({ min: 3, max: 40 }), (perDay, start, n) => {
        const points = Array.from({ length: n }, (_, i) => ({ ts: i * DAY, value: start + perDay * i }));
        const fit = theilSen(points, (n - 1) * DAY)!;
        expect(fit.slope * DAY).toBeCloseTo(perDay, 6);
        expect(fit.level).toBeCloseTo(start + perDay * (n - 1), 6);
      }),
      { numRuns: 100 },
    );
  });

  it('describes the time to crossing in Chinese and English', () => {
    expect(describeEta(9.3 * DAY, 'zh')).toBe('9.3 天');
    expect(describeEta(9.3 * DAY, 'en')).toBe('9.3 days');
    expect(describeEta(30 * 3_600_000, 'en')).toBe('30.0 hours');
  });
});
