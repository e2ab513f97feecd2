import type { Logger } from 'pino';
import type { AlertTransition } from '../src/kernel/alerts.js';
import { metricDefinition } from '../src/kernel/catalogue/metrics.js';
import type { DeviceEvent } from '../src/kernel/device.js';
import type { Site } from '../src/kernel/device.js';
import type { RegisteredDevice } from '../src/kernel/device.js';
import type { DeviceDirectory } from '../src/kernel/ports/device-directory.js';
import type { AlertStore } from '../src/kernel/ports/alert-store.js';
import type { SilenceLookup } from '../src/kernel/ports/silence-lookup.js';
import type { Sample, TelemetryStore } from '../src/kernel/ports/telemetry-store.js';
import { anomalyScore, ewmaBaseline, isAnomalous, madBaseline, type Baseline } from './anomaly.js';
import { compositeActive, compositeMetrics } from './composite.js';
import { describeDuration } from './describe.js';
import { deserialiseAlert, evaluate, newAlertRecord, serialiseAlert, type AlertRecord, type ConditionResult, type RuleTiming } from './lifecycle.js';
import type { AnomalyRule, CompositeRule, EventCountRule, NoDataRule, RateRule, Rule, StuckRule, ThresholdRule, TrendRule } from './pack-schema.js';
import { lowestRateLevel, rateCannotReach, rateGrade, seriesRatePerHour } from './rate.js';
import type { RuleSet } from './rule-set.js';
import { compileBand, compiledBandGrade, compiledGrade, compileLevels, nOfM, thresholdGrade, type BandLevels, type CompiledBand, type CompiledLevels, type GradeLevels } from './threshold.js';
import { describeEta, forecastCrossing, theilSenArrays } from './trend.js';
import { GRADE_LABELS, GRADES, type Grade, type MessageTemplate } from '../src/kernel/grades.js';
import { HeldSamples } from './held.js';
import { BucketSeries } from './windows.js';

/** One alert: a rule on a device, with its lifecycle record and the rule's own evaluation state. */
export interface EngineAlert {
  readonly deviceId: string;
  readonly ruleId: string;
  readonly pack: string;
  readonly record: AlertRecord;
  /**
   * The rule's own evaluation state: threshold grade with hysteresis (may differ from the alert's
   * grade while pending), the N-of-M window, and for trend rules the last forecast.
   */
  readonly condition: Condition;
  readonly message: MessageTemplate;
  readonly updatedAt: number;
  /** The silence (maintenance window) that held this alert's last notifying transition, if any. */
  readonly silencedBy?: string;
}

export interface Condition {
  readonly grade?: Grade;
  readonly window: readonly boolean[];
  readonly forecast?: Forecast;
  /** Anomaly rules: the last score (robust standard deviations) and the baseline it was measured against. */
  readonly score?: number;
  readonly baseline?: number;
  /** Anomaly rules: short deviations that did not persist — recorded, never alerted. */
  readonly spikes?: number;
  readonly lastSpikeAt?: number;
}

/** A trend rule's forecast of when its threshold is crossed (epoch ms), with its confidence band. */
export interface Forecast {
  readonly crossingAt: number;
  readonly earliest: number;
  readonly latest: number;
  /** Fitted slope in the metric's unit per day. */
  readonly slopePerDay: number;
  readonly points: number;
}

export interface RuleEngineOptions {
  readonly rules: RuleSet;
  readonly registry: DeviceDirectory;
  readonly repository: AlertStore;
  readonly logger: Logger;
  /** Wall clock, for `updatedAt` only; rules run on event time. */
  readonly now?: () => number;
  readonly silences?: SilenceLookup;
  /**
   * Samples are held this long (event time, per device) and evaluated in timestamp order, so
   * samples arriving slightly out of order are evaluated as if they had not. 0 evaluates at once.
   */
  readonly reorderMs?: number;
}

export interface EngineStats {
  /** Rule evaluations (one rule on one sample, event or tick). */
  readonly evaluations: number;
  /** Samples older than what their device had already been evaluated on: windows take them, thresholds do not. */
  readonly lateSamples: number;
  /** Anomaly deviations that did not persist long enough to alert. */
  readonly spikes: number;
  /**
   * Time spent in the engine's calls (samples, events, clock), ms: the calls are synchronous on
   * the event loop, so this is the engine's share of the process's JavaScript time, GC it causes
   * included. The saves run in the background and are not counted.
   */
  readonly busyMs: number;
}

/** Buckets per window of each windowed kind: enough resolution, bounded memory. */
const BUCKETS = { trend: 150, rate: 30, anomaly: 200, event_count: 100 } as const;
/** A trend is refitted at most this many times per window of event time (a fit is O(points²)). */
const TREND_FITS_PER_WINDOW = 50;
/** A rate is refitted at most this many times per window of event time. */
const RATE_FITS_PER_WINDOW = 10;
/** An alert's message is re-rendered on transitions, and otherwise at most this often (wall time). */
const RENDER_INTERVAL_MS = 60_000;
/** An anomaly baseline needs this many buckets and a quarter of its window before it judges. */
const ANOMALY_MIN_BUCKETS = 8;

/** Flapping: more than this many state changes within the window holds notifications. */
const FLAP: RuleTiming['flap'] = { windowMs: 3_600_000, maxTransitions: 6 };

const key = (deviceId: string, ruleId: string) => `${deviceId}\u0000${ruleId}`;

type WindowedRule = TrendRule | RateRule | AnomalyRule | EventCountRule;

/**
 * The engine's memory of one rule on one device, found without building a key per sample: the
 * alert key, the evaluation state of a rule whose alert is still quiet (nothing to persist yet)
 * and the rule's window.
 */
interface Slot {
  readonly key: string;
  quiet?: Condition;
  window?: WindowState;
  /** Stuck rules: the current run of readings within the tolerance. */
  run?: { start: number; min: number; max: number; count: number };
}

/** A rule and its slot on one device. */
interface Entry<R extends Rule = Rule> {
  readonly rule: R;
  readonly slot: Slot;
  /** The rule's kind, read here rather than from rules whose object shapes differ by kind (one shape: a fast property load). */
  readonly kind: Rule['kind'];
  /** Threshold rules: their levels in one fixed shape, made once. */
  readonly plan: ThresholdPlan | undefined;
}

/** What a threshold rule evaluates per sample, in one object shape for every threshold rule. */
interface ThresholdPlan {
  readonly outside: boolean;
  readonly levels: CompiledLevels;
  /** `outside` rules: the band per grade. */
  readonly band: CompiledBand;
  /** N of M; m = 0 without. */
  readonly n: number;
  readonly m: number;
}

