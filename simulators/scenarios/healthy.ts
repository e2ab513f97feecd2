import { noEvents, type Scenario } from './types.js';

export const healthy: Scenario = {
  name: 'healthy',
  modality: 'any',
  description: {
    zh: '设备运行正常：仅有传感器噪声、日温度周期和检查负荷。',
    en: 'Healthy scanner: sensor noise, the daily room cycle and the exam workload only.',
  },
  create({ onsetAt }) {
    return {
      groundTruth: { scenario: 'healthy', onsetAt, criticalAt: null, criticalCondition: 'none', milestones: {} },
      apply: (_t, _since, values) => values,
      events: noEvents,
    };
  },
};
