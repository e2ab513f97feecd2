import { ColdHeadStop, requireMr } from './common.js';
import { eventsIn, type Scenario, type SimEvent } from './types.js';

export const mrCompressorStop: Scenario = {
  name: 'mr-compressor-stop',
  modality: 'MR',
  description: {
    zh: '压缩机停机：冷头停止制冷，液氦每天下降 2–4%，数小时内压力升高，冷屏升温后趋稳；液氦低于 50% 为严重。',
    en: 'Compressor stop: the cold head stops, helium falls 2–4 %/day, pressure rises within hours, the shield warms then levels off; critical when helium < 50 %.',
  },
  create({ model, onsetAt, seed }) {
    const stop = new ColdHeadStop(requireMr(model, 'mr-compressor-stop'), onsetAt, seed);
    const events: SimEvent[] = [
      { ts: onsetAt, code: 'COMPRESSOR_TRIP', message: 'Cold-head compressor stopped', data: { running: 0 } },
    ];
    return {
      groundTruth: {
        scenario: 'mr-compressor-stop',
        onsetAt,
        criticalAt: stop.criticalAt(),
        criticalCondition: 'helium_level_pct < 50',
        milestones: { compressorStopAt: onsetAt },
      },
      apply(t, _since, values) {
        stop.apply(t, values);
        return values;
      },
      events: (from, to) => eventsIn(events, from, to),
    };
  },
};