function thresholdPlan(rule: ThresholdRule): ThresholdPlan {
  return {
    outside: rule.direction === 'outside',
    levels: compileLevels(rule.levels ?? {}, rule.direction === 'below' ? 'below' : 'above'),
    band: compileBand(bandLevels(rule.band ?? {})),
    n: rule.n_of_m?.n ?? 0,
    m: rule.n_of_m?.m ?? 0,
  };
}

/** The grade of a value under a threshold plan, given the grade hysteresis holds. */
function planGrade(plan: ThresholdPlan, value: number, held: Grade | undefined): Grade | undefined {
  return plan.outside ? compiledBandGrade(value, held, plan.band) : compiledGrade(value, held, plan.levels);
}

/** The rules in force for one device, indexed the way evaluation looks them up. */
interface DeviceRules {
  readonly generation: number;
  readonly model: string;
  readonly pack: string;
  readonly byMetric: ReadonlyMap<string, readonly Entry[]>;
  readonly byCode: ReadonlyMap<string, readonly Entry<EventCountRule>[]>;
  readonly composites: readonly CompositeRule[];
  readonly compositesByMetric: ReadonlyMap<string, readonly Entry<CompositeRule>[]>;
  readonly nodata: readonly NoDataRule[];
  readonly windowed: readonly WindowedRule[];
  /** Composites with a condition on another rule's state. */
  readonly compositesOnRules: readonly CompositeRule[];
  /** No rule of any kind is in force: samples need no tracking at all. */
  readonly none: boolean;
}

/** The newest sample of a metric, the engine clock when it arrived, and the batch that brought it. */
interface MetricSeen {
  ts: number;
  /** NaN for the device entry ('any'). */
  value: number;
  arrival: number;
  batch: number;
  /**
   * The rules that read this metric, as of `rules` (the device's rules when they were looked up):
   * kept here so that a sample costs one map lookup for both what was seen and what to evaluate.
   */
  rules: DeviceRules | undefined;
  entries: readonly Entry[] | undefined;
  composites: readonly Entry<CompositeRule>[] | undefined;
}

/** A metric seen, its rules not looked up yet (every field set: one object shape). */
function metricSeen(ts: number, value: number, arrival: number, batch: number): MetricSeen {
  return { ts, value, arrival, batch, rules: undefined, entries: undefined, composites: undefined };
}

/** What the engine knows of a device between samples. */
interface DeviceTrack {
  readonly deviceId: string;
  /** Per metric ('any' for the device as a whole): what was last seen of it. */
  readonly metrics: Map<string, MetricSeen>;
  /** Number of the batch being evaluated, to tell which metrics it reported. */
  batch: number;
  /** Samples held for the reorder tolerance, in timestamp order. */
  readonly held: HeldSamples;
  watermark: number;
  evaluatedTo: number;
  /** What composite conditions read of this device (made once, not per evaluation). */
  readonly inputs: { latest(metric: string): number | undefined; firing(ruleId: string): boolean };
}

interface WindowState {
  /** The rule the window was sized for. */
  rule: WindowedRule;
  series: BucketSeries;
  lastFitAt: number;
  baseline?: { bucket: number; value: Baseline | undefined };
}

/** What one evaluation of a rule said, for the lifecycle and the message. */
interface Outcome {
  readonly active: boolean;
  readonly grade?: Grade;
  readonly value: number;
  readonly condition: Condition;
  /** The message written when the condition was last fully met stays (a value held by hysteresis). */
  readonly keepMessage?: boolean;
}

/** The level a threshold message names for `grade`: the raise level, or the side of the band `value` left. */
function thresholdText(rule: ThresholdRule, value: number, grade: Grade | undefined): string {
  if (grade === undefined) return '';
  if (rule.direction !== 'outside') return String(rule.levels?.[grade]?.raise ?? '');
  const band = rule.band?.[grade];
  return band ? String(value < band.low ? band.low : band.high) : '';
}

/** Lifecycle timing per rule, made once (rules are immutable once loaded). */
const timingOf = new WeakMap<Rule, RuleTiming>();

function ruleTiming(rule: Rule): RuleTiming {
  let timing = timingOf.get(rule);
  if (!timing) timingOf.set(rule, (timing = { forMs: rule.for ?? 0, clearForMs: rule.clear_for ?? 0, flap: FLAP }));
  return timing;
}

/** Event-count levels derived once per rule, not per event (rules are immutable once loaded). */
const countLevelsOf = new WeakMap<EventCountRule, GradeLevels>();

function cachedCountLevels(rule: EventCountRule): GradeLevels {
  let levels = countLevelsOf.get(rule);
  if (!levels) countLevelsOf.set(rule, (levels = countLevels(rule.levels)));
  return levels;
}

/** No alert, or one at rest: nothing open, pending or flapping, so an inactive condition changes nothing. */
function isQuiet(alert: EngineAlert | undefined): boolean {
  return alert === undefined || (alert.record.state === 'normal' && !alert.record.flapping);
}

/** The empty condition of a rule that has said nothing yet. */
const NO_CONDITION: Condition = Object.freeze({ window: Object.freeze([]) as readonly boolean[] });

/** `outside` bands as the pack writes them → the two-sided levels `bandGrade` reads. */
function bandLevels(band: NonNullable<ThresholdRule['band']>): BandLevels {
  const out: Record<string, { low: { raise: number; clear: number }; high: { raise: number; clear: number } }> = {};
  for (const [grade, b] of Object.entries(band)) {
    if (!b) continue;
    out[grade] = { low: { raise: b.low, clear: b.low + b.hysteresis }, high: { raise: b.high, clear: b.high - b.hysteresis } };
  }
  return out as BandLevels;
}

/** Event-count levels: a grade is held until the count falls below 80 % of its level. */
function countLevels(levels: EventCountRule['levels']): GradeLevels {
  const out: GradeLevels = {};
  for (const [grade, level] of Object.entries(levels) as Array<[Grade, number | undefined]>) {
    if (level !== undefined) out[grade] = { raise: level, clear: Math.ceil(level * 0.8) - 1 };
  }
  return out;
}

const round = (value: number, digits = 2) => String(Math.round(value * 10 ** digits) / 10 ** digits);

/**
 * An alert's message in both languages: the placeholders every rule shares, the rule kind's own
 * (`extra`), and those that differ by language (`perLanguage`, such as a duration).
 */
