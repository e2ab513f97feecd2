/**
 * The detection benchmark's harness: runs a simulator scenario through a real rule engine in
 * accelerated event time and reports what the engine — and, beside it, a static-threshold baseline
 * (`detect-baseline.ts`) — raised, against the scenario's ground truth.
 *
 * One run is one simulated device (scenario × modality × seed). Its readings come from the
 * simulator's own functions (`buildFleet`, `generateTelemetry`, `eventsFor`): the same values a
 * device publishes, without broker or store. They are fed in time order, in chunks, to a
 * `RuleEngine` with the shipped rule packs, a `DeviceRegistry` and an `AlertRepository` on an
 * in-memory SQLite database, as `guardian start` composes them.
 */
import type { Modality } from '../src/kernel/catalogue/metrics.js';
import type { DeviceEvent } from '../src/kernel/device.js';
import { DeviceRegistry } from '../src/devices/registry.js';
import { SqlDeviceStore } from '../src/storage/sql/device-repository.js';
import { silentLogger } from '../src/app/log.js';
import { AlertRepository } from '../src/storage/sql/alert-repository.js';
import { migrateToLatest, openSqlDatabase } from '../src/storage/sql/database.js';
import type { Sample } from '../src/kernel/ports/telemetry-store.js';
import { RuleEngine } from '../rules/engine.js';
import type { TransitionKind } from '../src/kernel/alerts.js';
import type { Rule } from '../rules/pack-schema.js';
import type { RuleSet } from '../rules/rule-set.js';
import type { Grade } from '../src/kernel/grades.js';
import { buildFleet, eventsFor, generateTelemetry, type SimulatedDevice } from '../simulators/fleet.js';
import { roundMetric } from '../simulators/models/device-model.js';
import { uniform } from '../simulators/random.js';
import { SCENARIOS } from '../simulators/scenarios/index.js';
import { DAY, HOUR, MINUTE, SECOND } from '../simulators/time.js';
import { StaticThresholdAlarms } from './detect-baseline.js';

/** Start of every run's event time (a Monday, 08:00 in Shanghai). */
export const BENCH_EPOCH = Date.parse('2026-03-02T00:00:00Z');
/** History is sampled as the backfill does… */
export const SLOW_TICK_MS = MINUTE;
/** …and the hours around the onset at the live interval, as a device that is online reports them. */
export const LIVE_TICK_MS = 5 * SECOND;
const LIVE_BEFORE_ONSET = HOUR;
const LIVE_AFTER_ONSET = 6 * HOUR;

/**
 * What a scenario is, for scoring: a device `fault` (it has a critical time; it must be detected,
 * and alerts before it began are false), a `sensor` fault (alerts on the faulty metric flag it;
 * any other alert is false), or `none` (every alert is false: healthy, and spikes that must not
 * raise alerts).
 */
export type CaseKind = 'fault' | 'sensor' | 'none';

export interface DetectionCase {
  readonly scenario: string;
  readonly modality: Modality;
  readonly kind: CaseKind;
  /** Event time simulated before the fault begins (warm-up, and the device-days of the false-alert count). */
  readonly historyMs: number;
  /** How long the run goes on after the critical time, or after the onset when there is none. */
  readonly afterMs: number;
}

const faultCase = (scenario: string, modality: Modality, afterMs = DAY): DetectionCase => ({ scenario, modality, kind: 'fault', historyMs: 14 * DAY, afterMs });

