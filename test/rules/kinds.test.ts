import fc from 'fast-check';
import { median, medianAbsoluteDeviation } from 'simple-statistics';
import { describe, expect, it } from 'vitest';
import { anomalyScore, ewmaBaseline, expectedRange, isAnomalous, madBaseline } from '../../rules/anomaly.js';
import { compositeActive } from '../../rules/composite.js';
import { describeDuration } from '../../rules/describe.js';
import { RulePackSchema } from '../../rules/pack-schema.js';
import { directedRate, rateGrade, ratePerHour } from '../../rules/rate.js';
import { BucketSeries } from '../../rules/windows.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** A seeded standard normal generator (Box–Muller over a small LCG), so the tests are repeatable. */
function normal(seed: number): () => number {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

describe('bucket windows', () => {
  it('keep count, sum, min and max per bucket and drop buckets older than the window', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 10 * HOUR }), fc.double({ min: -100, max: 100, noNaN: true })), { minLength: 1, maxLength: 200 }), (input) => {
        const samples = [...input].sort((a, b) => a[0] - b[0]);
        const series = new BucketSeries(10 * MIN, 2 * HOUR);
        for (const [ts, value] of samples) series.add(ts, value);
        const newest = series.startOf(samples[samples.length - 1]![0]);
        const kept = samples.filter(([ts]) => series.startOf(ts) > newest - 2 * HOUR);
        const points = series.points();
        expect(points.reduce((n, p) => n + p.count, 0)).toBe(kept.length);
        expect(points.reduce((n, p) => n + p.sum, 0)).toBeCloseTo(kept.reduce((n, [, v]) => n + v, 0), 6);
        for (const p of points) {
          const inBucket = kept.filter(([ts]) => series.startOf(ts) === p.ts).map(([, v]) => v);
          expect(p.min).toBe(Math.min(...inBucket));
          expect(p.max).toBe(Math.max(...inBucket));
        }
      }),
    );
  });

  it('report a new bucket exactly when one starts', () => {
    const series = new BucketSeries(MIN, HOUR);
    expect(series.add(0, 1)).toBe(true);
    expect(series.add(30_000, 1)).toBe(false);
    expect(series.add(MIN, 1)).toBe(true);
    expect(series.add(10, 1)).toBe(false);
    expect(series.sumSince(MIN)).toBe(1);
    expect(series.sumSince(0)).toBe(4);
  });
});

describe('rate of change', () => {
  it('recovers the slope of a noisy line, and the noise alone gives no rate worth alerting', () => {
    fc.assert(
      fc.property(fc.double({ min: -20, max: 20, noNaN: true }), fc.integer({ min: 1, max: 1_000_000 }), (perHour, seed) => {
        const noise = normal(seed);
        const series = new BucketSeries(MIN, HOUR);
        for (let s = 0; s < 3600; s += 10) series.add(s * 1000, 18 + (perHour * s) / 3600 + 0.3 * noise());
        const rate = ratePerHour(series.points(), MIN, HOUR)!;
        expect(Math.abs(rate - perHour)).toBeLessThan(0.5);
      }),
      { numRuns: 50 },
    );
  });

  it('says nothing before half the window is filled', () => {
    const series = new BucketSeries(MIN, HOUR);
    for (let m = 0; m < 20; m++) series.add(m * MIN, m);
    expect(ratePerHour(series.points(), MIN, HOUR)).toBeUndefined();
  });

  it('grades by direction with hysteresis at 80 % of the level', () => {
    const rule = { per_hour: { minor: 3, general: 6 }, direction: 'rise' as const };
    expect(directedRate(-5, 'fall')).toBe(5);
    expect(directedRate(-5, 'rise')).toBe(0);
    expect(rateGrade(-10, undefined, rule)).toBeUndefined();
    expect(rateGrade(6.5, undefined, rule)).toBe('general');
    expect(rateGrade(5, 'general', rule)).toBe('general');
    expect(rateGrade(4.7, 'general', rule)).toBe('minor');
    expect(rateGrade(2.3, 'minor', rule)).toBeUndefined();
  });
});