function renderAlertMessage(
  device: RegisteredDevice,
  site: Site | undefined,
  rule: { id: string; metric?: string; message: MessageTemplate },
  value: number,
  grade: Grade | undefined,
  extra: Readonly<Record<string, string>>,
  perLanguage: (language: 'zh' | 'en') => Readonly<Record<string, string>> = () => ({}),
): MessageTemplate {
  const metric = rule.metric ?? '';
  const definition = metricDefinition(device.modality, metric);
  const location = [device.location?.department, device.location?.floor, device.location?.room].filter(Boolean).join(' ');
  const common = {
    device: device.name ? `${device.name} (${device.id})` : device.id,
    value: round(value),
    unit: definition?.unit ?? '',
    rule: rule.id,
    model: device.model,
    site: site?.name ?? device.site,
    location,
    ...extra,
  };
  return {
    zh: renderMessage(rule.message.zh, { ...common, metric: definition?.zh ?? metric, ...perLanguage('zh'), grade: grade ? GRADE_LABELS[grade].zh : '' }),
    en: renderMessage(rule.message.en, { ...common, metric: definition?.en ?? metric, site: site?.nameEn ?? common.site, ...perLanguage('en'), grade: grade ?? '' }),
  };
}

/** Fills `{{name}}` placeholders; unknown ones stay as written. */
export function renderMessage(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => vars[name] ?? whole);
}

/** The metric a rule is about (a composite's first metric condition), for messages and no-data. */
function ruleMetric(rule: Rule): string | undefined {
  if (rule.kind === 'composite') return compositeMetrics(rule)[0];
  return rule.metric;
}

/**
 * Evaluates the rules in force on samples as they become durable, in event time, and keeps one
 * alert per (device, rule). Each rule kind has its own step: threshold (per sample, hysteresis,
 * N of M), trend (Theil–Sen forecast of the crossing), rate (robust slope per hour), anomaly
 * (against the device's own baseline), event count (events per window, from counters or event
 * codes), composite (conditions on latest values and other rules) and no-data (silence of a metric
 * or a device, checked on `tick`). Every step ends in `apply`, which runs the shared lifecycle.
 */
export class RuleEngine {
  private readonly alerts = new Map<string, EngineAlert>();
  /** Per (device, rule): quiet evaluation state and window; kept across rule reloads. */
  private readonly slots = new Map<string, Slot>();
  private readonly devices = new Map<string, DeviceTrack>();
  private readonly deviceRules = new Map<string, DeviceRules>();
  /** Devices a batch of samples touched (reused from batch to batch). */
  private readonly touched = new Set<DeviceTrack>();
  private readonly dirty = new Set<string>();
  /** Alerts changed without a transition (value, time): saved with the next save, not on their own. */
  private readonly lazy = new Set<string>();
  private saving: Promise<void> = Promise.resolve();
  private readonly listeners: Array<(alert: EngineAlert, transitions: readonly AlertTransition[]) => void> = [];
  /** The engine's notion of now: the latest `tick`. Event time in replays, wall time live. */
  private clock = Number.NEGATIVE_INFINITY;
  /** Wall time of the last save, so alerts changed without a transition are saved at least every RENDER_INTERVAL_MS. */
  private lastSaveAt = Number.NEGATIVE_INFINITY;
  private counters = { evaluations: 0, lateSamples: 0, spikes: 0, busyMs: 0 };

  constructor(private readonly options: RuleEngineOptions) {}

  /** Restores the alerts of the last run, so a restart neither fires again nor forgets. */
  async warm(): Promise<void> {
    for (const stored of await this.options.repository.all()) {
      try {
        const condition = JSON.parse(stored.condition) as Condition & { silencedBy?: string };
        const { silencedBy, ...rest } = condition;
        this.alerts.set(key(stored.deviceId, stored.ruleId), {
          deviceId: stored.deviceId,
          ruleId: stored.ruleId,
          pack: stored.pack,
          record: deserialiseAlert(stored.record),
          condition: rest,
          message: { zh: stored.messageZh, en: stored.messageEn },
          updatedAt: stored.updatedAt,
          ...(silencedBy !== undefined && { silencedBy }),
        });
      } catch (error) {
        this.options.logger.warn({ err: error, device: stored.deviceId, rule: stored.ruleId }, 'stored alert unreadable; starting it afresh');
      }
    }
  }

  /**
   * Refills the windows of trend, rate, anomaly and event-count rules, the latest values composite
   * rules read and the last-seen times of no-data rules from the store, so a restart resumes with
   * the history it had instead of an empty window. Call before samples flow.
   */
  async warmWindows(store: TelemetryStore, now: number): Promise<{ devices: number; windows: number }> {
    this.clock = Math.max(this.clock, now);
    let windows = 0;
    const devices = this.options.registry.list();
    for (const device of devices) {
      const rules = this.rulesFor(device);
      const latest = await store.latest(device.id);
      if (latest.length === 0) continue;
      const track = this.track(device.id);
      for (const l of latest) {
        track.metrics.set(l.metric, metricSeen(l.ts, l.value, now, 0));
        track.evaluatedTo = Math.max(track.evaluatedTo, l.ts);
      }
      const newest = Math.max(...latest.map((l) => l.ts));
      track.metrics.set('any', metricSeen(newest, NaN, now, 0));
      const latestTs = new Map(latest.map((l) => [l.metric, l.ts]));
      for (const rule of rules.windowed) {
        if (rule.kind === 'event_count' && rule.metric === undefined) continue;
        const metric = rule.metric!;
        const to = latestTs.get(metric);
        if (to === undefined) continue;
        const state = this.window(this.slot(device.id, rule.id), rule);
        const points = await store.aggregate({ deviceId: device.id, metric, from: to - rule.window, to: to + 1, step: state.series.bucketMs });
        for (const p of points) if (p.count > 0) state.series.merge(p.ts, { count: p.count, sum: p.mean * p.count, min: p.min, max: p.max });
        windows += 1;
      }
    }
    return { devices: devices.length, windows };
  }

  /** Called with each transition that changed an alert (for notification, later work orders). */
  onTransition(listener: (alert: EngineAlert, transitions: readonly AlertTransition[]) => void): void {
    this.listeners.push(listener);
  }

  list(): EngineAlert[] {
    return [...this.alerts.values()];
  }

  stats(): EngineStats {
    return { ...this.counters };
  }

  /** Evaluates the rules of each device on its samples, oldest first. */
  onSamples(samples: readonly Sample[]): void {
    this.timed(() => this.samplesNow(samples));
  }

  /** Runs one of the engine's entry points, adding its time to `busyMs`. */
  private timed(work: () => void): void {
    const started = performance.now();
    try {
      work();
    } finally {
      this.counters.busyMs += performance.now() - started;
    }
  }

