import { metricDefinition } from '../../src/kernel/catalogue/metrics.js';
import { deriveSeed, uniform } from '../random.js';
import { DAY, HOUR, SECOND } from '../time.js';
import { sensorTarget } from './sensor-common.js';
import { noEvents, type Scenario } from './types.js';

const BUCKET = 6 * HOUR;
export const DEFAULT_SPIKES_PER_DAY = 2.4;

/**
 * Rare single-sample outliers (EMI, a loose connector). Each 6-hour bucket holds at most one
 * spike instant, placed in the middle 80 % of the bucket so two spikes are ≥ 72 min apart. The
 * instant lies on the metric's sampling grid, and a reading at t carries the spike when the
 * instant is in (previous tick, t] — exactly one sample per spike, at any tick rate.
 */
export const sensorSpike: Scenario = {
  name: 'sensor-spike',
  modality: 'any',
  description: {
    zh: '传感器尖峰：偶发的单点异常值（每天数次），每次只持续一个采样点，不应触发报警。',
    en: 'Sensor spikes: rare isolated outliers (a few per day), each exactly one sample long; they must not raise alerts.',
  },
  create({ model, onsetAt, options, seed }) {
    const metric = sensorTarget(model, options, 'sensor-spike');
    const def = metricDefinition(model.modality, metric);
    const width = def?.normal ? def.normal[1] - def.normal[0] : 10;
    const grid = (model.periodMs[metric] ?? 0) > 0 ? (model.periodMs[metric] ?? SECOND) : SECOND;
    const p = Math.min(1, ((options.ratePerDay ?? DEFAULT_SPIKES_PER_DAY) * BUCKET) / DAY);
    const s = deriveSeed(seed, 'spike', metric);
    const spikeIn = (k: number): number | undefined => {
      if (uniform(s, k, 'occurs') >= p) return undefined;
      const at = Math.ceil((k * BUCKET + BUCKET * (0.1 + 0.8 * uniform(s, k, 'at'))) / grid) * grid;
      return at >= onsetAt ? at : undefined;
    };
    return {
      groundTruth: {
        scenario: 'sensor-spike',
        onsetAt,
        criticalAt: null,
        criticalCondition: 'none: isolated spikes must not raise alerts',
        milestones: {},
        metric,
      },
      apply(t, since, values) {
        const v = values[metric];
        if (v === undefined || t < onsetAt) return values;
        for (let k = Math.floor(since / BUCKET); k <= Math.floor(t / BUCKET); k++) {
          const at = spikeIn(k);
          if (at !== undefined && at > since && at <= t) {
            const sign = uniform(s, k, 'sign') < 0.5 ? -1 : 1;
            values[metric] = v + sign * width * (1.5 + 1.5 * uniform(s, k, 'size'));
            break;
          }
        }
        return values;
      },
      events: noEvents,
    };
  },
};
