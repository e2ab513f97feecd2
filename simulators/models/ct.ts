import { deriveSeed, poisson } from '../random.js';
import { HOUR, MINUTE, SHANGHAI_UTC_OFFSET_MIN } from '../time.js';
import {
  baseline,
  beamProgress,
  catalogueNames,
  dailyCycle,
  integerShare,
  NoiseBank,
  ROOM_WEATHER_PERIOD,
} from './common.js';
import {
  DEFAULT_COUNTER_WINDOW_MS,
  type DeviceModel,
  type DeviceState,
  type MetricValues,
  type ModelOptions,
} from './device-model.js';
import { CT_WORKLOAD, ExamSchedule, type Exam, type WorkloadProfile } from './workload.js';

export interface CtParams {
  readonly roomTempC: number;
  readonly roomHumidityPct: number;
  readonly filamentCurrentA: number;
  readonly detectorSetpointC: number;
  /** Housing temperature above the room with a cold anode. */
  readonly housingOffsetC: number;
  /** Gantry electronics above the room when idle. */
  readonly gantryOffsetC: number;
  /** Arcs per exam of a healthy tube (spits are rare, not absent). */
  readonly healthyArcsPerExam: number;
  /** Anode cooling time constant. */
  readonly anodeTauMs: number;
  /** Tube housing / oil time constant (the lag behind the anode). */
  readonly housingTauMs: number;
  /** Anode heat percentage added per mAs. */
  readonly heatPerMas: number;
}

export interface CtModelOptions extends ModelOptions {
  readonly workload?: WorkloadProfile;
  readonly params?: Partial<CtParams>;
}

const ANODE_IDLE_PCT = 2;
const HOUSING_GAIN = 0.15;
const GANTRY_GAIN = 0.025;
const DETECTOR_GAIN = 0.003;

export class CtModel implements DeviceModel {
  readonly modality = 'CT' as const;
  readonly deviceId: string;
  readonly metrics: readonly string[] = catalogueNames('CT');
  readonly periodMs: Readonly<Record<string, number>>;
  readonly params: CtParams;
  readonly schedule: ExamSchedule;
  readonly utcOffsetMin: number;
  private readonly noise: NoiseBank;
  private readonly arcSeed: number;

  constructor(options: CtModelOptions) {
    const s = options.seed;
    this.deviceId = options.deviceId;
    this.utcOffsetMin = options.utcOffsetMin ?? SHANGHAI_UTC_OFFSET_MIN;
    this.schedule = new ExamSchedule(s, options.workload ?? CT_WORKLOAD, this.utcOffsetMin);
    this.noise = new NoiseBank(s, options.noiseScale ?? 1);
    this.arcSeed = deriveSeed(s, 'arcs');
    this.periodMs = Object.fromEntries(this.metrics.map((m) => [m, 0]));
    this.params = {
      roomTempC: baseline(s, 'room', 20, 22.5),
      roomHumidityPct: baseline(s, 'humidity', 42, 55),
      filamentCurrentA: baseline(s, 'filament', 4, 5),
      detectorSetpointC: baseline(s, 'detector', 34.5, 35.5),
      housingOffsetC: baseline(s, 'housing', 9, 12),
      gantryOffsetC: baseline(s, 'gantry', 1.5, 2.5),
      healthyArcsPerExam: 0.02,
      anodeTauMs: 12 * MINUTE,
      housingTauMs: 60 * MINUTE,
      heatPerMas: 1 / 300,
      ...options.params,
    };
  }

  /** Anode heat deposited by an exam, in % of the tube's heat capacity. */
  examHeat(exam: Exam): number {
    return exam.scanSeconds * exam.intensity * this.params.heatPerMas;
  }

  /** Anode heat %: ramps while the beam is on, decays exponentially afterwards (the saw-tooth). */
  anodeHeat(t: number): number {
    const tau = this.params.anodeTauMs;
    let heat = ANODE_IDLE_PCT;
    for (const e of this.schedule.between(t - 8 * tau, t)) {
      if (t <= e.beamStart) continue;
      const dh = this.examHeat(e);
      heat += t < e.beamEnd ? dh * beamProgress(e, t) : dh * Math.exp(-(t - e.beamEnd) / tau);
    }
    return Math.min(100, heat);
  }

