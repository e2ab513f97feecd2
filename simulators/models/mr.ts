import { DAY, HOUR, MINUTE, SHANGHAI_UTC_OFFSET_MIN } from '../time.js';
import { baseline, catalogueNames, dailyCycle, firstOrderPulse, NoiseBank, ROOM_WEATHER_PERIOD } from './common.js';
import {
  DEFAULT_COUNTER_WINDOW_MS,
  type DeviceModel,
  type DeviceState,
  type MetricValues,
  type ModelOptions,
} from './device-model.js';
import { ExamSchedule, MR_WORKLOAD, type WorkloadProfile } from './workload.js';

export interface MrParams {
  /** Helium level of this magnet; a zero boil-off magnet holds it. */
  readonly heliumLevelPct: number;
  readonly heliumPressurePsi: number;
  readonly coldHeadK: number;
  readonly shieldK: number;
  /** Heater power with no scanning: the cold head's spare capacity. */
  readonly heaterPowerW: number;
  readonly compressorSupplyPsi: number;
  readonly chilledWaterC: number;
  readonly chilledWaterLpm: number;
  readonly roomTempC: number;
  readonly roomHumidityPct: number;
  /** Gradient coil above the chilled water when idle. */
  readonly gradientIdleOffsetC: number;
  /** Gradient coil rise under continuous scanning. */
  readonly gradientRiseC: number;
  /** σ of the helium probe in percentage points (real probes: ±1–5 %; kept moderate). */
  readonly heliumProbeSigma: number;
  /** Sampling period of the helium probe. */
  readonly heliumPeriodMs: number;
}

export interface MrModelOptions extends ModelOptions {
  readonly workload?: WorkloadProfile;
  readonly params?: Partial<MrParams>;
}

const GRADIENT_TAU = 20 * MINUTE;

export class MrModel implements DeviceModel {
  readonly modality = 'MR' as const;
  readonly deviceId: string;
  readonly metrics: readonly string[] = catalogueNames('MR');
  readonly periodMs: Readonly<Record<string, number>>;
  readonly params: MrParams;
  readonly schedule: ExamSchedule;
  readonly utcOffsetMin: number;
  private readonly noise: NoiseBank;

  constructor(options: MrModelOptions) {
    const s = options.seed;
    this.deviceId = options.deviceId;
    this.utcOffsetMin = options.utcOffsetMin ?? SHANGHAI_UTC_OFFSET_MIN;
    this.schedule = new ExamSchedule(s, options.workload ?? MR_WORKLOAD, this.utcOffsetMin);
    this.noise = new NoiseBank(s, options.noiseScale ?? 1);
    this.params = {
      heliumLevelPct: baseline(s, 'helium', 75, 92),
      heliumPressurePsi: baseline(s, 'pressure', 1.6, 2.6),
      coldHeadK: baseline(s, 'coldHead', 4.15, 4.25),
      shieldK: baseline(s, 'shield', 37, 42),
      heaterPowerW: baseline(s, 'heater', 2.8, 4.5),
      compressorSupplyPsi: baseline(s, 'supply', 278, 292),
      chilledWaterC: baseline(s, 'water', 11, 13),
      chilledWaterLpm: baseline(s, 'flow', 15, 17.5),
      roomTempC: baseline(s, 'room', 17.5, 19.5),
      roomHumidityPct: baseline(s, 'humidity', 40, 50),
      gradientIdleOffsetC: baseline(s, 'gradientIdle', 7, 9),
      gradientRiseC: baseline(s, 'gradientRise', 10, 13),
      heliumProbeSigma: 0.4,
      heliumPeriodMs: 15 * MINUTE,
      ...options.params,
    };
    this.periodMs = Object.fromEntries(this.metrics.map((m) => [m, m === 'helium_level_pct' ? this.params.heliumPeriodMs : 0]));
  }

