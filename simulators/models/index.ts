import type { Modality } from '../../src/kernel/catalogue/metrics.js';
import { CtModel } from './ct.js';
import type { DeviceModel, ModelOptions } from './device-model.js';
import { MrModel } from './mr.js';

export * from './device-model.js';
export { CtModel, type CtParams, type CtModelOptions } from './ct.js';
export { MrModel, type MrParams, type MrModelOptions } from './mr.js';
export { ExamSchedule, CT_WORKLOAD, MR_WORKLOAD, type Exam, type WorkloadProfile } from './workload.js';

export function createModel(modality: Modality, options: ModelOptions): DeviceModel {
  return modality === 'CT' ? new CtModel(options) : new MrModel(options);
}