  /**
   * Heat that has flowed from the anode into the housing and oil, still stored there: anode heat
   * decays into it with τ_anode and leaves it with τ_housing, so it peaks ~½ h after an exam.
   */
  storedHousingHeat(t: number): number {
    const t1 = this.params.anodeTauMs;
    const t2 = this.params.housingTauMs;
    const k = t2 / (t2 - t1);
    let sum = 0;
    for (const e of this.schedule.between(t - 6 * t2, t)) {
      const mid = (e.beamStart + e.beamEnd) / 2;
      if (t <= mid) continue;
      const x = t - mid;
      sum += this.examHeat(e) * k * (Math.exp(-x / t2) - Math.exp(-x / t1));
    }
    return sum;
  }

  roomTemp(t: number): number {
    return this.params.roomTempC + 0.8 * dailyCycle(t, this.utcOffsetMin) + this.noise.drift('room_temp_c', t, 0.3, ROOM_WEATHER_PERIOD);
  }

  truth(t: number): MetricValues {
    const p = this.params;
    const room = this.roomTemp(t);
    const stored = this.storedHousingHeat(t);
    return {
      tube_heat_pct: this.anodeHeat(t),
      tube_housing_temp_c: room + p.housingOffsetC + HOUSING_GAIN * stored,
      filament_current_a: p.filamentCurrentA,
      gantry_temp_c: room + p.gantryOffsetC + GANTRY_GAIN * stored,
      detector_temp_c: p.detectorSetpointC + DETECTOR_GAIN * stored,
      room_temp_c: room,
      room_humidity_pct:
        p.roomHumidityPct - 2.5 * dailyCycle(t, this.utcOffsetMin) + this.noise.drift('room_humidity_pct', t, 3, 8 * HOUR),
    };
  }

  /** Arcs of one exam at a given expected rate; keyed by slot so a scenario can re-draw them. */
  arcsOfExam(exam: Exam, arcsPerExam: number, seed = this.arcSeed): number {
    return poisson(arcsPerExam, seed, exam.slot);
  }

  /** Usage counters for (since, t]: each exam's beam-on seconds, mAs and arcs spread over its beam. */
  counters(since: number, t: number, arcsPerExam?: (exam: Exam) => number): MetricValues {
    let exams = 0;
    let seconds = 0;
    let mas = 0;
    let arcs = 0;
    for (const e of this.schedule.between(since, t)) {
      if (e.end > since && e.end <= t) exams++;
      const share = beamProgress(e, t) - beamProgress(e, since);
      seconds += e.scanSeconds * share;
      mas += e.scanSeconds * e.intensity * share;
      const n = arcsPerExam ? poisson(arcsPerExam(e), this.arcSeed, e.slot) : this.arcsOfExam(e, this.params.healthyArcsPerExam);
      if (n > 0) arcs += integerShare(e, n, since, t);
    }
    return { exams_count: exams, scan_seconds: seconds, tube_mas: mas, tube_arc_count: arcs };
  }

  sample(t: number, since: number = t - DEFAULT_COUNTER_WINDOW_MS): MetricValues {
    const v = this.truth(t);
    const n = this.noise;
    const g = (m: string): number => v[m] ?? 0;
    return {
      tube_heat_pct: Math.max(0, g('tube_heat_pct') + n.white('tube_heat_pct', t, 0.3)),
      tube_housing_temp_c: g('tube_housing_temp_c') + n.white('tube_housing_temp_c', t, 0.15),
      tube_arc_count: 0,
      filament_current_a: g('filament_current_a') * (1 + n.white('filament_current_a', t, 0.003)),
      gantry_temp_c: g('gantry_temp_c') + n.white('gantry_temp_c', t, 0.1),
      detector_temp_c: g('detector_temp_c') + n.white('detector_temp_c', t, 0.05),
      room_temp_c: g('room_temp_c') + n.white('room_temp_c', t, 0.05),
      room_humidity_pct: g('room_humidity_pct') + n.white('room_humidity_pct', t, 0.3),
      ...this.counters(since, t),
    };
  }

  state(t: number): DeviceState {
    return this.schedule.activeAt(t) ? 'scanning' : 'standby';
  }
}