  /** Gradient heat load 0…~1: first-order response to the sequences of recent exams. */
  gradientLoad(t: number): number {
    let load = 0;
    for (const e of this.schedule.between(t - 8 * GRADIENT_TAU, t)) {
      load += e.intensity * firstOrderPulse(e.beamStart, e.beamEnd, t, GRADIENT_TAU);
    }
    return load;
  }

  truth(t: number): MetricValues {
    const p = this.params;
    const n = this.noise;
    const load = this.gradientLoad(t);
    const cycle = dailyCycle(t, this.utcOffsetMin);
    const water = p.chilledWaterC + 0.2 * cycle + n.drift('chilled_water_temp_c', t, 0.1, 2 * HOUR);
    const room = p.roomTempC + 0.6 * cycle + 0.4 * load + n.drift('magnet_room_temp_c', t, 0.3, ROOM_WEATHER_PERIOD);
    return {
      helium_level_pct: p.heliumLevelPct + n.drift('helium_level_pct', t, 0.15, DAY),
      helium_pressure_psi: p.heliumPressurePsi + 0.05 * load + n.drift('helium_pressure_psi', t, 0.02, HOUR),
      cold_head_temp_k: p.coldHeadK + 0.02 * load,
      shield_temp_k: p.shieldK + 0.3 * load + n.drift('shield_temp_k', t, 0.2, 12 * HOUR),
      // Gradient eddy currents heat the helium bath; the regulator answers with less heater power.
      heater_power_w: Math.max(0, p.heaterPowerW - 1.0 * load + n.drift('heater_power_w', t, 0.1, 2 * HOUR)),
      compressor_running: 1,
      compressor_supply_psi: p.compressorSupplyPsi,
      chilled_water_temp_c: water,
      chilled_water_flow_lpm: p.chilledWaterLpm + n.drift('chilled_water_flow_lpm', t, 0.2, 4 * HOUR),
      magnet_room_temp_c: room,
      magnet_room_humidity_pct: p.roomHumidityPct - 2 * cycle + n.drift('magnet_room_humidity_pct', t, 3, 8 * HOUR),
      gradient_coil_temp_c: water + p.gradientIdleOffsetC + p.gradientRiseC * load,
    };
  }

  sample(t: number, _since: number = t - DEFAULT_COUNTER_WINDOW_MS): MetricValues {
    const v = this.truth(t);
    const n = this.noise;
    const g = (m: string): number => v[m] ?? 0;
    return {
      helium_level_pct: g('helium_level_pct') + n.white('helium_level_pct', t, this.params.heliumProbeSigma),
      helium_pressure_psi: g('helium_pressure_psi') + n.white('helium_pressure_psi', t, 0.01),
      cold_head_temp_k: g('cold_head_temp_k') + n.white('cold_head_temp_k', t, 0.005),
      shield_temp_k: g('shield_temp_k') + n.white('shield_temp_k', t, 0.05),
      heater_power_w: Math.max(0, g('heater_power_w') + n.white('heater_power_w', t, 0.05)),
      compressor_running: g('compressor_running'),
      compressor_supply_psi: g('compressor_supply_psi') + n.white('compressor_supply_psi', t, 1),
      chilled_water_temp_c: g('chilled_water_temp_c') + n.white('chilled_water_temp_c', t, 0.05),
      chilled_water_flow_lpm: g('chilled_water_flow_lpm') + n.white('chilled_water_flow_lpm', t, 0.1),
      magnet_room_temp_c: g('magnet_room_temp_c') + n.white('magnet_room_temp_c', t, 0.05),
      magnet_room_humidity_pct: g('magnet_room_humidity_pct') + n.white('magnet_room_humidity_pct', t, 0.3),
      gradient_coil_temp_c: g('gradient_coil_temp_c') + n.white('gradient_coil_temp_c', t, 0.1),
    };
  }

  state(t: number): DeviceState {
    return this.schedule.activeAt(t) ? 'scanning' : 'standby';
  }
}