  private samplesNow(samples: readonly Sample[]): void {
    const reorderMs = this.options.reorderMs ?? 0;
    if (reorderMs <= 0) {
      const byDevice = new Map<string, Sample[]>();
      for (const s of samples) {
        const list = byDevice.get(s.deviceId);
        if (list) list.push(s);
        else byDevice.set(s.deviceId, [s]);
      }
      for (const [deviceId, deviceSamples] of byDevice) {
        const device = this.options.registry.get(deviceId);
        if (device && !this.rulesFor(device).none) {
          const sorted = deviceSamples.sort((a, b) => a.ts - b.ts);
          this.evaluateDevice(device, sorted.length, (i) => sorted[i]!);
        }
      }
    } else {
      // Straight into each device's reorder buffer, then release what is due per device touched.
      const touched = this.touched;
      touched.clear();
      // A message's samples come together: the device of the one before is usually this one's.
      let lastId: string | undefined;
      let lastTrack: DeviceTrack | undefined;
      for (const s of samples) {
        let track = s.deviceId === lastId ? lastTrack : this.devices.get(s.deviceId);
        if (track === undefined) {
          const device = this.options.registry.get(s.deviceId);
          if (!device || this.rulesFor(device).none) continue;
          track = this.track(s.deviceId);
        }
        lastId = s.deviceId;
        lastTrack = track;
        track.held.add(s.metric, s.ts, s.value);
        if (s.ts > track.watermark) track.watermark = s.ts;
        touched.add(track);
      }
      for (const track of touched) {
        const device = this.options.registry.get(track.deviceId);
        if (!device || this.rulesFor(device).none) track.held.clear();
        else this.release(device, track, track.watermark - reorderMs);
      }
      touched.clear();
    }
    if (this.dirty.size > 0) this.scheduleSave();
  }

  /** Device events (alarm codes): feeds event-count rules that count a code. */
  onEvents(events: readonly DeviceEvent[]): void {
    this.timed(() => this.eventsNow(events));
  }

  private eventsNow(events: readonly DeviceEvent[]): void {
    for (const event of [...events].sort((a, b) => a.ts - b.ts)) {
      const device = this.options.registry.get(event.deviceId);
      if (!device) continue;
      const rules = this.rulesFor(device);
      for (const entry of rules.byCode.get(event.code) ?? []) this.countStep(device, rules, entry, event.ts, 1);
    }
    if (this.dirty.size > 0) this.scheduleSave();
  }

  /**
   * Moves the engine's clock to `now` (wall time live, event time in a replay): releases held
   * samples and evaluates no-data rules.
   */
  tick(now: number): void {
    this.timed(() => this.tickNow(now));
  }

  private tickNow(now: number): void {
    if (now > this.clock) this.clock = now;
    const reorderMs = this.options.reorderMs ?? 0;
    for (const device of this.options.registry.list()) {
      const track = this.devices.get(device.id);
      if (reorderMs > 0 && track && track.held.length > 0) this.release(device, track, this.clock - reorderMs);
      const rules = this.rulesFor(device);
      for (const rule of rules.nodata) this.nodataCheck(device, rules, rule);
    }
    if (this.dirty.size > 0 || (this.lazy.size > 0 && (this.options.now ?? Date.now)() - this.lastSaveAt >= RENDER_INTERVAL_MS)) this.scheduleSave();
  }

  /** Waits for the saves the engine has scheduled itself (unlike `flush`, forces none). */
  async settled(): Promise<void> {
    await this.saving;
  }

  /** Writes pending alert changes. */
  async flush(): Promise<void> {
    this.scheduleSave();
    await this.saving;
  }

  /**
   * Evaluates the held samples up to `upTo`, in timestamp order (arrival order among equal times).
   * The pending samples are kept sorted, so those due are a prefix: releasing copies only them.
   */
  private release(device: RegisteredDevice, track: DeviceTrack, upTo: number): void {
    const { held } = track;
    const due = held.dueCount(upTo);
    if (due === 0) return;
    // One sample object, refilled for each held sample: steps read it and keep nothing of it.
    const cursor = { deviceId: track.deviceId, metric: '', ts: 0, value: 0 };
    this.evaluateDevice(device, due, (i) => {
      cursor.metric = held.metricAt(i);
      cursor.ts = held.tsAt(i);
      cursor.value = held.valueAt(i);
      return cursor;
    });
    held.drop(due);
  }

  private track(deviceId: string): DeviceTrack {
    let track = this.devices.get(deviceId);
    if (!track) {
      const metrics = new Map<string, MetricSeen>();
      const inputs = {
        latest: (metric: string) => metrics.get(metric)?.value,
        firing: (ruleId: string) => this.alerts.get(key(deviceId, ruleId))?.record.state === 'firing',
      };
      this.devices.set(deviceId, (track = { deviceId, metrics, batch: 0, held: new HeldSamples(), watermark: Number.NEGATIVE_INFINITY, evaluatedTo: Number.NEGATIVE_INFINITY, inputs }));
    }
    return track;
  }

  private rulesFor(device: RegisteredDevice): DeviceRules {
    const generation = this.options.rules.generation;
    const cached = this.deviceRules.get(device.id);
    if (cached && cached.generation === generation && cached.model === device.model) return cached;
    const rules = this.options.rules.forDevice(device);
    const byMetric = new Map<string, Entry[]>();
    const byCode = new Map<string, Entry<EventCountRule>[]>();
    const compositesByMetric = new Map<string, Entry<CompositeRule>[]>();
    const push = <T>(map: Map<string, T[]>, k: string, v: T) => {
      const list = map.get(k);
      if (list) list.push(v);
      else map.set(k, [v]);
    };
    for (const rule of rules) {
      if (rule.kind === 'composite') {
        const slot = this.slot(device.id, rule.id);
        for (const metric of new Set(compositeMetrics(rule))) push(compositesByMetric, metric, { rule, slot, kind: rule.kind, plan: undefined });
      } else if (rule.kind === 'event_count' && rule.code !== undefined) {
        push(byCode, rule.code, { rule, slot: this.slot(device.id, rule.id), kind: rule.kind, plan: undefined });
      } else if (rule.kind !== 'nodata') {
        push(byMetric, rule.metric!, { rule, slot: this.slot(device.id, rule.id), kind: rule.kind, plan: rule.kind === 'threshold' ? thresholdPlan(rule) : undefined });
      }
    }
    const entry: DeviceRules = {
      generation,
      model: device.model,
      pack: this.options.rules.list().find((p) => p.modality === device.modality)?.pack ?? '',
      byMetric,
      byCode,
      composites: rules.filter((r): r is CompositeRule => r.kind === 'composite'),
      compositesByMetric,
      nodata: rules.filter((r): r is NoDataRule => r.kind === 'nodata'),
      windowed: rules.filter((r): r is WindowedRule => r.kind === 'trend' || r.kind === 'rate' || r.kind === 'anomaly' || r.kind === 'event_count'),
      compositesOnRules: rules.filter((r): r is CompositeRule => r.kind === 'composite' && r.conditions.some((c) => 'rule' in c)),
      none: rules.length === 0,
    };
    this.deviceRules.set(device.id, entry);
    return entry;
  }