describe('anomaly baselines', () => {
  it('estimate the probe noise from bucket ranges whatever the bucket size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 60 }), fc.double({ min: 0.05, max: 5, noNaN: true }), fc.integer({ min: 1, max: 1_000_000 }), (perBucket, sigma, seed) => {
        const noise = normal(seed);
        const buckets = Array.from({ length: 100 }, () => {
          const values = Array.from({ length: perBucket }, () => 40 + sigma * noise());
          return { count: perBucket, sum: values.reduce((a, b) => a + b, 0), min: Math.min(...values), max: Math.max(...values) };
        });
        for (const baseline of [madBaseline(buckets)!, ewmaBaseline(buckets, 0.1, 6)!]) {
          expect(baseline.scale / sigma).toBeGreaterThan(0.8);
          expect(baseline.scale / sigma).toBeLessThan(1.35);
          expect(Math.abs(baseline.centre - 40)).toBeLessThan(sigma);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('ignore one spiky bucket', () => {
    const quiet = Array.from({ length: 50 }, () => ({ count: 10, sum: 400, min: 39.8, max: 40.2 }));
    const spiky = [...quiet, { count: 10, sum: 430, min: 39.8, max: 70 }];
    expect(madBaseline(spiky)!.centre).toBe(40);
    expect(madBaseline(spiky)!.scale).toBeCloseTo(madBaseline(quiet)!.scale, 6);
    expect(isAnomalous(anomalyScore(43, madBaseline(spiky)!), 5, 'above')).toBe(true);
    expect(isAnomalous(anomalyScore(43, madBaseline(spiky)!), 5, 'below')).toBe(false);
  });

  it('mad: the median and MAD of the bucket means, exactly as simple-statistics gives them (property)', () => {
    const bucket = fc.record({ count: fc.integer({ min: 0, max: 30 }), mean: fc.double({ min: -500, max: 500, noNaN: true }), spread: fc.double({ min: 0, max: 10, noNaN: true }) });
    fc.assert(
      fc.property(fc.array(bucket, { minLength: 1, maxLength: 250 }), (input) => {
        const buckets = input.map((b) => ({ count: b.count, sum: b.mean * b.count, min: b.mean - b.spread, max: b.mean + b.spread }));
        const means = buckets.filter((b) => b.count > 0).map((b) => b.sum / b.count);
        const noise = buckets.filter((b) => b.count >= 2).map((b) => (b.max - b.min) / expectedRange(b.count));
        const baseline = madBaseline(buckets);
        if (means.length === 0) {
          expect(baseline).toBeUndefined();
          return;
        }
        const centre = median(means);
        const within = noise.length > 0 ? median(noise) : 0;
        const between = 1.4826 * medianAbsoluteDeviation(means);
        expect(baseline).toEqual({ centre, scale: Math.max(Math.sqrt(within * within + between * between), 1e-5 * Math.max(1, Math.abs(centre))), buckets: means.length });
      }),
      { numRuns: 300 },
    );
  });

  it('use the control-chart constants for the expected range', () => {
    expect(expectedRange(2)).toBeCloseTo(1.128, 3);
    expect(expectedRange(10)).toBeCloseTo(3.078, 3);
    expect(expectedRange(12)).toBeGreaterThan(3.078);
    expect(expectedRange(12)).toBeLessThan(3.472);
  });
});

describe('composite conditions', () => {
  it('all/any over metric and rule conditions; an unknown metric is false', () => {
    const rule = (mode: 'all' | 'any') => ({
      mode,
      conditions: [
        { metric: 'compressor_running', op: '==' as const, value: 0 },
        { rule: 'shield-anomaly', state: 'firing' as const },
      ],
    });
    const inputs = (running: number | undefined, firing: boolean) => ({ latest: () => running, firing: () => firing });
    expect(compositeActive(rule('all'), inputs(0, true))).toBe(true);
    expect(compositeActive(rule('all'), inputs(0, false))).toBe(false);
    expect(compositeActive(rule('any'), inputs(0, false))).toBe(true);
    expect(compositeActive(rule('any'), inputs(undefined, false))).toBe(false);
  });
});

describe('message placeholders', () => {
  it('durations read naturally in both languages', () => {
    expect(describeDuration(86_400_000, 'zh')).toBe('1 天');
    expect(describeDuration(86_400_000, 'en')).toBe('1 day');
    expect(describeDuration(30 * MIN, 'en')).toBe('30 minutes');
    expect(describeDuration(90 * MIN, 'zh')).toBe('1.5 小时');
  });

  it('a placeholder the rule kind does not fill is refused', () => {
    const pack = {
      pack: 'p',
      modality: 'MR',
      rules: [{ id: 'r', kind: 'threshold', metric: 'helium_level_pct', direction: 'below', levels: { general: { raise: 60, clear: 62 } }, message: { zh: '{{eta}}', en: '{{threshold}}' } }],
    };
    const result = RulePackSchema.safeParse(pack);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/placeholder \{\{eta\}\} is not filled for threshold rules/);
  });
});
