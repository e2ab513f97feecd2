import { METRIC_CATALOGUE, type Modality } from '../../src/kernel/catalogue/metrics.js';
import { between, deriveSeed, gaussian, smoothNoise } from '../random.js';
import { HOUR, localHour } from '../time.js';
import type { Exam } from './workload.js';

export function catalogueNames(modality: Modality): string[] {
  return METRIC_CATALOGUE[modality].map((d) => d.name);
}

/** Per-device baseline drawn once from the seed, so two scanners of a fleet never look alike. */
export function baseline(seed: number, name: string, lo: number, hi: number): number {
  return between(lo, hi, seed, 'baseline', name);
}

/** Sensor noise source: one derived seed per metric keeps the per-draw hashing cheap. */
export class NoiseBank {
  private readonly seeds = new Map<string, number>();

  constructor(
    private readonly seed: number,
    private readonly scale: number,
  ) {}

  private seedOf(metric: string): number {
    let s = this.seeds.get(metric);
    if (s === undefined) {
      s = deriveSeed(this.seed, 'noise', metric);
      this.seeds.set(metric, s);
    }
    return s;
  }

  /** Independent N(0, σ²) per (metric, instant). */
  white(metric: string, t: number, sigma: number): number {
    return sigma * this.scale * gaussian(this.seedOf(metric), t);
  }

  /** Slowly wandering N(0, σ²) component with knots every `periodMs` (not scaled: it is the plant). */
  drift(metric: string, t: number, sigma: number, periodMs: number): number {
    return sigma * smoothNoise(t, periodMs, this.seedOf(metric), 'drift');
  }
}

/** Daily cycle peaking mid-afternoon (15:00 local), amplitude 1. */
export function dailyCycle(t: number, utcOffsetMin: number): number {
  return Math.cos((2 * Math.PI * (localHour(t, utcOffsetMin) - 15)) / 24);
}

/** Fraction of an exam's beam window elapsed at `x` (0 before, 1 after). */
export function beamProgress(exam: Exam, x: number): number {
  const span = exam.beamEnd - exam.beamStart;
  if (span <= 0) return x >= exam.beamEnd ? 1 : 0;
  return Math.min(1, Math.max(0, (x - exam.beamStart) / span));
}

/**
 * Integer share of `n` events spread evenly over an exam's beam window that falls in (from, to].
 * Shares of adjacent intervals add up to exactly `n`, whatever the tick.
 */
export function integerShare(exam: Exam, n: number, from: number, to: number): number {
  return Math.floor(n * beamProgress(exam, to)) - Math.floor(n * beamProgress(exam, from));
}

/**
 * First-order heating with time constant `tau` driven at unit power during [a, b): the response
 * at `t`, 0…1 (1 − e^(−Δ/τ) while on, then exponential decay).
 */
export function firstOrderPulse(a: number, b: number, t: number, tau: number): number {
  if (t <= a) return 0;
  if (t < b) return 1 - Math.exp(-(t - a) / tau);
  return (1 - Math.exp(-(b - a) / tau)) * Math.exp(-(t - b) / tau);
}

export const ROOM_WEATHER_PERIOD = 6 * HOUR;