  /** Evaluates `count` samples of one device, in time order, read through `at` (which may reuse one object). */
  private evaluateDevice(device: RegisteredDevice, count: number, at: (i: number) => Sample): void {
    const rules = this.rulesFor(device);
    const track = this.track(device.id);
    const batch = ++track.batch;
    let newest = Number.NEGATIVE_INFINITY;
    for (let index = 0; index < count; index++) {
      const sample = at(index);
      const late = sample.ts < track.evaluatedTo;
      if (late) this.counters.lateSamples += 1;
      else track.evaluatedTo = sample.ts;
      const seen = this.markSeen(track, sample.metric, sample.ts, sample.value, batch);
      if (sample.ts > newest) newest = sample.ts;
      if (seen.rules !== rules) {
        seen.rules = rules;
        seen.entries = rules.byMetric.get(sample.metric);
        seen.composites = rules.compositesByMetric.get(sample.metric);
      }

      const entries = seen.entries;
      if (entries !== undefined) {
        this.counters.evaluations += entries.length;
        for (const entry of entries) {
          try {
            switch (entry.kind) {
              case 'threshold':
                if (!late) this.thresholdStep(device, rules, entry as Entry<ThresholdRule>, sample);
                break;
              case 'trend':
                this.trendStep(device, rules, entry as Entry<TrendRule>, sample);
                break;
              case 'rate':
                this.rateStep(device, rules, entry as Entry<RateRule>, sample);
                break;
              case 'anomaly':
                this.anomalyStep(device, rules, entry as Entry<AnomalyRule>, sample, late);
                break;
              case 'event_count':
                this.countStep(device, rules, entry as Entry<EventCountRule>, sample.ts, sample.value);
                break;
              case 'stuck':
                if (!late) this.stuckStep(device, rules, entry as Entry<StuckRule>, sample);
                break;
              default:
                break;
            }
          } catch (error) {
            this.ruleFailed(device, rules, entry.rule, sample.ts, error);
          }
        }
      }
      if (!late) {
        const composites = seen.composites;
        if (composites !== undefined) {
          this.counters.evaluations += composites.length;
          for (const entry of composites) this.compositeStep(device, rules, entry.rule, sample.ts, entry.slot);
        }
      }
    }
    if (newest === Number.NEGATIVE_INFINITY) return;
    this.markSeen(track, 'any', newest, NaN, batch);
    // Data is back: open no-data alerts of what just reported resolve.
    for (const rule of rules.nodata) {
      if (rule.metric !== 'any' && track.metrics.get(rule.metric)?.batch !== batch) continue;
      const alert = this.alerts.get(key(device.id, rule.id));
      if (alert && alert.record.state !== 'normal') this.nodataCheck(device, rules, rule);
    }
    // Composites that read other rules' states see the states this batch left.
    for (const rule of rules.compositesOnRules) this.compositeStep(device, rules, rule, track.evaluatedTo);
  }

  /** Notes a sample: the newest value (a late sample leaves it), arrival on the engine clock, batch. */
  private markSeen(track: DeviceTrack, metric: string, ts: number, value: number, batch: number): MetricSeen {
    const seen = track.metrics.get(metric);
    const arrival = this.clock > ts ? this.clock : ts;
    if (!seen) {
      const added = metricSeen(ts, value, arrival, batch);
      track.metrics.set(metric, added);
      return added;
    }
    if (ts >= seen.ts) {
      seen.ts = ts;
      seen.value = value;
    }
    if (arrival > seen.arrival) seen.arrival = arrival;
    seen.batch = batch;
    return seen;
  }

  private slot(deviceId: string, ruleId: string): Slot {
    const id = key(deviceId, ruleId);
    let slot = this.slots.get(id);
    if (!slot) this.slots.set(id, (slot = { key: id }));
    return slot;
  }

  /** What the rule said last: the open alert's condition, or the quiet state. */
  private condition(slot: Slot): Condition {
    return this.alerts.get(slot.key)?.condition ?? slot.quiet ?? NO_CONDITION;
  }

  /**
   * The grade hysteresis holds: that of an alert that has fired and not resolved. Before an alert
   * fires, a condition must reach its raise level, so a pending hold (`for`) or N of M is met only
   * by values that are really over the level, not by ones the hysteresis band would have kept.
   */
  private heldGrade(alert: EngineAlert | undefined): Grade | undefined {
    if (alert === undefined) return undefined;
    const { record } = alert;
    return record.firedAt !== undefined && record.resolvedAt === undefined ? alert.condition.grade : undefined;
  }

  private window(slot: Slot, rule: WindowedRule): WindowState {
    const state = slot.window;
    // Same rule object: same window. A reloaded rule with another window starts a fresh one.
    if (state && state.rule === rule) return state;
    const fresh = BucketSeries.spanning(rule.window, BUCKETS[rule.kind]);
    if (state && state.series.bucketMs === fresh.bucketMs && state.series.windowMs === fresh.windowMs) {
      state.rule = rule;
      return state;
    }
    return (slot.window = { rule, series: fresh, lastFitAt: Number.NEGATIVE_INFINITY });
  }

  private thresholdStep(device: RegisteredDevice, rules: DeviceRules, { rule, slot, plan }: Entry<ThresholdRule>, sample: Sample): void {
    const alert = this.alerts.get(slot.key);
    const held = this.heldGrade(alert);
    const { value } = sample;
    const grade = planGrade(plan!, value, held);
    let active = grade !== undefined;
    const { n, m } = plan!;
    if (!active && isQuiet(alert)) {
      // The common case: a quiet rule stays quiet, and has nothing to remember — with N of M,
      // once its window is full of good samples another good one changes nothing.
      if (m === 0) {
        slot.quiet = undefined;
        return;
      }
      const window = (alert?.condition ?? slot.quiet)?.window;
      if (window !== undefined && window.length >= m && !window.includes(true)) return;
    }
    const previous = alert?.condition ?? slot.quiet ?? NO_CONDITION;
    let window = previous.window;
    if (m > 0) {
      window = [...window, active].slice(-m);
      active = nOfM(window, n);
    }
    // Held by hysteresis below the raise level: the message written when the level was reached
    // stays, rather than reading "3.99 above 4".
    const belowRaise = held !== undefined && grade !== undefined && planGrade(plan!, value, undefined) !== grade;
    // Unchanged (a steady pending or firing alert): the same condition object, nothing new to keep.
    const condition: Condition = previous.grade === grade && previous.window === window ? previous : grade !== undefined ? { grade, window } : { window };
    this.apply(device, rules, rule, slot, sample.ts, { active, grade, value, condition, keepMessage: belowRaise }, (g) => ({ threshold: thresholdText(rule, value, g) }));
  }