/** Every scenario of the simulator; those for any modality run on an MR and on a CT. */
export const DEFAULT_CASES: readonly DetectionCase[] = [
  { scenario: 'healthy', modality: 'MR', kind: 'none', historyMs: DAY, afterMs: 29 * DAY },
  { scenario: 'healthy', modality: 'CT', kind: 'none', historyMs: DAY, afterMs: 29 * DAY },
  faultCase('mr-cold-head-wear', 'MR'),
  faultCase('mr-compressor-stop', 'MR'),
  faultCase('mr-chiller-failure', 'MR'),
  faultCase('mr-quench', 'MR'),
  faultCase('ct-tube-end-of-life', 'CT'),
  faultCase('ct-cooling-failure', 'CT'),
  { scenario: 'sensor-stuck', modality: 'MR', kind: 'sensor', historyMs: 14 * DAY, afterMs: 7 * DAY },
  { scenario: 'sensor-stuck', modality: 'CT', kind: 'sensor', historyMs: 14 * DAY, afterMs: 7 * DAY },
  { scenario: 'sensor-dropout', modality: 'MR', kind: 'sensor', historyMs: 14 * DAY, afterMs: 2 * DAY },
  { scenario: 'sensor-dropout', modality: 'CT', kind: 'sensor', historyMs: 14 * DAY, afterMs: 2 * DAY },
  { scenario: 'sensor-spike', modality: 'MR', kind: 'none', historyMs: 2 * DAY, afterMs: 28 * DAY },
  { scenario: 'sensor-spike', modality: 'CT', kind: 'none', historyMs: 2 * DAY, afterMs: 28 * DAY },
];

/** One notifying alert transition (engine) or alarm (baseline). */
export interface RaisedAlert {
  readonly ts: number;
  /** Rule id, or the baseline limit's label. */
  readonly rule: string;
  /** The lifecycle's transition kind; the baseline's alarms are all `fired`. */
  readonly kind: TransitionKind;
  readonly grade?: Grade;
  /** Whether the rule watches something the scenario changes. */
  readonly relevant: boolean;
}

export interface RunResult {
  readonly scenario: string;
  readonly modality: Modality;
  readonly kind: CaseKind;
  readonly seed: number;
  readonly deviceId: string;
  readonly from: number;
  readonly to: number;
  readonly onsetAt: number;
  /** When the fault begins: the onset, or an earlier milestone (a tube's filament drift starts weeks before its arcs). */
  readonly faultStart: number;
  readonly criticalAt: number | null;
  readonly criticalCondition: string;
  /** Metrics the scenario changes, found by comparing its readings with the healthy model's. */
  readonly relevantMetrics: readonly string[];
  readonly samples: number;
  readonly rulesInForce: number;
  /** Σ samples × rules in force for the device. */
  readonly ruleEvaluations: number;
  /** What the engine itself counted, when it counts. */
  readonly engineEvaluations?: number;
  readonly engineCpuMicros: number;
  readonly engineWallMs: number;
  readonly engine: readonly RaisedAlert[];
  readonly baseline: readonly RaisedAlert[];
}

export interface HarnessContext {
  readonly rules: RuleSet;
  /** Samples per engine call (default 250). */
  readonly chunkSamples?: number;
}

/** The methods the engine is gaining (device events, event-time clock); called when present. */
interface EngineClock {
  onEvents?: (events: readonly DeviceEvent[]) => void;
  tick?: (now: number) => void;
  stats?: () => { readonly evaluations: number };
}

const DEVICE_TEMPLATE = {
  MR: { vendor: 'Bench', model: 'Bench MR 1.5T', name: '基准 MR' },
  CT: { vendor: 'Bench', model: 'Bench CT 64', name: '基准 CT' },
} as const;

/** Metrics a rule reads (composites: their conditions' metrics and those of the rules they name). */
function ruleInputs(rule: Rule, all: readonly Rule[], seen = new Set<string>()): { metrics: Set<string>; codes: Set<string> } {
  const metrics = new Set<string>();
  const codes = new Set<string>();
  seen.add(rule.id);
  if (rule.kind === 'composite') {
    for (const c of rule.conditions) {
      if ('metric' in c) metrics.add(c.metric);
      else {
        const other = all.find((r) => r.id === c.rule);
        if (other && !seen.has(other.id)) {
          const inner = ruleInputs(other, all, seen);
          inner.metrics.forEach((m) => metrics.add(m));
          inner.codes.forEach((m) => codes.add(m));
        }
      }
    }
  } else if (rule.kind === 'event_count' && rule.code !== undefined) {
    codes.add(rule.code);
  } else if (rule.metric !== undefined && rule.metric !== 'any') {
    metrics.add(rule.metric);
  }
  return { metrics, codes };
}

