import { z } from 'zod';
import { metricDefinition } from '../src/kernel/catalogue/metrics.js';
import { DeviceSchema, type Device, type DeviceInput, type Site } from '../src/kernel/device.js';
import { createModel } from './models/index.js';
import { isDue, roundMetric, type DeviceModel, type DeviceState, type MetricValues } from './models/device-model.js';
import { deriveSeed } from './random.js';
import { SCENARIOS, scenarioNames } from './scenarios/index.js';
import type { GroundTruth, Scenario, ScenarioInstance, ScenarioOptions, SimEvent } from './scenarios/types.js';
import { parseDuration } from '../src/kernel/time/duration.js';

/** An instant: ISO-8601, or a signed duration relative to the fleet epoch (`3d`, `-2h`, `36h`). */
export const OnsetSchema = z
  .string()
  .trim()
  .refine((s) => parseDuration(s) !== undefined || !Number.isNaN(Date.parse(s)), {
    message: 'an ISO-8601 time or a duration relative to the fleet epoch such as 3d, -2h, 36h',
  });

export const DurationSchema = z
  .string()
  .trim()
  .refine((s) => (parseDuration(s) ?? -1) > 0, { message: 'a positive duration such as 6h, 90m, 2d' })
  .transform((s) => parseDuration(s) ?? 0);

export const SimulationSchema = z.object({
  scenario: z
    .string()
    .default('healthy')
    .refine((name) => name in SCENARIOS, { message: `a scenario name: ${scenarioNames.join(', ')}` }),
  onset: OnsetSchema.optional(),
  options: z
    .object({
      metric: z.string().optional(),
      metrics: z.array(z.string()).optional(),
      duration: DurationSchema.optional(),
      ratePerDay: z.number().positive().optional(),
    })
    .optional(),
});
export type Simulation = z.infer<typeof SimulationSchema>;

/** A registered device plus what the simulator should make it do. */
export const SimulatedDeviceSchema = DeviceSchema.extend({ simulation: SimulationSchema.optional() }).superRefine((d, ctx) => {
  const scenario = SCENARIOS[d.simulation?.scenario ?? 'healthy'];
  if (scenario && scenario.modality !== 'any' && scenario.modality !== d.modality) {
    ctx.addIssue({
      code: 'custom',
      path: ['simulation', 'scenario'],
      message: `scenario ${scenario.name} is for ${scenario.modality}, device ${d.id} is ${d.modality}`,
    });
  }
});
export type SimulatedDeviceConfig = z.infer<typeof SimulatedDeviceSchema>;
export type SimulatedDeviceInput = z.input<typeof SimulatedDeviceSchema>;
/** A device as read from a fleet file, whose `simulation` block has not been checked yet. */
export type SimulatedDeviceLike = DeviceInput & { readonly simulation?: unknown };

/** Resolves an onset against the fleet epoch; no onset means "from the epoch on". */
export function resolveOnset(onset: string | undefined, epoch: number): number {
  if (onset === undefined) return epoch;
  const d = parseDuration(onset);
  if (d !== undefined) return epoch + d;
  const t = Date.parse(onset);
  if (Number.isNaN(t)) throw new Error(`bad onset "${onset}"`);
  return t;
}

export interface DemoFleet {
  sites: Site[];
  devices: SimulatedDeviceInput[];
}

const DEMO_SITES: Site[] = [
  {
    id: 'yt-first-hospital',
    name: '伊通满族自治县第一人民医院',
    nameEn: "Yitong Manchu Autonomous County First People's Hospital",
    timezone: 'Asia/Shanghai',
  },
  {
    id: 'sp-central-hospital',
    name: '四平市中心人民医院',
    nameEn: "Siping Central People's Hospital",
    timezone: 'Asia/Shanghai',
  },
];

/**
 * Demo fleet for a 14-day backfill (onsets are relative to its start): the Yitong MR loses its
 * compressor 4 days before the end (helium falls ~3 %/day and crosses 50 % one to two weeks
 * after the stop, so the forecast has something to say), the Siping uCT 760's tube reaches its
 * abort storm 7 days after the end, and one Siping MR has a spiky helium probe that must not
 * raise alerts.
 */
const DEMO_DEVICES: SimulatedDeviceInput[] = [
  {
    id: 'yt-ct-01',
    site: 'yt-first-hospital',
    modality: 'CT',
    vendor: 'GE Healthcare',
    model: 'Revolution ACT',
    serial: 'RACT21CN0457',
    installDate: '2021-06-18',
    name: 'CT 1 号机',
    location: { department: '放射科', floor: '1F', room: 'CT 一室 (108)' },
    simulation: { scenario: 'healthy' },
  },
  {
    id: 'yt-mr-01',
    site: 'yt-first-hospital',
    modality: 'MR',
    vendor: 'Siemens Healthineers',
    model: 'MAGNETOM Amira 1.5T',
    serial: 'AMR19CN1123',
    installDate: '2019-09-03',
    name: '1.5T 磁共振',
    location: { department: '放射科', floor: '1F', room: '磁共振室 (112)' },
    simulation: { scenario: 'mr-compressor-stop', onset: '10d' },
  },
  {
    id: 'sp-ct-01',
    site: 'sp-central-hospital',
    modality: 'CT',
    vendor: '联影 United Imaging',
    model: 'uCT 760',
    serial: 'UCT760-18-0392',
    installDate: '2018-04-12',
    name: '64 排 CT',
    location: { department: '放射科', floor: '2F', room: 'CT 二室 (206)' },
    simulation: { scenario: 'ct-tube-end-of-life', onset: '-21d' },
  },
  {
    id: 'sp-mr-01',
    site: 'sp-central-hospital',
    modality: 'MR',
    vendor: 'GE Healthcare',
    model: 'SIGNA Voyager 1.5T',
    serial: 'SV20CN0871',
    installDate: '2020-11-26',
    name: '1.5T 磁共振',
    location: { department: '放射科', floor: 'B1', room: 'MR 一室 (B103)' },
    simulation: { scenario: 'healthy' },
  },
  {
    id: 'sp-mr-02',
    site: 'sp-central-hospital',
    modality: 'MR',
    vendor: 'Philips',
    model: 'Ingenia 3.0T',
    serial: 'ING3T-22-0158',
    installDate: '2022-08-09',
    name: '3.0T 磁共振',
    location: { department: '放射科', floor: 'B1', room: 'MR 二室 (B105)' },
    simulation: { scenario: 'sensor-spike', options: { metric: 'helium_level_pct' } },
  },
];

