import { sensorTarget } from './sensor-common.js';
import { noEvents, type Scenario } from './types.js';

export const sensorStuck: Scenario = {
  name: 'sensor-stuck',
  modality: 'any',
  description: {
    zh: '传感器卡死：某一参数自故障时刻起一直重复同一数值。',
    en: 'Stuck sensor: one metric repeats exactly its value at onset from then on.',
  },
  create({ model, onsetAt, options }) {
    const metric = sensorTarget(model, options, 'sensor-stuck');
    const frozen = model.sample(onsetAt)[metric] ?? 0;
    return {
      groundTruth: {
        scenario: 'sensor-stuck',
        onsetAt,
        criticalAt: null,
        criticalCondition: 'none: a sensor fault, not a device fault',
        milestones: {},
        metric,
      },
      apply(t, _since, values) {
        if (t >= onsetAt && values[metric] !== undefined) values[metric] = frozen;
        return values;
      },
      events: noEvents,
    };
  },
};