/** When the fault begins: the onset, or a milestone before it (epoch-ms milestones only). */
function faultStartOf(sim: SimulatedDevice): number {
  const truth = sim.groundTruth;
  const before = Object.values(truth.milestones).filter((t) => t > BENCH_EPOCH - 365 * DAY && t < truth.onsetAt);
  return Math.min(truth.onsetAt, ...before);
}

function simulate(kase: DetectionCase, seed: number, onset: string): SimulatedDevice {
  const deviceId = `${kase.scenario}-${kase.modality.toLowerCase()}-${String(seed).padStart(2, '0')}`;
  const [sim] = buildFleet(
    [{ id: deviceId, site: 'bench-hospital', modality: kase.modality, ...DEVICE_TEMPLATE[kase.modality], simulation: { scenario: kase.scenario, onset } }],
    { seed, epoch: BENCH_EPOCH },
  );
  return sim!;
}

/**
 * The simulated device of a run: the fault begins `historyMs` after the epoch, at a time of day
 * that differs with the seed (a cooling failure at night waits for the morning's exams).
 */
export function simulatedDevice(kase: DetectionCase, seed: number): SimulatedDevice {
  const scenario = SCENARIOS[kase.scenario];
  if (!scenario) throw new Error(`unknown scenario ${kase.scenario}`);
  // The onset is given relative to the epoch; a milestone before it (the filament drift) moves the run's start back.
  const probe = simulate(kase, seed, '100d');
  const leadIn = probe.groundTruth.onsetAt - faultStartOf(probe);
  const phase = Math.round(uniform(seed, 'bench-onset-phase') * DAY);
  const onsetAt = BENCH_EPOCH + kase.historyMs + leadIn + phase;
  return simulate(kase, seed, new Date(onsetAt).toISOString());
}

/** Reading instants: the slow tick, with the live tick around the onset. */
function segments(from: number, to: number, onsetAt: number): Array<{ from: number; to: number; tick: number }> {
  const align = (t: number) => Math.floor(t / SLOW_TICK_MS) * SLOW_TICK_MS;
  const liveFrom = Math.max(from, align(onsetAt - LIVE_BEFORE_ONSET));
  const liveTo = Math.min(to, align(onsetAt + LIVE_AFTER_ONSET));
  if (liveFrom >= liveTo) return [{ from: from + SLOW_TICK_MS, to, tick: SLOW_TICK_MS }];
  return [
    { from: from + SLOW_TICK_MS, to: liveFrom, tick: SLOW_TICK_MS },
    { from: liveFrom + LIVE_TICK_MS, to: liveTo, tick: LIVE_TICK_MS },
    { from: liveTo + SLOW_TICK_MS, to, tick: SLOW_TICK_MS },
  ].filter((s) => s.to >= s.from);
}

