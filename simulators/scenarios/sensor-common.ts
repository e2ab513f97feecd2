import type { Modality } from '../../src/kernel/catalogue/metrics.js';
import type { DeviceModel } from '../models/device-model.js';
import type { ScenarioOptions } from './types.js';

/** Default victims of sensor faults: the metric each modality's trend rules lean on most. */
export const DEFAULT_SENSOR_TARGET: Readonly<Record<Modality, string>> = {
  MR: 'helium_level_pct',
  CT: 'gantry_temp_c',
};

export function sensorTarget(model: DeviceModel, options: ScenarioOptions, scenario: string): string {
  const metric = options.metric ?? DEFAULT_SENSOR_TARGET[model.modality];
  if (!model.metrics.includes(metric)) {
    throw new Error(`scenario ${scenario}: ${model.modality} has no metric ${metric}`);
  }
  return metric;
}
