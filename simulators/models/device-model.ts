import type { Modality } from '../../src/kernel/catalogue/metrics.js';

/** States a device announces on `guardian/{site}/{device}/status`. */
export type DeviceState = 'online' | 'offline' | 'scanning' | 'standby' | 'service';

/** Metric values of one reading, keyed by catalogue name. */
export type MetricValues = Record<string, number>;

/** Counters that have no explicit `since` cover this window ending at `t`. */
export const DEFAULT_COUNTER_WINDOW_MS = 60_000;

/**
 * A physical model of one scanner. Every output is a pure function of the constructor inputs and
 * the arguments, so any instant can be regenerated in any order.
 */
export interface DeviceModel {
  readonly modality: Modality;
  readonly deviceId: string;
  /** Every metric the model produces, in catalogue order. */
  readonly metrics: readonly string[];
  /**
   * Sampling period per metric in ms; 0 means "every sampling tick". A metric with a period P is
   * due at a tick t (previous tick p) when floor(t / P) differs from floor(p / P), i.e. when a
   * multiple of P lies in (p, t].
   */
  readonly periodMs: Readonly<Record<string, number>>;
  /**
   * All metrics at epoch-ms `t`: gauges are instantaneous readings (with sensor noise), counters
   * are increments during (since, t]; `since` defaults to t − DEFAULT_COUNTER_WINDOW_MS.
   */
  sample(t: number, since?: number): MetricValues;
  /** Noise-free gauge values at `t`: what the plant is really doing, for ground-truth maths. */
  truth(t: number): MetricValues;
  /** Operating state at `t` (scanning while an exam is on the table). */
  state(t: number): DeviceState;
}

export interface ModelOptions {
  /** Device seed (already mixed with the device id). */
  readonly seed: number;
  readonly deviceId: string;
  /** Local time offset for the workload and the daily room cycle; default Asia/Shanghai. */
  readonly utcOffsetMin?: number;
  /** Relative σ of sensor noise; 1 = the model's moderate default. */
  readonly noiseScale?: number;
}

export function isDue(periodMs: number, t: number, previous: number): boolean {
  return periodMs <= 0 || Math.floor(t / periodMs) !== Math.floor(previous / periodMs);
}

/** Decimal places published per metric; other metrics default to 2. */
const PRECISION: Readonly<Record<string, number>> = {
  cold_head_temp_k: 3,
  filament_current_a: 3,
  helium_pressure_psi: 3,
  heater_power_w: 3,
  compressor_supply_psi: 1,
  compressor_running: 0,
  exams_count: 0,
  tube_arc_count: 0,
  scan_seconds: 1,
  tube_mas: 0,
};

export function roundMetric(metric: string, value: number): number {
  const digits = PRECISION[metric] ?? 2;
  const f = 10 ** digits;
  const r = Math.round(value * f) / f;
  return Object.is(r, -0) ? 0 : r;
}