  /**
   * Trend rules: the samples are folded into bucket means over the rule's window; each time a new
   * bucket starts, a Theil–Sen fit of the completed buckets forecasts when the threshold is
   * crossed, and the nearer that is, the more serious the grade. Too little history evaluates
   * nothing (rather than "fine"), so a restart with an empty window does not resolve an open forecast.
   */
  private trendStep(device: RegisteredDevice, rules: DeviceRules, { rule, slot }: Entry<TrendRule>, sample: Sample): void {
    const state = this.window(slot, rule);
    const { series } = state;
    if (!series.add(sample.ts, sample.value)) return;
    if (sample.ts - state.lastFitAt < Math.max(series.bucketMs, rule.window / TREND_FITS_PER_WINDOW)) return;
    const means = series.means(series.newest);
    if (means.n < rule.min_points) return;
    state.lastFitAt = sample.ts;
    const fit = theilSenArrays(means.ts, means.values, means.n, sample.ts, rule.confidence);
    if (!fit) return;
    const crossing = forecastCrossing(fit, rule.threshold, rule.direction === 'above' ? 'above' : 'below');
    const eta = crossing ? crossing.at - sample.ts : Number.POSITIVE_INFINITY;
    let grade: Grade | undefined;
    if (eta <= rule.horizon) for (const g of GRADES) if (rule.grades[g] !== undefined && eta <= rule.grades[g]!) grade = g;
    const forecast: Forecast | undefined = crossing && {
      crossingAt: Math.round(crossing.at),
      earliest: Math.round(crossing.earliest),
      latest: Number.isFinite(crossing.latest) ? Math.round(crossing.latest) : Number.MAX_SAFE_INTEGER,
      slopePerDay: fit.slope * 86_400_000,
      points: fit.points,
    };
    const slopePerDay = Math.abs(fit.slope * 86_400_000);
    this.apply(
      device,
      rules,
      rule,
      slot,
      sample.ts,
      { active: grade !== undefined, ...(grade && { grade }), value: sample.value, condition: { ...(grade && { grade }), window: [], ...(forecast && { forecast }) } },
      () => ({ threshold: String(rule.threshold), slope: round(slopePerDay, slopePerDay < 1 ? 2 : 1) }),
      (language) => ({
        eta: describeEta(eta, language),
        uncertainty: forecast && forecast.latest !== Number.MAX_SAFE_INTEGER ? describeEta((forecast.latest - forecast.earliest) / 2, language) : '?',
      }),
    );
  }

  /**
   * Rate rules: the robust slope per hour of the window, graded with hysteresis; refitted as a new
   * bucket starts, at most RATE_FITS_PER_WINDOW times per window.
   */
  private rateStep(device: RegisteredDevice, rules: DeviceRules, { rule, slot }: Entry<RateRule>, sample: Sample): void {
    const state = this.window(slot, rule);
    const { series } = state;
    if (!series.add(sample.ts, sample.value)) return;
    if (sample.ts - state.lastFitAt < rule.window / RATE_FITS_PER_WINDOW) return;
    state.lastFitAt = sample.ts;
    const alert = this.alerts.get(slot.key);
    // Quiet and provably under every level: no need to fit.
    if (isQuiet(alert) && rateCannotReach(series, lowestRateLevel(rule))) return;
    const perHour = seriesRatePerHour(series, rule.window);
    if (perHour === undefined) return;
    const grade = rateGrade(perHour, this.heldGrade(alert), rule);
    if (grade === undefined && isQuiet(alert)) return;
    this.apply(
      device,
      rules,
      rule,
      slot,
      sample.ts,
      { active: grade !== undefined, ...(grade && { grade }), value: perHour, condition: { ...(grade && { grade }), window: [] } },
      () => ({ rate: round(perHour) }),
      (language) => ({ window: describeDuration(rule.window, language) }),
    );
  }

  /**
   * Anomaly rules: each sample against the baseline of the buckets before its own. A deviation
   * must persist for `persist` (the pending hold) to alert; one that goes away sooner is counted as
   * a spike and recorded on the rule's state.
   */
  private anomalyStep(device: RegisteredDevice, rules: DeviceRules, { rule, slot }: Entry<AnomalyRule>, sample: Sample, late: boolean): void {
    const state = this.window(slot, rule);
    const { series } = state;
    if (!late) this.anomalyJudge(device, rules, rule, slot, state, sample);
    series.add(sample.ts, sample.value);
  }

  private anomalyJudge(device: RegisteredDevice, rules: DeviceRules, rule: AnomalyRule, slot: Slot, state: WindowState, sample: Sample): void {
    const { series } = state;
    const bucket = series.startOf(sample.ts);
    if (!state.baseline || state.baseline.bucket !== bucket) {
      const { buckets: before, first, last } = series.bucketsBefore(bucket);
      const enough = before.length >= ANOMALY_MIN_BUCKETS && last + series.bucketMs - first >= rule.window / 4;
      state.baseline = { bucket, value: enough ? (rule.method === 'mad' ? madBaseline(before) : ewmaBaseline(before, rule.alpha ?? 0.1, rule.k)) : undefined };
    }
    const baseline = state.baseline.value;
    if (!baseline) return;
    const score = anomalyScore(sample.value, baseline);
    const active = isAnomalous(score, rule.k, rule.side);
    const alert = this.alerts.get(slot.key);
    // Within the baseline and nothing open: nothing to record (the spike count stays on the quiet state).
    if (!active && isQuiet(alert)) return;
    const previous = alert?.condition ?? slot.quiet ?? NO_CONDITION;
    this.apply(
      device,
      rules,
      { ...rule, for: rule.for ?? rule.persist },
      slot,
      sample.ts,
      {
        active,
        ...(active && { grade: rule.grade }),
        value: sample.value,
        condition: { window: [], score: Math.round(score * 100) / 100, baseline: baseline.centre, ...(previous.spikes !== undefined && { spikes: previous.spikes }), ...(previous.lastSpikeAt !== undefined && { lastSpikeAt: previous.lastSpikeAt }) },
      },
      () => ({ baseline: round(baseline.centre), score: round(Math.abs(score), 1) }),
    );
  }