/** Runs one scenario on one device through the engine and the baseline. */
export async function runCase(kase: DetectionCase, seed: number, context: HarnessContext): Promise<RunResult> {
  const sim = simulatedDevice(kase, seed);
  const truth = sim.groundTruth;
  const faultStart = faultStartOf(sim);
  const from = faultStart - kase.historyMs;
  const to = (truth.criticalAt ?? truth.onsetAt) + kase.afterMs;
  const deviceId = sim.device.id;

  const db = await openSqlDatabase({ sqliteFile: ':memory:' });
  try {
    await migrateToLatest(db);
    const registry = await DeviceRegistry.open(new SqlDeviceStore(db.db), () => from);
    const device = await registry.upsert(sim.device, 'fleet');
    const rulesInForce = context.rules.forDevice(device);
    const logger = silentLogger();
    const engine = new RuleEngine({ rules: context.rules, registry, repository: new AlertRepository(db.db), logger, now: () => from });
    await engine.warm();
    const clock = engine as unknown as EngineClock;

    // Which rules watch what the scenario changes: decided on the metrics it changes, not by rule name.
    const relevantMetrics = new Set<string>();
    const scenarioCodes = new Set<string>();
    const inputs = new Map(rulesInForce.map((r) => [r.id, ruleInputs(r, rulesInForce)]));
    const isRelevant = (ruleId: string): boolean => {
      const input = inputs.get(ruleId);
      if (!input) return false;
      for (const m of input.metrics) if (relevantMetrics.has(m)) return true;
      for (const c of input.codes) if (scenarioCodes.has(c)) return true;
      return false;
    };

    const engineRaised: Array<Omit<RaisedAlert, 'relevant'>> = [];
    engine.onTransition((alert, transitions) => {
      for (const t of transitions) {
        if (!t.notify) continue;
        engineRaised.push({ ts: t.ts, rule: alert.ruleId, kind: t.kind, ...(t.grade && { grade: t.grade }) });
      }
    });
    const baseline = new StaticThresholdAlarms(kase.modality);

    const chunkSamples = context.chunkSamples ?? 250;
    let chunk: Sample[] = [];
    let chunkEvents: DeviceEvent[] = [];
    let samples = 0;
    let ruleEvaluations = 0;
    let cpu = 0;
    let wall = 0;
    const feed = async (): Promise<void> => {
      if (chunk.length === 0 && chunkEvents.length === 0) return;
      const end = chunk.length > 0 ? chunk[chunk.length - 1]!.ts : chunkEvents[chunkEvents.length - 1]!.ts;
      const cpu0 = process.cpuUsage();
      const wall0 = performance.now();
      engine.onSamples(chunk);
      if (chunkEvents.length > 0) clock.onEvents?.(chunkEvents);
      clock.tick?.(end);
      // The saves the engine schedules on its own, as in the service; CPU includes them.
      await engine.settled();
      wall += performance.now() - wall0;
      const used = process.cpuUsage(cpu0);
      cpu += used.user + used.system;
      ruleEvaluations += chunk.length * rulesInForce.length;
      samples += chunk.length;
      for (const s of chunk) baseline.onSample(s.metric, s.ts, s.value);
      chunk = [];
      chunkEvents = [];
    };

    let previous = from;
    let tickNo = 0;
    for (const segment of segments(from, to, truth.onsetAt)) {
      for (const point of generateTelemetry(sim, segment.from, segment.to, segment.tick, { previousTs: previous })) {
        if (point.ts >= faultStart && tickNo++ % 5 === 0) {
          // What the fault changes: the scenario's reading against the healthy model's at the same instant.
          const healthy = sim.model.sample(point.ts, previous);
          const faulty = sim.instance.apply(point.ts, previous, { ...healthy });
          for (const metric of sim.model.metrics) {
            const h = healthy[metric];
            const f = faulty[metric];
            if (h !== undefined && (f === undefined || roundMetric(metric, f) !== roundMetric(metric, h))) relevantMetrics.add(metric);
          }
        }
        for (const event of eventsFor(sim, previous, point.ts, point.metrics)) {
          chunkEvents.push({ deviceId, ts: event.ts, code: event.code, ...(event.message !== undefined && { message: event.message }), ...(event.data && { data: { ...event.data } }) });
          if (event.ts >= faultStart && event.code !== 'TUBE_ARC') scenarioCodes.add(event.code);
        }
        previous = point.ts;
        for (const [metric, value] of Object.entries(point.metrics)) chunk.push({ deviceId, metric, ts: point.ts, value });
        if (chunk.length >= chunkSamples) await feed();
      }
    }
    await feed();
    await engine.flush();
    // Arcs are events too: on a tube that arcs more, the TUBE_ARC code is what changed.
    if (relevantMetrics.has('tube_arc_count')) scenarioCodes.add('TUBE_ARC');

    const evaluations = clock.stats?.().evaluations;
    return {
      scenario: kase.scenario,
      modality: kase.modality,
      kind: kase.kind,
      seed,
      deviceId,
      from,
      to,
      onsetAt: truth.onsetAt,
      faultStart,
      criticalAt: truth.criticalAt,
      criticalCondition: truth.criticalCondition,
      relevantMetrics: [...relevantMetrics].sort(),
      samples,
      rulesInForce: rulesInForce.length,
      ruleEvaluations,
      ...(evaluations !== undefined && { engineEvaluations: evaluations }),
      engineCpuMicros: cpu,
      engineWallMs: wall,
      engine: engineRaised.map((a) => ({ ...a, relevant: isRelevant(a.rule) })),
      baseline: baseline.alarms.map((a) => ({ ts: a.ts, rule: a.label, kind: 'fired' as const, grade: a.grade, relevant: relevantMetrics.has(a.metric) })),
    };
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Scoring

export interface DetectorScore {
  /** Runs in which the fault (or the sensor fault) was flagged; undefined for `none` cases. */
  readonly detected?: number;
  /** Critical time − first relevant alert, per detected run (fault cases with a critical time). */
  readonly leadMs: readonly number[];
  /** First relevant emergency − onset, per run that raised one. */
  readonly emergencyAfterOnsetMs: readonly number[];
  /** New alerts that should not have been raised, and the device-days they were counted over. */
  readonly falseAlerts: number;
  readonly deviceDays: number;
  /** New alerts after the fault began on rules that do not watch what it changes. */
  readonly unrelated: number;
  /** The first seed's timeline. */
  readonly timeline: readonly RaisedAlert[];
  readonly reference: 'critical' | 'onset';
}

export interface CaseScore {
  readonly scenario: string;
  readonly modality: Modality;
  readonly kind: CaseKind;
  readonly runs: number;
  readonly engine: DetectorScore;
  readonly baseline: DetectorScore;
}

/** The alert that counts as a warning: a rule (or limit) raising or escalating. */
const raising = (a: RaisedAlert) => a.kind === 'fired' || a.kind === 'escalated';

export function scoreDetector(runs: readonly RunResult[], pick: (run: RunResult) => readonly RaisedAlert[]): DetectorScore {
  const kind = runs[0]?.kind ?? 'none';
  let detected = 0;
  const leadMs: number[] = [];
  const emergencyAfterOnsetMs: number[] = [];
  let falseAlerts = 0;
  let deviceDays = 0;
  let unrelated = 0;
  for (const run of runs) {
    const alerts = pick(run);
    const fired = alerts.filter((a) => a.kind === 'fired');
    if (kind === 'fault') {
      const warnings = alerts.filter((a) => raising(a) && a.relevant && a.ts >= run.faultStart);
      if (warnings.length > 0) {
        detected += 1;
        if (run.criticalAt !== null) leadMs.push(run.criticalAt - warnings[0]!.ts);
      }
      const emergency = warnings.find((a) => a.grade === 'emergency' && a.ts >= run.onsetAt);
      if (emergency) emergencyAfterOnsetMs.push(emergency.ts - run.onsetAt);
      falseAlerts += fired.filter((a) => a.ts < run.faultStart).length;
      deviceDays += (run.faultStart - run.from) / DAY;
      unrelated += fired.filter((a) => a.ts >= run.faultStart && !a.relevant).length;
    } else if (kind === 'sensor') {
      if (alerts.some((a) => raising(a) && a.relevant && a.ts >= run.onsetAt)) detected += 1;
      falseAlerts += fired.filter((a) => !a.relevant || a.ts < run.onsetAt).length;
      deviceDays += (run.to - run.from) / DAY;
    } else {
      falseAlerts += fired.length;
      deviceDays += (run.to - run.from) / DAY;
    }
  }
  const first = runs[0];
  const timeline = first ? pick(first).filter((a) => raising(a) && (kind === 'none' || a.relevant || a.ts < first.faultStart)) : [];
  return {
    ...(kind !== 'none' && { detected }),
    leadMs,
    emergencyAfterOnsetMs,
    falseAlerts,
    deviceDays,
    unrelated,
    timeline,
    reference: first?.criticalAt !== null && first?.criticalAt !== undefined ? 'critical' : 'onset',
  };
}

export function scoreCase(runs: readonly RunResult[]): CaseScore {
  const first = runs[0]!;
  return {
    scenario: first.scenario,
    modality: first.modality,
    kind: first.kind,
    runs: runs.length,
    engine: scoreDetector(runs, (r) => r.engine),
    baseline: scoreDetector(runs, (r) => r.baseline),
  };
}

