import { between } from '../random.js';
import { HOUR, MINUTE, SECOND } from '../time.js';
import { bump, requireMr, rise } from './common.js';
import { eventsIn, type Scenario, type SimEvent } from './types.js';

const COLLAPSE_TAU = 40 * SECOND;
const SPIKE_PSI = 28;
const SPIKE_PEAK = 20 * SECOND;
const VENTED_PSI = 0.3;

/**
 * Quench: the magnet's stored energy boils the helium off through the quench pipe. The level
 * collapses with τ = 40 s to a 1–4 % residue, the pressure spikes ~28 psig within 20 s and then
 * falls to near atmospheric as the vessel vents, and the cold head and shield warm fast.
 */
export const mrQuench: Scenario = {
  name: 'mr-quench',
  modality: 'MR',
  description: {
    zh: '失超：液氦在数分钟内降至 0–5%，氦压骤升后回落，冷头和冷屏迅速升温；发生即为紧急事件。',
    en: 'Quench: helium collapses to ≈0–5 % within minutes, a pressure spike then venting, cold head and shield warm fast; critical at onset.',
  },
  create({ model, onsetAt, seed }) {
    const mr = requireMr(model, 'mr-quench');
    const residue = between(1, 4, seed, 'quench-residue');
    const events: SimEvent[] = [
      {
        ts: onsetAt,
        code: 'MAGNET_QUENCH',
        message: 'Magnet quench: helium vented',
        data: { heliumBeforePct: Math.round(mr.params.heliumLevelPct * 10) / 10 },
      },
    ];
    return {
      groundTruth: {
        scenario: 'mr-quench',
        onsetAt,
        criticalAt: onsetAt,
        criticalCondition: 'magnet quench: helium_level_pct collapses below 10 %',
        milestones: {},
      },
      apply(t, _since, values) {
        const x = t - onsetAt;
        if (x < 0) return values;
        const decay = Math.exp(-x / COLLAPSE_TAU);
        const he = values.helium_level_pct;
        if (he !== undefined) values.helium_level_pct = residue + (he - residue) * decay;
        const p = values.helium_pressure_psi;
        if (p !== undefined) {
          const spike = SPIKE_PSI * (x / SPIKE_PEAK) * Math.exp(1 - x / SPIKE_PEAK);
          values.helium_pressure_psi = VENTED_PSI + (p - VENTED_PSI) * Math.exp(-x / (10 * MINUTE)) + spike;
        }
        if (values.heater_power_w !== undefined) values.heater_power_w *= Math.exp(-x / (2 * MINUTE));
        bump(values, 'cold_head_temp_k', 60 * rise(x, 20 * MINUTE));
        bump(values, 'shield_temp_k', 40 * rise(x, HOUR));
        // No field, no scanning: the gradient coil settles to its idle temperature.
        const g = values.gradient_coil_temp_c;
        const water = values.chilled_water_temp_c;
        if (g !== undefined && water !== undefined) {
          const idle = water + mr.params.gradientIdleOffsetC;
          values.gradient_coil_temp_c = idle + (g - idle) * Math.exp(-x / (20 * MINUTE));
        }
        return values;
      },
      events: (from, to) => eventsIn(events, from, to),
      state: (t, healthy) => (t >= onsetAt ? 'service' : healthy),
    };
  },
};
