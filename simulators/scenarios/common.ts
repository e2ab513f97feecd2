import { CtModel } from '../models/ct.js';
import type { DeviceModel, MetricValues } from '../models/device-model.js';
import { MrModel } from '../models/mr.js';
import { between } from '../random.js';
import { DAY, HOUR, MINUTE } from '../time.js';

export const HELIUM_CRITICAL_PCT = 50;

export function requireMr(model: DeviceModel, scenario: string): MrModel {
  if (!(model instanceof MrModel)) throw new Error(`scenario ${scenario} needs an MR model, got ${model.modality}`);
  return model;
}

export function requireCt(model: DeviceModel, scenario: string): CtModel {
  if (!(model instanceof CtModel)) throw new Error(`scenario ${scenario} needs a CT model, got ${model.modality}`);
  return model;
}

export function rise(x: number, tau: number): number {
  return x <= 0 ? 0 : 1 - Math.exp(-x / tau);
}

/** Adds `delta` to a metric if the reading carries it. */
export function bump(values: MetricValues, metric: string, delta: number): void {
  const v = values[metric];
  if (v !== undefined) values[metric] = v + delta;
}

export function scale(values: MetricValues, metric: string, factor: number): void {
  const v = values[metric];
  if (v !== undefined) values[metric] = v * factor;
}

/** First x in [lo, hi] with f(x) ≥ 0 for a non-decreasing f (bisection to `tolerance`). */
export function firstCrossing(f: (x: number) => number, lo: number, hi: number, tolerance: number): number | undefined {
  if (f(hi) < 0) return undefined;
  if (f(lo) >= 0) return lo;
  while (hi - lo > tolerance) {
    const mid = (lo + hi) / 2;
    if (f(mid) >= 0) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * What a magnet does once its cold head stops (compressor off): boil-off ramps up over a few hours
 * to a steady 2.5–3.5 %/day, the vessel pressure rises within hours while the heater drops to
 * 0 W, the cold head's second stage warms, and the shield warms ~2 K/h before levelling off
 * ~16 K higher (boil-off gas keeps cooling it, so it stays below 60 K).
 */
export class ColdHeadStop {
  readonly lossPerDay: number;
  static readonly RAMP_TAU = 6 * HOUR;
  static readonly STATIC_SUPPLY_PSI = 205;

  constructor(
    readonly model: MrModel,
    readonly stopAt: number,
    seed: number,
  ) {
    this.lossPerDay = between(2.5, 3.5, seed, 'boil-off-rate');
  }

  /** Helium percentage points lost `x` ms after the stop. */
  heliumLoss(x: number): number {
    if (x <= 0) return 0;
    const tau = ColdHeadStop.RAMP_TAU;
    return (this.lossPerDay * (x - tau * (1 - Math.exp(-x / tau)))) / DAY;
  }

  /** When the noise-free level crosses below 50 %. */
  criticalAt(): number {
    const l0 = this.model.params.heliumLevelPct;
    const x = firstCrossing((d) => this.heliumLoss(d) - (l0 - HELIUM_CRITICAL_PCT), 0, 120 * DAY, 1000);
    return this.stopAt + Math.ceil(x ?? 120 * DAY);
  }

  apply(t: number, values: MetricValues): void {
    const x = t - this.stopAt;
    if (x < 0) return;
    values.compressor_running = 0;
    const supply = values.compressor_supply_psi;
    if (supply !== undefined) {
      const s = ColdHeadStop.STATIC_SUPPLY_PSI;
      values.compressor_supply_psi = s + (supply - s) * Math.exp(-x / (5 * MINUTE));
    }
    bump(values, 'helium_level_pct', -this.heliumLoss(x));
    bump(values, 'helium_pressure_psi', 2.2 * rise(x, 1.5 * HOUR));
    scale(values, 'heater_power_w', Math.exp(-x / (10 * MINUTE)));
    bump(values, 'cold_head_temp_k', 30 * rise(x, 3 * HOUR));
    bump(values, 'shield_temp_k', 16 * rise(x, 8 * HOUR));
  }
}
