import { deriveSeed, uniform } from '../random.js';
import { isWeekend, localHour, SHANGHAI_UTC_OFFSET_MIN } from '../time.js';

/**
 * One exam: the patient is on the table during [start, end); the beam (CT) or the sequences (MR)
 * run during [beamStart, beamEnd), a sub-window of it.
 */
export interface Exam {
  readonly slot: number;
  readonly start: number;
  readonly end: number;
  readonly beamStart: number;
  readonly beamEnd: number;
  /** Beam-on seconds, spread evenly over the beam window. */
  readonly scanSeconds: number;
  /** Tube current in mA (CT) or gradient duty 0–1 (MR). */
  readonly intensity: number;
}

export interface WorkloadProfile {
  /** Exams start on a grid of slots; at most one exam per slot, so exams never overlap. */
  readonly slotMs: number;
  /** Probability that a slot holds an exam, by local hour, Monday–Friday. */
  readonly weekdayByHour: readonly number[];
  /** Same on Saturday and Sunday. */
  readonly weekendByHour: readonly number[];
  readonly startJitterMs: number;
  readonly occupancyMs: readonly [number, number];
  readonly beamWindowMs: readonly [number, number];
  readonly scanSeconds: readonly [number, number];
  readonly intensity: readonly [number, number];
}

function hours(spec: ReadonlyArray<readonly [number, number, number]>): number[] {
  const out = new Array<number>(24).fill(0);
  for (const [from, to, p] of spec) for (let h = from; h < to; h++) out[h] = p;
  return out;
}

/**
 * CT: short exams on a 10-minute grid, busy 08:00–18:00 on weekdays with a lunch dip, thinner at
 * weekends, and only the odd emergency at night.
 */
export const CT_WORKLOAD: WorkloadProfile = {
  slotMs: 10 * 60_000,
  weekdayByHour: hours([[0, 7, 0.04], [7, 8, 0.15], [8, 12, 0.75], [12, 13, 0.4], [13, 17, 0.75], [17, 18, 0.55], [18, 22, 0.2], [22, 24, 0.06]]),
  weekendByHour: hours([[0, 8, 0.04], [8, 12, 0.35], [12, 13, 0.2], [13, 17, 0.3], [17, 22, 0.15], [22, 24, 0.05]]),
  startJitterMs: 2 * 60_000,
  occupancyMs: [4 * 60_000, 8 * 60_000],
  beamWindowMs: [60_000, 3 * 60_000],
  scanSeconds: [5, 40],
  intensity: [150, 450],
};

/** MR: long exams on a 30-minute grid, day and evening only except rare emergencies. */
export const MR_WORKLOAD: WorkloadProfile = {
  slotMs: 30 * 60_000,
  weekdayByHour: hours([[0, 8, 0.02], [8, 12, 0.8], [12, 13, 0.4], [13, 18, 0.8], [18, 21, 0.35], [21, 24, 0.02]]),
  weekendByHour: hours([[0, 8, 0.01], [8, 12, 0.35], [12, 13, 0.15], [13, 18, 0.3], [18, 24, 0.01]]),
  startJitterMs: 3 * 60_000,
  occupancyMs: [18 * 60_000, 26 * 60_000],
  beamWindowMs: [12 * 60_000, 16 * 60_000],
  scanSeconds: [600, 900],
  intensity: [0.5, 1],
};

const CACHE_LIMIT = 20_000;

/** Deterministic exam calendar of one device. */
export class ExamSchedule {
  private readonly seed: number;
  private readonly cache = new Map<number, Exam | null>();

  constructor(
    seed: number,
    readonly profile: WorkloadProfile,
    readonly utcOffsetMin: number = SHANGHAI_UTC_OFFSET_MIN,
  ) {
    this.seed = deriveSeed(seed, 'workload');
  }

  /** The exam of slot `k`, if the slot is used. */
  slot(k: number): Exam | undefined {
    const cached = this.cache.get(k);
    if (cached !== undefined) return cached ?? undefined;
    const exam = this.makeExam(k);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(k, exam);
    return exam ?? undefined;
  }

  private makeExam(k: number): Exam | null {
    const p = this.profile;
    const slotStart = k * p.slotMs;
    const probe = slotStart + p.slotMs / 2;
    const hour = Math.floor(localHour(probe, this.utcOffsetMin));
    const table = isWeekend(probe, this.utcOffsetMin) ? p.weekendByHour : p.weekdayByHour;
    if (uniform(this.seed, k, 'exam') >= (table[hour] ?? 0)) return null;
    const u = (key: string): number => uniform(this.seed, k, key);
    const start = slotStart + Math.round(u('start') * p.startJitterMs);
    const occupancy = p.occupancyMs[0] + u('occupancy') * (p.occupancyMs[1] - p.occupancyMs[0]);
    const beamWindow = Math.min(occupancy * 0.8, p.beamWindowMs[0] + u('beam') * (p.beamWindowMs[1] - p.beamWindowMs[0]));
    const beamStart = start + Math.round(u('beamStart') * (occupancy - beamWindow) * 0.8 + (occupancy - beamWindow) * 0.1);
    return {
      slot: k,
      start,
      end: start + Math.round(occupancy),
      beamStart,
      beamEnd: beamStart + Math.round(beamWindow),
      scanSeconds: p.scanSeconds[0] + u('scanSeconds') * (p.scanSeconds[1] - p.scanSeconds[0]),
      intensity: p.intensity[0] + u('intensity') * (p.intensity[1] - p.intensity[0]),
    };
  }

  /** Exams whose table occupancy intersects [from, to], oldest first. */
  between(from: number, to: number): Exam[] {
    const out: Exam[] = [];
    const first = Math.floor(from / this.profile.slotMs) - 1;
    const last = Math.floor(to / this.profile.slotMs);
    for (let k = first; k <= last; k++) {
      const e = this.slot(k);
      if (e && e.end >= from && e.start <= to) out.push(e);
    }
    return out;
  }

  /** The exam on the table at `t`, if any. */
  activeAt(t: number): Exam | undefined {
    const k = Math.floor(t / this.profile.slotMs);
    for (const e of [this.slot(k), this.slot(k - 1)]) if (e && t >= e.start && t < e.end) return e;
    return undefined;
  }
}

/** Fraction of the window [a, b) that lies inside (from, to]. */
export function overlapFraction(a: number, b: number, from: number, to: number): number {
  if (b <= a) return from < a && a <= to ? 1 : 0;
  const lo = Math.max(a, from);
  const hi = Math.min(b, to);
  return hi > lo ? (hi - lo) / (b - a) : 0;
}
