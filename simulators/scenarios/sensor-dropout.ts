import { HOUR } from '../time.js';
import { sensorTarget } from './sensor-common.js';
import { noEvents, type Scenario } from './types.js';

export const DEFAULT_DROPOUT_MS = 6 * HOUR;

export const sensorDropout: Scenario = {
  name: 'sensor-dropout',
  modality: 'any',
  description: {
    zh: '传感器掉线：一个或多个参数在一段时间内（默认 6 小时）从报文中消失，之后恢复。',
    en: 'Sensor dropout: one or more metrics are missing from the messages for a window (6 h by default), then resume.',
  },
  create({ model, onsetAt, options }) {
    const metrics = options.metrics?.length
      ? options.metrics.map((m) => sensorTarget(model, { metric: m }, 'sensor-dropout'))
      : [sensorTarget(model, options, 'sensor-dropout')];
    const endsAt = onsetAt + (options.durationMs ?? DEFAULT_DROPOUT_MS);
    return {
      groundTruth: {
        scenario: 'sensor-dropout',
        onsetAt,
        criticalAt: null,
        criticalCondition: 'none: missing data, not a device fault',
        milestones: { dropoutEndsAt: endsAt },
        metric: metrics[0],
      },
      apply(t, _since, values) {
        if (t >= onsetAt && t < endsAt) for (const m of metrics) delete values[m];
        return values;
      },
      events: noEvents,
    };
  },
};
