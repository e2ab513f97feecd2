/**
 * The static-threshold baseline of the detection benchmark: what a scanner's built-in alarm does.
 * One fixed limit per metric, checked on every reading; an alarm is raised when a reading crosses
 * the limit and cleared by the next reading back inside it. No hysteresis, no hold time, no
 * N-of-M, no trend and no baseline of the device's own: each reading is judged alone.
 *
 * The limits come from the metric catalogue of design §3. Where §3 gives a warning and a critical
 * level, a built-in alarm sits at the critical one (helium < 50 %, pressure > 6 psig, shield
 * > 60 K, housing ≈ 75 °C); where it gives one level, that one. Grades map as in §4: a warning →
 * general, a critical level → severe, a comfort band → minor. The device's own event codes
 * (quench, compressor trip) are not part of it: it watches metrics, as the engine's rules do.
 */
import type { Modality } from '../src/kernel/catalogue/metrics.js';
import type { Grade } from '../src/kernel/grades.js';

export interface StaticLimit {
  readonly metric: string;
  /** Bad above `limit`, below it, or outside [low, high]. */
  readonly direction: 'above' | 'below' | 'outside';
  readonly limit?: number;
  readonly low?: number;
  readonly high?: number;
  readonly grade: Grade;
  /** Where the limit comes from. */
  readonly source: string;
}

export const STATIC_LIMITS: Readonly<Record<Modality, readonly StaticLimit[]>> = {
  MR: [
    { metric: 'helium_level_pct', direction: 'below', limit: 50, grade: 'severe', source: '§3 helium: critical < 50 %' },
    { metric: 'helium_pressure_psi', direction: 'above', limit: 6, grade: 'severe', source: '§3 helium pressure: critical > 6 psig' },
    { metric: 'cold_head_temp_k', direction: 'above', limit: 4.6, grade: 'general', source: '§3 cold head 2nd stage: warn > 4.6 K' },
    { metric: 'shield_temp_k', direction: 'above', limit: 60, grade: 'severe', source: '§3 shield: critical > 60 K' },
    { metric: 'heater_power_w', direction: 'below', limit: 0.1, grade: 'general', source: '§3 heater: falling to 0 W means lost cold-head margin' },
    { metric: 'compressor_running', direction: 'below', limit: 0.5, grade: 'severe', source: '§3 compressor: off is critical (the built-in alarm has no 15 min hold)' },
    { metric: 'chilled_water_temp_c', direction: 'above', limit: 15, grade: 'general', source: '§3 chilled water: warn > setpoint + 3 (setpoint 12 °C)' },
    { metric: 'chilled_water_flow_lpm', direction: 'below', limit: 10, grade: 'general', source: '§3 flow alarm (no figure in §3: 10 L/min, the commissioning default)' },
    { metric: 'magnet_room_temp_c', direction: 'outside', low: 15, high: 21, grade: 'minor', source: '§3 magnet room 15–21 °C' },
    { metric: 'magnet_room_humidity_pct', direction: 'outside', low: 30, high: 60, grade: 'minor', source: '§3 magnet room humidity 30–60 %' },
    { metric: 'gradient_coil_temp_c', direction: 'above', limit: 35, grade: 'general', source: '§3 gradient coil: warn > 35 °C' },
  ],
  CT: [
    { metric: 'tube_heat_pct', direction: 'above', limit: 90, grade: 'general', source: '§3 tube heat: warn ≥ 85 sustained, console blocks at 100; without a hold, 90' },
    { metric: 'tube_housing_temp_c', direction: 'above', limit: 75, grade: 'severe', source: '§3 tube housing: critical ≈ 75 °C' },
    { metric: 'tube_arc_count', direction: 'above', limit: 19, grade: 'severe', source: '§3 tube arcs: > 20 in a burst aborts the scan (20 or more in one reading)' },
    { metric: 'filament_current_a', direction: 'above', limit: 6, grade: 'general', source: '§3 filament current 3–6 A (no per-tube baseline)' },
    { metric: 'gantry_temp_c', direction: 'above', limit: 35, grade: 'general', source: '§3 gantry: warn > 35 °C' },
    { metric: 'detector_temp_c', direction: 'outside', low: 34, high: 36, grade: 'general', source: '§3 detector: ±1 °C around its 35 °C setpoint' },
    { metric: 'room_temp_c', direction: 'outside', low: 18, high: 24, grade: 'minor', source: '§3 scan room 18–24 °C' },
    { metric: 'room_humidity_pct', direction: 'outside', low: 30, high: 70, grade: 'minor', source: '§3 scan room humidity 30–70 %' },
  ],
};

/** A short label for timelines: "helium_level_pct < 50". */
export function limitLabel(limit: StaticLimit): string {
  if (limit.direction === 'outside') return `${limit.metric} outside ${limit.low}–${limit.high}`;
  return `${limit.metric} ${limit.direction === 'above' ? '>' : '<'} ${limit.limit}`;
}

function breaches(limit: StaticLimit, value: number): boolean {
  switch (limit.direction) {
    case 'above':
      return value > limit.limit!;
    case 'below':
      return value < limit.limit!;
    case 'outside':
      return value < limit.low! || value > limit.high!;
  }
}

export interface StaticAlarm {
  readonly ts: number;
  readonly metric: string;
  readonly grade: Grade;
  readonly label: string;
}

/** One device's built-in alarms: every crossing into a limit is a new alarm. */
export class StaticThresholdAlarms {
  private readonly byMetric: ReadonlyMap<string, StaticLimit>;
  private readonly breached = new Set<string>();
  readonly alarms: StaticAlarm[] = [];

  constructor(modality: Modality) {
    this.byMetric = new Map(STATIC_LIMITS[modality].map((l) => [l.metric, l]));
  }

  onSample(metric: string, ts: number, value: number): void {
    const limit = this.byMetric.get(metric);
    if (!limit) return;
    const bad = breaches(limit, value);
    if (bad && !this.breached.has(metric)) {
      this.breached.add(metric);
      this.alarms.push({ ts, metric, grade: limit.grade, label: limitLabel(limit) });
    } else if (!bad) {
      this.breached.delete(metric);
    }
  }
}
