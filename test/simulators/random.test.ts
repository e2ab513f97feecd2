import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gaussian, hash32, poisson, smoothNoise, uniform } from '../../simulators/random.js';
import { parseDuration } from '../../src/kernel/time/duration.js';

describe('counter-based randomness', () => {
  it('is a pure function of seed and keys', () => {
    fc.assert(
      fc.property(fc.integer(), fc.string(), fc.integer({ min: 0, max: 2 ** 45 }), (seed, key, t) => {
        expect(uniform(seed, key, t)).toBe(uniform(seed, key, t));
        expect(gaussian(seed, key, t)).toBe(gaussian(seed, key, t));
      }),
    );
  });

  it('separates seeds, keys, key order and key types', () => {
    expect(hash32(1, 'a', 'b')).not.toBe(hash32(1, 'b', 'a'));
    expect(hash32(1, 'a')).not.toBe(hash32(2, 'a'));
    expect(hash32(1, 1)).not.toBe(hash32(1, '1'));
    expect(hash32(1, 'ab')).not.toBe(hash32(1, 'a', 'b'));
    // Epoch milliseconds that differ only above 32 bits still hash apart.
    expect(hash32(1, 1_700_000_000_000)).not.toBe(hash32(1, 1_700_000_000_000 + 2 ** 32));
  });

  it('has the right moments', () => {
    const n = 20_000;
    const u = Array.from({ length: n }, (_, i) => uniform(7, 'u', i));
    const g = Array.from({ length: n }, (_, i) => gaussian(7, 'g', i));
    const mu = u.reduce((a, b) => a + b, 0) / n;
    const mg = g.reduce((a, b) => a + b, 0) / n;
    const vg = g.reduce((a, b) => a + (b - mg) ** 2, 0) / n;
    expect(Math.min(...u)).toBeGreaterThan(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(mu).toBeCloseTo(0.5, 1);
    expect(mg).toBeCloseTo(0, 1);
    expect(vg).toBeGreaterThan(0.95);
    expect(vg).toBeLessThan(1.05);
  });

  it('draws Poisson counts with the requested mean', () => {
    for (const lambda of [0.05, 3, 25]) {
      const n = 5_000;
      const m = Array.from({ length: n }, (_, i) => poisson(lambda, 3, i)).reduce((a, b) => a + b, 0) / n;
      expect(Math.abs(m - lambda)).toBeLessThan(0.1 * lambda + 0.02);
    }
    expect(poisson(0, 1, 1)).toBe(0);
  });

  it('smooth noise is continuous', () => {
    const step = 60_000;
    let maxJump = 0;
    for (let t = 0; t < 86_400_000; t += step) {
      maxJump = Math.max(maxJump, Math.abs(smoothNoise(t + step, 6 * 3_600_000, 5) - smoothNoise(t, 6 * 3_600_000, 5)));
    }
    expect(maxJump).toBeLessThan(0.05);
  });
});

describe('parseDuration', () => {
  it.each([
    ['3d', 3 * 86_400_000],
    ['-2h', -7_200_000],
    ['36h', 129_600_000],
    ['1w', 604_800_000],
    ['90s', 90_000],
    ['250ms', 250],
    ['15m', 900_000],
    ['1d12h', 129_600_000],
    ['+1.5h', 5_400_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'h', '3x', '2026-11-09T00:00:00Z', '3 d', '--1h'])('rejects %j', (text) => expect(parseDuration(text)).toBeUndefined());
});