  /** Event-count rules: events (counter increments or event codes) within the window, graded by count. */
  private countStep(device: RegisteredDevice, rules: DeviceRules, { rule, slot }: Entry<EventCountRule>, ts: number, events: number): void {
    const { series } = this.window(slot, rule);
    series.add(ts, events);
    this.counters.evaluations += rule.code !== undefined ? 1 : 0;
    const alert = this.alerts.get(slot.key);
    // No new events and nothing open: the count can only have fallen, and it was below every level.
    if (events <= 0 && isQuiet(alert)) return;
    const count = series.sumSince(ts - rule.window);
    const grade = thresholdGrade(count, this.heldGrade(alert), cachedCountLevels(rule), 'above');
    if (grade === undefined && isQuiet(alert)) return;
    this.apply(
      device,
      rules,
      rule,
      slot,
      ts,
      { active: grade !== undefined, ...(grade && { grade }), value: count, condition: { ...(grade && { grade }), window: [] } },
      () => ({ count: String(Math.round(count)), code: rule.code ?? '' }),
      (language) => ({ window: describeDuration(rule.window, language) }),
    );
  }

  /**
   * Stuck rules: the run of readings that stayed within the tolerance of each other. A run as long
   * as `after` (with enough readings) is active; a reading outside it starts a new run and, if an
   * alert is open, resolves it. A run shorter than `after` says nothing, so after a restart an
   * open alert is neither resolved nor fired again until the readings show which it is.
   */
  private stuckStep(device: RegisteredDevice, rules: DeviceRules, { rule, slot }: Entry<StuckRule>, sample: Sample): void {
    const { value, ts } = sample;
    const run = slot.run;
    if (run === undefined || Math.max(run.max, value) - Math.min(run.min, value) > rule.tolerance) {
      slot.run = { start: ts, min: value, max: value, count: 1 };
      if (run === undefined || isQuiet(this.alerts.get(slot.key))) return;
      // The reading moved: the sensor is alive.
      this.apply(device, rules, rule, slot, ts, { active: false, value, condition: NO_CONDITION }, () => ({}), (language) => ({
        after: describeDuration(rule.after, language),
        unchanged: describeDuration(ts - run.start, language),
      }));
      return;
    }
    if (value < run.min) run.min = value;
    if (value > run.max) run.max = value;
    run.count += 1;
    const unchangedMs = ts - run.start;
    if (unchangedMs < rule.after || run.count < rule.min_samples) return;
    this.apply(
      device,
      rules,
      rule,
      slot,
      ts,
      { active: true, grade: rule.grade, value, condition: NO_CONDITION },
      () => ({}),
      (language) => ({ after: describeDuration(rule.after, language), unchanged: describeDuration(unchangedMs, language) }),
    );
  }

  private compositeStep(device: RegisteredDevice, rules: DeviceRules, rule: CompositeRule, ts: number, slot = this.slot(device.id, rule.id)): void {
    const track = this.track(device.id);
    const active = compositeActive(rule, track.inputs);
    if (!active && isQuiet(this.alerts.get(slot.key))) return;
    // The first metric condition's latest value, found without building the metric list per sample.
    const condition = rule.conditions.find((c) => 'metric' in c);
    const first = condition && 'metric' in condition ? condition.metric : undefined;
    const value = first !== undefined ? (track.metrics.get(first)?.value ?? NaN) : active ? 1 : 0;
    this.apply(device, rules, rule, slot, ts, { active, ...(active && { grade: rule.grade }), value, condition: { window: [] } }, () => ({}));
  }

  /**
   * No-data rules, on `tick` and when data comes back. Silence is measured on the engine clock
   * against when data last arrived, so a backfill of old samples is not silence; the alert's
   * event time is the last sample's time plus `after`. `treat_as` says what silence means:
   * `alert` raises this rule and puts the device's open alerts on the silent metric into no-data;
   * `keep_state` raises this rule and leaves the others alone; `ok` raises nothing and lets the
   * others resolve, for devices that are expected to go quiet.
   */
  private nodataCheck(device: RegisteredDevice, rules: DeviceRules, rule: NoDataRule): void {
    const seen = this.track(device.id).metrics.get(rule.metric);
    if (!seen) return;
    // An offline status (last will or a clean goodbye) starts the silence when it came first.
    const offline = rule.metric === 'any' && device.status?.state === 'offline' && device.status.ts >= seen.ts;
    const silentFor = this.clock - (offline ? Math.min(seen.arrival, device.status!.ts) : seen.arrival);
    const silent = silentFor > rule.after;
    const id = key(device.id, rule.id);
    const current = this.alerts.get(id);
    const open = current !== undefined && current.record.state !== 'normal' && current.record.state !== 'resolved';
    if (silent === open) return;
    const ts = silent ? Math.max(seen.ts + rule.after, current?.record.lastEvalAt ?? Number.NEGATIVE_INFINITY) : Math.max(seen.ts, current?.record.lastEvalAt ?? Number.NEGATIVE_INFINITY);
    this.counters.evaluations += 1;
    const silenceText = (language: 'zh' | 'en') => ({ silence: describeDuration(Math.max(silentFor, rule.after), language), after: describeDuration(rule.after, language) });
    if (rule.treat_as !== 'ok') {
      this.apply(device, rules, rule, this.slot(device.id, rule.id), ts, { active: silent, ...(silent && { grade: rule.grade }), value: Math.round(silentFor / 60_000), condition: { window: [] } }, () => ({}), silenceText);
    }
    if (!silent || rule.treat_as === 'keep_state') return;
    // The other open alerts of what went silent.
    for (const other of this.alerts.values()) {
      if (other.deviceId !== device.id || other.ruleId === rule.id) continue;
      if (other.record.state === 'normal' || other.record.state === 'resolved' || other.record.state === 'nodata') continue;
      const otherRule = [...rules.byMetric.values()].flat().find((e) => e.rule.id === other.ruleId)?.rule ?? rules.composites.find((r) => r.id === other.ruleId);
      if (!otherRule || (rule.metric !== 'any' && ruleMetric(otherRule) !== rule.metric)) continue;
      const condition: ConditionResult = rule.treat_as === 'alert' ? { nodata: true } : { active: false };
      this.applyResult(device, rules, otherRule, this.slot(device.id, otherRule.id), ts, condition, other.condition, () => other.message);
    }
  }

