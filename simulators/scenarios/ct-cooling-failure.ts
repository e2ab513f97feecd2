import { DAY, HOUR, MINUTE, SECOND } from '../time.js';
import { bump, requireCt, rise } from './common.js';
import { noEvents, type Scenario } from './types.js';

/** Gantry heating per minute of scanning once the cooling is gone (2 °C per 10 min). */
const RISE_PER_SCAN_MINUTE = 0.2;
/** What little heat still leaves the gantry by convection. */
const LEAK_TAU = 3 * HOUR;
/** Idle electronics without cooling. */
const IDLE_RISE_C = 1.5;
export const GANTRY_CRITICAL_C = 40;

/**
 * The gantry's cooling (water/air heat exchanger) fails: every minute of scanning adds 0.2 °C
 * that only leaks away with τ = 3 h, idle electronics add 1.5 °C, the detector follows a quarter
 * of the rise (leaving its ±1 °C band after ~4 °C) and the tube housing 60 %. During a busy day
 * the gantry passes 40 °C about 4–6 h after onset; at night it waits for the morning's exams.
 */
export const ctCoolingFailure: Scenario = {
  name: 'ct-cooling-failure',
  modality: 'CT',
  description: {
    zh: '机架冷却故障：扫描时机架温度每 10 分钟上升 1–3 °C，探测器温度偏离 ±1 °C 范围，球管管套温度升高；机架超过 40 °C 为严重。',
    en: 'CT cooling failure: gantry +1–3 °C per 10 min of scanning, detector leaves its ±1 °C band, hotter tube housing; critical above 40 °C gantry.',
  },
  create({ model, onsetAt }) {
    const ct = requireCt(model, 'ct-cooling-failure');
    const extra = (t: number): number => {
      if (t <= onsetAt) return 0;
      let sum = IDLE_RISE_C * rise(t - onsetAt, HOUR);
      for (const e of ct.schedule.between(Math.max(onsetAt, t - 6 * LEAK_TAU), t)) {
        const a = Math.max(e.start, onsetAt);
        const b = Math.min(e.end, t);
        if (b <= a) continue;
        // ∫ k·e^(−(t−s)/τ) ds over the exam's part of [onset, t].
        sum += (RISE_PER_SCAN_MINUTE / MINUTE) * LEAK_TAU * (Math.exp(-(t - b) / LEAK_TAU) - Math.exp(-(t - a) / LEAK_TAU));
      }
      return sum;
    };
    const gantry = (t: number): number => (ct.truth(t).gantry_temp_c ?? 0) + extra(t);
    let criticalAt: number | null = null;
    const step = 2 * MINUTE;
    for (let t = onsetAt; t <= onsetAt + 21 * DAY; t += step) {
      if (gantry(t) > GANTRY_CRITICAL_C) {
        let u = t - step;
        while (u < t && gantry(u) <= GANTRY_CRITICAL_C) u += 10 * SECOND;
        criticalAt = u;
        break;
      }
    }
    return {
      groundTruth: {
        scenario: 'ct-cooling-failure',
        onsetAt,
        criticalAt,
        criticalCondition: `gantry_temp_c > ${GANTRY_CRITICAL_C}`,
        milestones: {},
      },
      apply(t, _since, values) {
        const d = extra(t);
        if (d <= 0) return values;
        bump(values, 'gantry_temp_c', d);
        bump(values, 'detector_temp_c', 0.25 * d);
        bump(values, 'tube_housing_temp_c', 0.6 * d);
        return values;
      },
      events: noEvents,
    };
  },
};
