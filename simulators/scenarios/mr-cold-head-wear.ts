import { between } from '../random.js';
import { DAY } from '../time.js';
import { bump, HELIUM_CRITICAL_PCT, requireMr, scale } from './common.js';
import { noEvents, type Scenario } from './types.js';

/**
 * A wearing cold head loses capacity over weeks. The heater (the regulator's spare capacity)
 * falls linearly to 0 W by 60 % of the way to critical; the boil-off rate grows linearly with
 * time, so the level falls quadratically ("slowly, then faster") and crosses 50 % exactly
 * `daysToCritical` (24–32, per device) after onset; the shield warms ~9 K by then.
 */
export const mrColdHeadWear: Scenario = {
  name: 'mr-cold-head-wear',
  modality: 'MR',
  description: {
    zh: '冷头磨损：数周内液氦蒸发逐渐加快，加热器功率降至 0 W，冷屏温度升高，约 3–5 周后液氦低于 50%。',
    en: 'Cold-head wear: boil-off creeps up over weeks, heater power falls to 0 W, shield warms; helium below 50 % after ~3–5 weeks.',
  },
  create({ model, onsetAt, seed }) {
    const mr = requireMr(model, 'mr-cold-head-wear');
    const daysToCritical = between(24, 32, seed, 'cold-head-wear-days');
    const spanMs = daysToCritical * DAY;
    const l0 = mr.params.heliumLevelPct;
    // loss(x) = a·x²/2 with x in days reaches l0 − 50 at x = daysToCritical.
    const a = (2 * (l0 - HELIUM_CRITICAL_PCT)) / (daysToCritical * daysToCritical);
    const criticalAt = onsetAt + Math.round(spanMs);
    return {
      groundTruth: {
        scenario: 'mr-cold-head-wear',
        onsetAt,
        criticalAt,
        criticalCondition: 'helium_level_pct < 50 (or shield_temp_k > 60; the level comes first)',
        milestones: { heaterZeroAt: onsetAt + Math.round(0.6 * spanMs) },
      },
      apply(t, _since, values) {
        const x = t - onsetAt;
        if (x <= 0) return values;
        const days = x / DAY;
        const f = Math.min(x / spanMs, 1.5);
        bump(values, 'helium_level_pct', (-a * days * days) / 2);
        scale(values, 'heater_power_w', Math.max(0, 1 - x / (0.6 * spanMs)));
        bump(values, 'shield_temp_k', 9 * f ** 1.5);
        bump(values, 'cold_head_temp_k', 0.35 * f * f);
        bump(values, 'helium_pressure_psi', 0.8 * f * f);
        return values;
      },
      events: noEvents,
    };
  },
};
