import { ctCoolingFailure } from './ct-cooling-failure.js';
import { ctTubeEndOfLife } from './ct-tube-end-of-life.js';
import { healthy } from './healthy.js';
import { mrChillerFailure } from './mr-chiller-failure.js';
import { mrColdHeadWear } from './mr-cold-head-wear.js';
import { mrCompressorStop } from './mr-compressor-stop.js';
import { mrQuench } from './mr-quench.js';
import { sensorDropout } from './sensor-dropout.js';
import { sensorSpike } from './sensor-spike.js';
import { sensorStuck } from './sensor-stuck.js';
import type { Scenario } from './types.js';

export * from './types.js';
export { DEFAULT_SENSOR_TARGET } from './sensor-common.js';

const ALL = [
  healthy,
  mrColdHeadWear,
  mrCompressorStop,
  mrChillerFailure,
  mrQuench,
  ctTubeEndOfLife,
  ctCoolingFailure,
  sensorStuck,
  sensorDropout,
  sensorSpike,
] as const satisfies readonly Scenario[];

export const SCENARIOS: Readonly<Record<string, Scenario>> = Object.freeze(Object.fromEntries(ALL.map((s) => [s.name, s])));

export const scenarioNames: readonly string[] = ALL.map((s) => s.name);

export function getScenario(name: string): Scenario {
  const s = SCENARIOS[name];
  if (!s) throw new Error(`unknown scenario "${name}" (known: ${scenarioNames.join(', ')})`);
  return s;
}