export const DEMO_FLEET: DemoFleet = { sites: DEMO_SITES, devices: DEMO_DEVICES };

export interface FleetOptions {
  readonly seed: number;
  /** Start of the backfill; relative onsets count from here. */
  readonly epoch: number;
  /** Sensor-noise multiplier (1 = the models' moderate default). */
  readonly noiseScale?: number;
}

export interface SimulatedDevice {
  readonly device: Device;
  readonly seed: number;
  readonly model: DeviceModel;
  readonly scenario: Scenario;
  readonly instance: ScenarioInstance;
  readonly groundTruth: GroundTruth;
}

export function buildFleet(devices: readonly SimulatedDeviceLike[], options: FleetOptions): SimulatedDevice[] {
  const seen = new Set<string>();
  return devices.map((input) => {
    const parsed = SimulatedDeviceSchema.safeParse(input);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new Error(`simulated device ${input.id}: ${issues}`);
    }
    const config = parsed.data;
    if (seen.has(config.id)) throw new Error(`duplicate device id ${config.id}`);
    seen.add(config.id);
    const { simulation, ...device } = config;
    return simulateDevice(device, simulation, options);
  });
}

function simulateDevice(device: Device, simulation: Simulation | undefined, options: FleetOptions): SimulatedDevice {
  const seed = deriveSeed(options.seed, 'device', device.id);
  const model = createModel(device.modality, { seed, deviceId: device.id, noiseScale: options.noiseScale ?? 1 });
  const scenario = SCENARIOS[simulation?.scenario ?? 'healthy'];
  if (!scenario) throw new Error(`unknown scenario ${simulation?.scenario ?? ''}`);
  const o = simulation?.options;
  const scenarioOptions: ScenarioOptions = {
    ...(o?.metric !== undefined && { metric: o.metric }),
    ...(o?.metrics !== undefined && { metrics: o.metrics }),
    ...(o?.duration !== undefined && { durationMs: o.duration }),
    ...(o?.ratePerDay !== undefined && { ratePerDay: o.ratePerDay }),
  };
  const onsetAt = resolveOnset(simulation?.onset, options.epoch);
  const instance = scenario.create({ seed, deviceId: device.id, model, onsetAt, options: scenarioOptions });
  return { device, seed, model, scenario, instance, groundTruth: instance.groundTruth };
}

/** One telemetry message body of the MQTT contract. */
export interface TelemetryPoint {
  readonly ts: number;
  readonly metrics: MetricValues;
}

/**
 * The reading a device sends at tick `t` when its previous tick was `previous`: metrics that are
 * due, after the scenario, clamped to the catalogue's physical range and rounded.
 */
export function readingAt(sim: SimulatedDevice, t: number, previous: number): MetricValues {
  const values = sim.instance.apply(t, previous, sim.model.sample(t, previous));
  const out: MetricValues = {};
  for (const metric of sim.model.metrics) {
    const v = values[metric];
    if (v === undefined || !Number.isFinite(v)) continue;
    if (!isDue(sim.model.periodMs[metric] ?? 0, t, previous)) continue;
    const def = metricDefinition(sim.model.modality, metric);
    const clamped = def ? Math.min(def.max, Math.max(def.min, v)) : v;
    out[metric] = roundMetric(metric, clamped);
  }
  return out;
}

/**
 * Telemetry of one device at ticks fromTs, fromTs + tickMs, … ≤ toTs. The tick before the first
 * is `previousTs` (default fromTs − tickMs): counters of the first reading cover (previousTs,
 * fromTs], and slow metrics are due by the same rule as in a continuous run.
 */
export function* generateTelemetry(
  sim: SimulatedDevice,
  fromTs: number,
  toTs: number,
  tickMs: number,
  options: { readonly previousTs?: number } = {},
): Generator<TelemetryPoint> {
  if (!(tickMs > 0)) throw new Error('tickMs must be positive');
  let previous = options.previousTs ?? fromTs - tickMs;
  for (let t = fromTs; t <= toTs; t += tickMs) {
    yield { ts: t, metrics: readingAt(sim, t, previous) };
    previous = t;
  }
}

export function stateAt(sim: SimulatedDevice, t: number): DeviceState {
  const healthy = sim.model.state(t);
  return sim.instance.state ? sim.instance.state(t, healthy) : healthy;
}

/** Discrete events in (from, to]: the scenario's own, plus TUBE_ARC when the reading has arcs. */
export function eventsFor(sim: SimulatedDevice, from: number, to: number, reading?: MetricValues): SimEvent[] {
  const events = sim.instance.events(from, to);
  const arcs = reading?.tube_arc_count ?? 0;
  if (arcs > 0) events.push({ ts: to, code: 'TUBE_ARC', message: `${arcs} tube arc(s)`, data: { count: arcs } });
  return events;
}
