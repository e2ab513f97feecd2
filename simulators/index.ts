export {
  buildFleet,
  DEMO_FLEET,
  eventsFor,
  generateTelemetry,
  readingAt,
  resolveOnset,
  SimulatedDeviceSchema,
  SimulationSchema,
  stateAt,
  type DemoFleet,
  type FleetOptions,
  type SimulatedDevice,
  type SimulatedDeviceConfig,
  type SimulatedDeviceInput,
  type SimulatedDeviceLike,
  type TelemetryPoint,
} from './fleet.js';
export { DEFAULT_TOPIC_PREFIX, deviceTopics, startSimulator, type DeviceTopics, type SimulatorHandle, type SimulatorOptions, type SimulatorStats } from './publisher.js';
export { getScenario, SCENARIOS, scenarioNames, DEFAULT_SENSOR_TARGET } from './scenarios/index.js';
export type { GroundTruth, Scenario, ScenarioInstance, ScenarioOptions, SimEvent } from './scenarios/types.js';
export { createModel, CtModel, MrModel, type DeviceModel, type DeviceState, type MetricValues } from './models/index.js';
