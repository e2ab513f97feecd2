import { MINUTE } from '../time.js';
import { bump, ColdHeadStop, requireMr, rise, scale } from './common.js';
import { eventsIn, type Scenario, type SimEvent } from './types.js';

const WATER_RISE_C = 8;
const WATER_TAU = 8 * MINUTE;
const TRIP_AFTER = 20 * MINUTE;

/**
 * The chiller stops: the chilled water warms +8 °C with τ = 8 min (+3 °C after ~4 min), the flow
 * sags 40 %, the compressor's water-temperature interlock trips it 20 min after onset, and from
 * the trip on the magnet follows the compressor-stop pattern.
 */
export const mrChillerFailure: Scenario = {
  name: 'mr-chiller-failure',
  modality: 'MR',
  description: {
    zh: '冷水机故障：冷水温度在 10–30 分钟内上升数摄氏度，流量下降，约 20 分钟后压缩机跳闸，随后液氦开始下降。',
    en: 'Chiller failure: chilled water warms several °C within 10–30 min, flow drops, the compressor trips ~20 min after onset, then helium starts to fall.',
  },
  create({ model, onsetAt, seed }) {
    const mr = requireMr(model, 'mr-chiller-failure');
    const tripAt = onsetAt + TRIP_AFTER;
    const stop = new ColdHeadStop(mr, tripAt, seed);
    const alarmAt = onsetAt + Math.round(-WATER_TAU * Math.log(1 - 3 / WATER_RISE_C));
    const events: SimEvent[] = [
      { ts: alarmAt, code: 'CHILLED_WATER_HIGH', message: 'Chilled water 3 °C above set-point', data: { riseC: 3 } },
      { ts: tripAt, code: 'COMPRESSOR_TRIP', message: 'Compressor tripped on chilled-water temperature', data: { running: 0 } },
    ];
    return {
      groundTruth: {
        scenario: 'mr-chiller-failure',
        onsetAt,
        criticalAt: tripAt,
        criticalCondition: 'compressor_running = 0 (tripped on chilled-water temperature)',
        milestones: { waterAlarmAt: alarmAt, compressorTripAt: tripAt, heliumBelow50At: stop.criticalAt() },
      },
      apply(t, _since, values) {
        const x = t - onsetAt;
        if (x < 0) return values;
        const dWater = WATER_RISE_C * rise(x, WATER_TAU);
        bump(values, 'chilled_water_temp_c', dWater);
        scale(values, 'chilled_water_flow_lpm', 1 - 0.4 * rise(x, 3 * MINUTE));
        // The gradient coil is water-cooled: it follows the water up.
        bump(values, 'gradient_coil_temp_c', dWater);
        if (t < tripAt) bump(values, 'compressor_supply_psi', 0.8 * dWater);
        stop.apply(t, values);
        return values;
      },
      events: (from, to) => eventsIn(events, from, to),
    };
  },
};