  /**
   * A rule that throws is put in the lifecycle's error state (a notifying transition), once per
   * failure, instead of taking the other rules of the batch down with it.
   */
  private ruleFailed(device: RegisteredDevice, rules: DeviceRules, rule: Rule, ts: number, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const id = key(device.id, rule.id);
    const current = this.alerts.get(id);
    if (current?.record.state === 'error' && current.record.lastError === message) return;
    this.options.logger.error({ err: error, device: device.id, rule: rule.id }, 'rule evaluation failed');
    try {
      this.applyResult(device, rules, rule, this.slot(device.id, rule.id), ts, { error: message }, current?.condition ?? NO_CONDITION, () => ({
        zh: `${device.id} 规则 ${rule.id} 无法评估：${message}`,
        en: `${device.id} rule ${rule.id} could not be evaluated: ${message}`,
      }));
    } catch (again) {
      this.options.logger.error({ err: again, device: device.id, rule: rule.id }, 'rule error could not be recorded');
    }
  }

  /** Runs the lifecycle for one evaluation of a rule's condition. */
  private apply(
    device: RegisteredDevice,
    rules: DeviceRules,
    rule: Rule,
    slot: Slot,
    ts: number,
    outcome: Outcome,
    vars: (grade: Grade | undefined) => Readonly<Record<string, string>>,
    perLanguage?: (language: 'zh' | 'en') => Readonly<Record<string, string>>,
  ): void {
    const condition: ConditionResult =
      outcome.active && outcome.grade ? { active: true, grade: outcome.grade, value: outcome.value } : { active: outcome.active, value: outcome.value };
    this.applyResult(device, rules, rule, slot, ts, condition, outcome.condition, (grade) =>
      renderAlertMessage(
        device,
        this.options.registry.getSite(device.site),
        { id: rule.id, metric: ruleMetric(rule) ?? '', message: rule.message },
        outcome.value,
        grade,
        vars(grade),
        perLanguage,
      ),
      outcome.keepMessage,
    );
  }

  /** Runs the lifecycle and keeps, persists and announces the result. */
  private applyResult(
    device: RegisteredDevice,
    rules: DeviceRules,
    rule: Rule,
    slot: Slot,
    ts: number,
    input: ConditionResult,
    condition: Condition,
    render: (grade: Grade | undefined) => MessageTemplate,
    keepMessage = false,
  ): void {
    const id = slot.key;
    const current = this.alerts.get(id);
    if ('active' in input && !input.active && isQuiet(current)) {
      // The common case: a quiet rule stays quiet. Nothing to run through the lifecycle, and
      // nothing to keep unless its N-of-M window or spike count moved.
      const previous = current?.condition ?? slot.quiet;
      if (previous && previous.window === condition.window && previous.spikes === condition.spikes) return;
      if (!current) slot.quiet = condition;
      else {
        this.alerts.set(id, { ...current, condition });
        this.lazy.add(id);
      }
      return;
    }
    const result = evaluate(current?.record ?? newAlertRecord(), { ts, condition: input }, ruleTiming(rule));
    if (result.ignored) return;
    if (rule.kind === 'anomaly' && result.transitions.some((t) => t.kind === 'cancelled')) {
      // A deviation that did not persist: a spike, recorded but never alerted.
      this.counters.spikes += 1;
      condition = { ...condition, spikes: (condition.spikes ?? 0) + 1, lastSpikeAt: ts };
      this.options.logger.debug({ device: device.id, rule: rule.id, ts }, 'anomaly spike recorded (did not persist)');
    }
    if (!current && result.record.state === 'normal') {
      // Nothing to persist yet, but the N-of-M window and spike count carry on.
      slot.quiet = condition;
      return;
    }
    slot.quiet = undefined;
    const now = (this.options.now ?? Date.now)();
    const fresh = current !== undefined && result.transitions.length === 0 && (keepMessage || now - current.updatedAt < RENDER_INTERVAL_MS);
    const message = fresh ? current.message : render(result.record.grade ?? ('grade' in input ? input.grade : undefined));
    const notifying = result.transitions.some((t) => t.notify);
    let silencedBy = current?.silencedBy;
    if (notifying) silencedBy = this.options.silences?.activeFor({ siteId: device.site, deviceId: device.id, ruleId: rule.id }, ts)?.id;
    const alert: EngineAlert = {
      deviceId: device.id,
      ruleId: rule.id,
      pack: rules.pack,
      record: result.record,
      condition,
      message,
      updatedAt: fresh ? current.updatedAt : now,
      ...(silencedBy !== undefined && { silencedBy }),
    };
    this.alerts.set(id, alert);
    // A new value or time alone is saved with the next save; a transition or a new message at once.
    if (fresh) this.lazy.add(id);
    else this.dirty.add(id);
    if (result.transitions.length > 0) {
      for (const t of result.transitions) {
        if (!t.notify) continue;
        const fields = { device: device.id, rule: rule.id, from: t.from, to: t.to, kind: t.kind, grade: t.grade, message: message.en };
        if (silencedBy !== undefined) this.options.logger.info({ ...fields, silence: silencedBy }, 'alert transition held by a silence');
        else this.options.logger.info(fields, 'alert transition');
      }
      for (const listener of this.listeners) listener(alert, result.transitions);
    }
  }

  private scheduleSave(): void {
    this.saving = this.saving.then(async () => {
      if (this.dirty.size === 0 && this.lazy.size === 0) return;
      const ids = [...new Set([...this.dirty, ...this.lazy])];
      this.dirty.clear();
      this.lazy.clear();
      this.lastSaveAt = (this.options.now ?? Date.now)();
      const batch = ids.map((id) => this.alerts.get(id)).filter((a): a is EngineAlert => a !== undefined);
      try {
        await this.options.repository.save(
          batch.map((a) => ({
            deviceId: a.deviceId,
            ruleId: a.ruleId,
            pack: a.pack,
            state: a.record.state,
            ...(a.record.grade && { grade: a.record.grade }),
            ...(a.record.lastValue !== undefined && { lastValue: a.record.lastValue }),
            record: serialiseAlert(a.record),
            condition: JSON.stringify(a.silencedBy !== undefined ? { ...a.condition, silencedBy: a.silencedBy } : a.condition),
            messageZh: a.message.zh,
            messageEn: a.message.en,
            updatedAt: a.updatedAt,
          })),
        );
      } catch (error) {
        for (const id of ids) this.dirty.add(id);
        this.options.logger.error({ err: error }, 'could not save alerts; will retry with the next change');
      }
    });
  }
}
