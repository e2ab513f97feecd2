import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { messageAsOf, type AlertChange, type AlertTransition } from '../src/kernel/alerts.js';
import { faultTypeOfMetric } from '../src/kernel/catalogue/fault-types.js';
import type { DeviceEvent, RegisteredDevice } from '../src/kernel/device.js';
import type { Grade, MessageTemplate } from '../src/kernel/grades.js';
import type { AlertStore } from '../src/kernel/ports/alert-store.js';
import type { DeviceDirectory } from '../src/kernel/ports/device-directory.js';
import type { SilenceLookup } from '../src/kernel/ports/silence-lookup.js';
import type { Sample, TelemetryStore } from '../src/kernel/ports/telemetry-store.js';
import { DEFAULT_TIME_ZONE } from '../src/kernel/time/zone.js';
import { alertKey, fromStoredAlert, isQuiet, NO_CONDITION, type Condition, type EngineAlert, type Slot } from './alert.js';
import { HeldSamples } from './held.js';
import { pluginOf, RULE_KIND_PLUGINS } from './kinds/index.js';
import type { KindHost, KindTable, Outcome, SeenMetric, Target } from './kinds/kind.js';
import { evaluate, newAlertRecord, type ConditionResult, type RuleTiming } from './lifecycle.js';
import { renderAlertMessage, type FillPlaceholders } from './messages.js';
import type { Rule } from './pack-schema.js';
import type { RuleSet } from './rule-set.js';
import { AlertSaves } from './saves.js';

export type { Condition, EngineAlert, Forecast } from './alert.js';
export { renderMessage } from './messages.js';

export interface RuleEngineOptions {
  readonly rules: RuleSet;
  readonly registry: DeviceDirectory;
  /** Alerts and, in the same transaction, the changes of their notifying transitions (the outbox). */
  readonly repository: AlertStore;
  readonly logger: Logger;
  /** Wall clock, for `updatedAt` and the changes' time only; rules run on event time. */
  readonly now?: () => number;
  readonly silences?: SilenceLookup;
  /**
   * The reorder tolerance (event time, per device). A device whose samples arrive in order — none
   * older than the newest it had already sent — has them evaluated at once. A sample that arrives
   * older than that newest one, by no more than the tolerance, shows that the device reorders: it
   * is evaluated late itself (counted), and from then on the device's samples are held this long
   * and evaluated in timestamp order, until it has been in order for `REORDER_CALM_MS` of its
   * event time. A sample older than the tolerance is late either way. 0: never held.
   */
  readonly reorderMs?: number;
  /** The rule kinds' plugins (default: `RULE_KIND_PLUGINS`). */
  readonly kinds?: KindTable;
}

export interface EngineStats {
  /** Rule evaluations (one rule on one sample, event or tick). */
  readonly evaluations: number;
  /** Samples older than what their device had already been evaluated on: windows take them, thresholds do not. */
  readonly lateSamples: number;
  /** Times a device not holding its samples sent one out of order within the tolerance, and began holding them. */
  readonly reorderHolds: number;
  /** Devices whose samples are held for the reorder tolerance now. */
  readonly holdingDevices: number;
  /** Anomaly deviations that did not persist long enough to alert. */
  readonly spikes: number;
  /**
   * Time spent in the engine's calls (samples, events, clock), ms: the calls are synchronous on
   * the event loop, so this is the engine's share of the process's JavaScript time, GC it causes
   * included. The saves run in the background and are not counted.
   */
  readonly busyMs: number;
}

type TransitionListener = (alert: EngineAlert, transitions: readonly AlertTransition[]) => void;

/** An alert whose value alone changed is saved at least this often (wall time). */
const LAZY_SAVE_MS = 60_000;

/**
 * A device that reordered samples within the tolerance holds its samples until it has sent this
 * much event time in order since the last one; then they are evaluated at once again.
 */
export const REORDER_CALM_MS = 10 * 60_000;

/** Flapping: more than this many state changes within the window holds notifications. */
const FLAP: RuleTiming['flap'] = { windowMs: 3_600_000, maxTransitions: 6 };

/** The rules in force for one device, indexed by what drives them. */
interface DeviceRules {
  readonly generation: number;
  readonly model: string;
  readonly pack: string;
  /** By metric: rules whose step reads the sample (`value` stage). */
  readonly values: ReadonlyMap<string, readonly Target[]>;
  /** By metric: rules that read the device's latest values and rules' states (`state` stage). */
  readonly states: ReadonlyMap<string, readonly Target[]>;
  readonly byCode: ReadonlyMap<string, readonly Target[]>;
  readonly ticking: readonly Target[];
  readonly afterData: readonly Target[];
  readonly afterState: readonly Target[];
  /** Every rule in force, in pack order. */
  readonly byId: ReadonlyMap<string, Target>;
  /** No rule of any kind is in force: samples need no tracking at all. */
  readonly none: boolean;
}

/** The newest sample of a metric, the engine clock when it arrived, and the batch that brought it. */
interface MetricSeen extends SeenMetric {
  ts: number;
  value: number;
  arrival: number;
  batch: number;
  /**
   * The rules that read this metric, as of `rules` (the device's rules when they were looked up):
   * kept here so that a sample costs one map lookup for both what was seen and what to evaluate.
   */
  rules: DeviceRules | undefined;
  values: readonly Target[] | undefined;
  states: readonly Target[] | undefined;
}

/** A metric seen, its rules not looked up yet (every field set: one object shape). */
function metricSeen(ts: number, value: number, arrival: number, batch: number): MetricSeen {
  return { ts, value, arrival, batch, rules: undefined, values: undefined, states: undefined };
}

/** What the engine knows of a device between samples. */
interface DeviceTrack {
  readonly deviceId: string;
  /** Per metric ('any' for the device as a whole): what was last seen of it. */
  readonly metrics: Map<string, MetricSeen>;
  /** Number of the batch being evaluated, to tell which metrics it reported. */
  batch: number;
  /** Samples waiting to be evaluated, in timestamp order: this call's, and those held for the reorder tolerance. */
  readonly held: HeldSamples;
  /** The newest sample time seen from the device. */
  watermark: number;
  /** The watermark before the current call of `onSamples`: what a sample must not be older than to be in order. */
  before: number;
  /** The newest sample time evaluated. */
  evaluatedTo: number;
  /** Whether the device's samples are held for the reorder tolerance (it reordered lately). */
  holding: boolean;
  /** While holding: the watermark at which the device has been in order long enough to stop. */
  holdUntil: number;
  /** What composite conditions read of this device (made once, not per evaluation). */
  readonly inputs: { latest(metric: string): number | undefined; firing(ruleId: string): boolean };
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Evaluates the rules in force on samples as they become durable, in event time, and keeps one
 * alert per (device, rule). Each rule kind is a plugin (`kinds/`: threshold, rate, trend, nodata,
 * anomaly, composite, event_count, stuck — `RULE_KINDS`) that turns samples, device events and
 * the clock into conditions; the engine routes those inputs to them (after the reorder buffer),
 * runs every condition through the one lifecycle (`lifecycle.ts`), renders the message, asks the
 * silences, saves alerts with the changes of their notifying transitions (`saves.ts`) and tells
 * the listeners. A rule step that throws puts that rule on that device in the error state; a
 * listener that throws is logged; no entry point throws.
 */
export class RuleEngine {
  private readonly alerts = new Map<string, EngineAlert>();
  /** Per (device, rule): quiet evaluation state and the kind's state; kept across rule reloads. */
  private readonly slots = new Map<string, Slot>();
  private readonly devices = new Map<string, DeviceTrack>();
  private readonly deviceRules = new Map<string, DeviceRules>();
  /** Devices a batch of samples touched (reused from batch to batch). */
  private readonly touched = new Set<DeviceTrack>();
  private readonly listeners: TransitionListener[] = [];
  private readonly saves: AlertSaves;
  private readonly kinds: KindTable;
  private readonly now: () => number;
  /** The engine's notion of now: the latest `tick`. Event time in replays, wall time live. */
  private clock = Number.NEGATIVE_INFINITY;
  private readonly counters = { evaluations: 0, lateSamples: 0, reorderHolds: 0, holdingDevices: 0, spikes: 0, busyMs: 0 };
  /** What the kinds' steps see of the engine. */
  private readonly host: KindHost;

  constructor(private readonly options: RuleEngineOptions) {
    this.kinds = options.kinds ?? RULE_KIND_PLUGINS;
    this.now = options.now ?? Date.now;
    this.saves = new AlertSaves({ store: options.repository, logger: options.logger, now: this.now, alert: (k) => this.rendered(k), lazyMs: LAZY_SAVE_MS });
    this.host = {
      clock: () => this.clock,
      counters: this.counters,
      logger: options.logger,
      alert: (slot) => this.alerts.get(slot.key),
      seen: (deviceId, metric) => this.devices.get(deviceId)?.metrics.get(metric),
      inputs: (deviceId) => this.track(deviceId).inputs,
      apply: (device, target, ts, outcome, fill) => this.apply(device, target, ts, outcome, fill),
      applyCondition: (device, target, ts, input, condition, render) => this.applyResult(device, target, ts, input, condition, render),
      alerts: () => this.alerts.values(),
      target: (device, ruleId) => this.rulesFor(device).byId.get(ruleId),
    };
  }

  /** Restores the alerts of the last run, so a restart neither fires again nor forgets. */
  async warm(): Promise<void> {
    for (const stored of await this.options.repository.all()) {
      try {
        this.alerts.set(alertKey(stored.deviceId, stored.ruleId), fromStoredAlert(stored));
      } catch (error) {
        this.options.logger.warn({ err: error, device: stored.deviceId, rule: stored.ruleId }, 'stored alert unreadable; starting it afresh');
      }
    }
  }

  /**
   * Refills the windows the rule kinds keep (trend, rate, anomaly, event count) from the store,
   * and the latest values and last-seen times composite and no-data rules read, so a restart
   * resumes with the history it had instead of an empty window. Call before samples flow.
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
      // What the store had was evaluated before the restart: a sample older than it is out of order.
      track.watermark = Math.max(track.watermark, track.evaluatedTo);
      const newest = Math.max(...latest.map((l) => l.ts));
      track.metrics.set('any', metricSeen(newest, NaN, now, 0));
      const latestTs = new Map(latest.map((l) => [l.metric, l.ts]));
      for (const target of rules.byId.values()) {
        const window = this.kindCall(device, target, () => target.kind.warm?.(target));
        const to = window && latestTs.get(window.metric);
        if (window === undefined || to === undefined) continue;
        const series = this.kindCall(device, target, () => window.series());
        if (series === undefined) continue;
        const points = await store.aggregate({ deviceId: device.id, metric: window.metric, from: to - window.windowMs, to: to + 1, step: series.bucketMs });
        for (const p of points) if (p.count > 0) series.merge(p.ts, { count: p.count, sum: p.mean * p.count, min: p.min, max: p.max });
        windows += 1;
      }
    }
    return { devices: devices.length, windows };
  }

  /** A kind's call outside its steps (warming): a throw is logged, and the rule fails in its first step instead. */
  private kindCall<T>(device: RegisteredDevice, target: Target, call: () => T): T | undefined {
    try {
      return call();
    } catch (error) {
      this.options.logger.error({ err: error, device: device.id, rule: target.rule.id }, 'rule window could not be made; not warmed');
      return undefined;
    }
  }

  /**
   * Called with each change of an alert and its transitions, in process (logs, live views). The
   * changes others act on (work orders, push) are saved with the alert, not handed over here.
   */
  onTransition(listener: TransitionListener): void {
    this.listeners.push(listener);
  }

  /**
   * Every alert as held, its message possibly not yet rendered from its latest evaluation: for
   * readers of state and grade only (metrics, risk summaries), which need no message.
   */
  states(): EngineAlert[] {
    return [...this.alerts.values()];
  }

  /** Every alert, its message rendered from its latest evaluation. */
  list(): EngineAlert[] {
    const out: EngineAlert[] = [];
    for (const [key, alert] of this.alerts) out.push(alert.render === undefined ? alert : this.rendered(key, alert));
    return out;
  }

  /**
   * The alert under `key` with its message rendered from its latest evaluation (kept so): the
   * figures of an open alert's message are those of its value, never of an earlier moment. A
   * render that throws leaves the message as it was, logged.
   */
  private rendered(key: string): EngineAlert | undefined;
  private rendered(key: string, alert: EngineAlert): EngineAlert;
  private rendered(key: string, alert = this.alerts.get(key)): EngineAlert | undefined {
    if (alert?.render === undefined) return alert;
    const { render, ...rest } = alert;
    let message = alert.message;
    try {
      message = render();
    } catch (error) {
      this.options.logger.error({ err: error, device: alert.deviceId, rule: alert.ruleId }, 'alert message could not be rendered; the last one stays');
    }
    const done: EngineAlert = { ...rest, message };
    this.alerts.set(key, done);
    return done;
  }

  /** The time zone of a device's site, for the times messages name. */
  private zoneOf(device: RegisteredDevice): string {
    return this.options.registry.getSite(device.site)?.timezone ?? DEFAULT_TIME_ZONE;
  }

  stats(): EngineStats {
    return { ...this.counters };
  }

  /** Evaluates the rules of each device on its samples, oldest first. */
  onSamples(samples: readonly Sample[]): void {
    this.guarded('samples', () => this.samplesNow(samples));
  }

  /** Device events (alarm codes): feeds the rules that count a code. */
  onEvents(events: readonly DeviceEvent[]): void {
    this.guarded('events', () => this.eventsNow(events));
  }

  /**
   * Moves the engine's clock to `now` (wall time live, event time in a replay): releases held
   * samples and runs the rules that watch the clock (no-data). Called from a timer: never throws.
   */
  tick(now: number): void {
    this.guarded('tick', () => this.tickNow(now));
  }

  /** Waits for the saves the engine has scheduled itself (unlike `flush`, forces none). */
  async settled(): Promise<void> {
    await this.saves.settled();
  }

  /** Writes pending alert changes. */
  async flush(): Promise<void> {
    this.saves.schedule();
    await this.saves.settled();
  }

  /**
   * Runs one of the engine's entry points, adding its time to `busyMs`. A fault outside the rules'
   * own steps (which are isolated per rule) is logged, not thrown at the caller: the batcher, the
   * event store and the tick's timer.
   */
  private guarded(entry: string, work: () => void): void {
    const started = performance.now();
    try {
      work();
    } catch (error) {
      this.options.logger.error({ err: error, entry }, 'rule engine call failed');
    } finally {
      this.counters.busyMs += performance.now() - started;
    }
  }

  /**
   * Each device's samples go through its buffer, which sorts them (arrival order among equal
   * times): a call's samples are evaluated in timestamp order whatever order they came in. A
   * device in order has its buffer emptied at the end of the call; one holding keeps what is not
   * yet `reorderMs` behind its watermark, for out-of-order samples to join in their place.
   */
  private samplesNow(samples: readonly Sample[]): void {
    const reorderMs = Math.max(0, this.options.reorderMs ?? 0);
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
      if (track !== lastTrack && !touched.has(track)) {
        track.before = track.watermark;
        touched.add(track);
      }
      lastId = s.deviceId;
      lastTrack = track;
      // Older than what the device sent before this call (equal times are not): it reorders. Within
      // the tolerance, holding puts such samples in their place from now on; beyond it, holding
      // would not have helped.
      const behind = track.before - s.ts;
      if (behind > 0 && behind <= reorderMs) this.reordered(track);
      track.held.add(s.metric, s.ts, s.value);
      if (s.ts > track.watermark) track.watermark = s.ts;
    }
    for (const track of touched) {
      if (track.holding && track.watermark >= track.holdUntil) this.stopHolding(track);
      // Holding, what is not newer than the samples already evaluated goes at once too: waiting
      // cannot put it in its place any more (such samples are late, or of an evaluated time).
      this.releaseDevice(track, track.holding ? Math.max(track.watermark - reorderMs, track.evaluatedTo) : track.watermark);
    }
    touched.clear();
    if (this.saves.urgent) this.saves.schedule();
  }

  /** A device sent a sample out of order within the tolerance: it holds its samples, for `REORDER_CALM_MS` from its newest. */
  private reordered(track: DeviceTrack): void {
    if (!track.holding) {
      track.holding = true;
      this.counters.reorderHolds += 1;
      this.counters.holdingDevices += 1;
      this.options.logger.debug({ device: track.deviceId }, 'samples arrived out of order; holding them for the reorder tolerance');
    }
    track.holdUntil = track.before + REORDER_CALM_MS;
  }

  private stopHolding(track: DeviceTrack): void {
    track.holding = false;
    this.counters.holdingDevices -= 1;
  }

  private eventsNow(events: readonly DeviceEvent[]): void {
    const host = this.host;
    for (const event of [...events].sort((a, b) => a.ts - b.ts)) {
      const device = this.options.registry.get(event.deviceId);
      if (!device) continue;
      const targets = this.rulesFor(device).byCode.get(event.code);
      if (targets === undefined) continue;
      for (const target of targets) {
        try {
          target.kind.onEvent!(host, device, target, event.ts, 1);
        } catch (error) {
          this.ruleFailed(device, target, event.ts, error);
        }
      }
    }
    if (this.saves.urgent) this.saves.schedule();
  }

  private tickNow(now: number): void {
    if (now > this.clock) this.clock = now;
    const reorderMs = this.options.reorderMs ?? 0;
    const host = this.host;
    for (const device of this.options.registry.list()) {
      try {
        const track = this.devices.get(device.id);
        // Only a holding device keeps samples between calls: those the tolerance behind the clock
        // go, so the last samples of a device that falls silent are not held until it speaks again.
        if (reorderMs > 0 && track && track.held.length > 0) this.release(device, track, this.clock - reorderMs);
        for (const target of this.rulesFor(device).ticking) {
          try {
            target.kind.onTick!(host, device, target);
          } catch (error) {
            this.ruleFailed(device, target, this.clock, error);
          }
        }
      } catch (error) {
        this.options.logger.error({ err: error, device: device.id }, 'engine clock could not move for a device');
      }
    }
    if (this.saves.due) this.saves.schedule();
  }

  /** Releases a device's held samples up to `upTo`, or drops them when it has no rules (any more). */
  private releaseDevice(track: DeviceTrack, upTo: number): void {
    try {
      const device = this.options.registry.get(track.deviceId);
      if (!device || this.rulesFor(device).none) {
        track.held.clear();
        if (track.holding) this.stopHolding(track);
      } else this.release(device, track, upTo);
    } catch (error) {
      this.options.logger.error({ err: error, device: track.deviceId }, 'samples of a device could not be evaluated');
    }
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
    try {
      this.evaluateDevice(device, due, (i) => {
        cursor.metric = held.metricAt(i);
        cursor.ts = held.tsAt(i);
        cursor.value = held.valueAt(i);
        return cursor;
      });
    } finally {
      held.drop(due);
    }
  }

  private track(deviceId: string): DeviceTrack {
    let track = this.devices.get(deviceId);
    if (!track) {
      const metrics = new Map<string, MetricSeen>();
      const inputs = {
        latest: (metric: string) => metrics.get(metric)?.value,
        firing: (ruleId: string) => this.alerts.get(alertKey(deviceId, ruleId))?.record.state === 'firing',
      };
      const none = Number.NEGATIVE_INFINITY;
      track = { deviceId, metrics, batch: 0, held: new HeldSamples(), watermark: none, before: none, evaluatedTo: none, holding: false, holdUntil: none, inputs };
      this.devices.set(deviceId, track);
    }
    return track;
  }

  private rulesFor(device: RegisteredDevice): DeviceRules {
    const generation = this.options.rules.generation;
    const cached = this.deviceRules.get(device.id);
    if (cached && cached.generation === generation && cached.model === device.model) return cached;
    const rules = this.options.rules.forDevice(device);
    const pack = this.options.rules.list().find((p) => p.modality === device.modality)?.pack ?? '';
    const values = new Map<string, Target[]>();
    const states = new Map<string, Target[]>();
    const byCode = new Map<string, Target[]>();
    const ticking: Target[] = [];
    const afterData: Target[] = [];
    const afterState: Target[] = [];
    const byId = new Map<string, Target>();
    const push = (map: Map<string, Target[]>, k: string, v: Target) => {
      const list = map.get(k);
      if (list) list.push(v);
      else map.set(k, [v]);
    };
    for (const rule of rules) {
      let target: Target;
      try {
        target = this.target(device, rule, pack);
      } catch (error) {
        // Packs are validated when loaded; a rule that still cannot be compiled is left out, loudly.
        this.options.logger.error({ err: error, device: device.id, rule: rule.id }, 'rule could not be compiled; not in force on this device');
        continue;
      }
      byId.set(rule.id, target);
      const { inputs } = target;
      for (const metric of inputs.metrics) push(inputs.stage === 'state' ? states : values, metric, target);
      for (const code of inputs.codes) push(byCode, code, target);
      if (inputs.tick) ticking.push(target);
      if (inputs.afterBatch === 'data') afterData.push(target);
      else if (inputs.afterBatch === 'state') afterState.push(target);
    }
    const entry: DeviceRules = { generation, model: device.model, pack, values, states, byCode, ticking, afterData, afterState, byId, none: rules.length === 0 };
    this.deviceRules.set(device.id, entry);
    return entry;
  }

  /** A rule compiled by its kind for one device. */
  private target(device: RegisteredDevice, rule: Rule, pack: string): Target {
    const kind = pluginOf(this.kinds, rule);
    const inputs = kind.inputs(rule);
    const missing =
      (inputs.metrics.length > 0 && !kind.onSample) || (inputs.codes.length > 0 && !kind.onEvent) || (inputs.tick && !kind.onTick) || (inputs.afterBatch !== undefined && !kind.afterBatch);
    if (missing) throw new Error(`kind ${rule.kind} asks for an input it has no step for`);
    return {
      rule,
      kind,
      slot: this.slot(device.id, rule.id),
      plan: kind.plan(rule),
      pack,
      metric: kind.metric(rule),
      timing: { forMs: kind.forMs(rule), clearForMs: rule.clear_for ?? 0, flap: FLAP },
      inputs,
    };
  }

  /** Evaluates `count` samples of one device, in time order, read through `at` (which may reuse one object). */
  private evaluateDevice(device: RegisteredDevice, count: number, at: (i: number) => Sample): void {
    const rules = this.rulesFor(device);
    const track = this.track(device.id);
    const host = this.host;
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
        seen.values = rules.values.get(sample.metric);
        seen.states = rules.states.get(sample.metric);
      }

      const values = seen.values;
      if (values !== undefined) {
        this.counters.evaluations += values.length;
        for (const target of values) {
          try {
            target.kind.onSample!(host, device, target, sample, late);
          } catch (error) {
            this.ruleFailed(device, target, sample.ts, error);
          }
        }
      }
      // What reads latest values and rule states runs after the rules of the sample itself, and
      // not on a late sample: it changed no latest value.
      const states = seen.states;
      if (!late && states !== undefined) {
        this.counters.evaluations += states.length;
        for (const target of states) {
          try {
            target.kind.onSample!(host, device, target, sample, late);
          } catch (error) {
            this.ruleFailed(device, target, sample.ts, error);
          }
        }
      }
    }
    if (newest === Number.NEGATIVE_INFINITY) return;
    this.markSeen(track, 'any', newest, NaN, batch);
    // The batch is in: rules on what reported (data back), then those on the states it left.
    for (const target of rules.afterData) this.afterBatch(device, target, batch, track.evaluatedTo);
    for (const target of rules.afterState) this.afterBatch(device, target, batch, track.evaluatedTo);
  }

  private afterBatch(device: RegisteredDevice, target: Target, batch: number, evaluatedTo: number): void {
    try {
      target.kind.afterBatch!(this.host, device, target, batch, evaluatedTo);
    } catch (error) {
      this.ruleFailed(device, target, evaluatedTo, error);
    }
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
    const id = alertKey(deviceId, ruleId);
    let slot = this.slots.get(id);
    if (!slot) this.slots.set(id, (slot = { key: id }));
    return slot;
  }

  /**
   * A rule that throws is put in the lifecycle's error state (a notifying transition), once per
   * failure, instead of taking the other rules of the batch down with it.
   */
  private ruleFailed(device: RegisteredDevice, target: Target, ts: number, error: unknown): void {
    const { rule } = target;
    const message = errorText(error);
    const current = this.alerts.get(target.slot.key);
    if (current?.record.state === 'error' && current.record.lastError === message) return;
    this.options.logger.error({ err: error, device: device.id, rule: rule.id }, 'rule evaluation failed');
    try {
      this.applyResult(device, target, ts, { error: message }, current?.condition ?? NO_CONDITION, () => ({
        zh: `${device.id} 规则 ${rule.id} 无法评估：${message}`,
        en: `${device.id} rule ${rule.id} could not be evaluated: ${message}`,
      }));
    } catch (again) {
      this.options.logger.error({ err: again, device: device.id, rule: rule.id }, 'rule error could not be recorded');
    }
  }

  /** Runs the lifecycle for one outcome of a kind's step. */
  private apply<R extends Rule>(device: RegisteredDevice, target: Target<R>, ts: number, outcome: Outcome, fill: FillPlaceholders<R['kind']>): void {
    const condition: ConditionResult =
      outcome.active && outcome.grade ? { active: true, grade: outcome.grade, value: outcome.value } : { active: outcome.active, value: outcome.value };
    this.applyResult(
      device,
      target,
      ts,
      condition,
      outcome.condition,
      (grade) => renderAlertMessage(device, this.options.registry.getSite(device.site), target.rule, target.metric, outcome.value, grade, fill),
      outcome.keepMessage,
    );
  }

  /** Runs the lifecycle and keeps, saves and announces the result. */
  private applyResult(
    device: RegisteredDevice,
    target: Target,
    ts: number,
    input: ConditionResult,
    condition: Condition,
    render: (grade: Grade | undefined) => MessageTemplate,
    keepMessage = false,
  ): void {
    const { slot, rule } = target;
    const id = slot.key;
    const current = this.alerts.get(id);
    if ('active' in input && !input.active && isQuiet(current)) {
      // The common case: a quiet rule stays quiet. Nothing to run through the lifecycle, and
      // nothing to keep unless its condition moved (a kind keeps an unchanged one's window).
      const previous = current?.condition ?? slot.quiet;
      if (previous && previous.window === condition.window) return;
      if (!current) slot.quiet = condition;
      else {
        this.alerts.set(id, { ...current, condition });
        this.saves.later(id);
      }
      return;
    }
    const result = evaluate(current?.record ?? newAlertRecord(), { ts, condition: input }, target.timing);
    if (result.ignored) return;
    const settle = target.kind.settle;
    if (settle !== undefined) condition = settle(this.host, device, target, ts, result.transitions, condition);
    if (!current && result.record.state === 'normal') {
      // Nothing to persist yet, but the N-of-M window and spike count carry on.
      slot.quiet = condition;
      return;
    }
    slot.quiet = undefined;
    const now = this.now();
    const { transitions } = result;
    const grade = result.record.grade ?? ('grade' in input ? input.grade : undefined);
    // The message tells the figures of this evaluation when its condition is fully met (or the
    // rule failed: the error is the message). Otherwise — held by hysteresis, recovering,
    // resolved, no data — it keeps the figures of the last evaluation that met it and says when,
    // rather than reading "3.99 above 4" or passing old figures off as current.
    const met = 'error' in input || ('active' in input && input.active && !keepMessage);
    let message: MessageTemplate;
    let messageAt: number | undefined;
    let messageStamped = false;
    let pending: (() => MessageTemplate) | undefined;
    let stampedNow = false;
    if (current === undefined) {
      message = render(grade);
      messageAt = ts;
    } else if (met) {
      messageAt = ts;
      if (transitions.length > 0) message = render(grade);
      else {
        // Rendered when read or saved: an open alert's figures move with every sample.
        message = current.message;
        pending = () => render(grade);
      }
    } else {
      const shown = this.rendered(id, current);
      messageAt = shown.messageAt ?? shown.record.lastEvalAt ?? ts;
      messageStamped = true;
      if (shown.messageStamped === true) message = shown.message;
      else {
        message = messageAsOf(shown.message, this.zoneOf(device), messageAt);
        stampedNow = true;
      }
    }
    // A new value alone is saved with the next save; a transition or a new text at once.
    const fresh = current !== undefined && transitions.length === 0 && !stampedNow;
    const notifying = transitions.length > 0 ? transitions.filter((t) => t.notify) : transitions;
    let silencedBy = current?.silencedBy;
    if (notifying.length > 0) silencedBy = this.options.silences?.activeFor({ siteId: device.site, deviceId: device.id, ruleId: rule.id }, ts)?.id;
    const alert: EngineAlert = {
      deviceId: device.id,
      ruleId: rule.id,
      pack: target.pack,
      record: result.record,
      condition,
      message,
      updatedAt: now,
      ...(silencedBy !== undefined && { silencedBy }),
      ...(messageAt !== undefined && { messageAt }),
      ...(messageStamped && { messageStamped }),
      ...(pending !== undefined && { render: pending }),
    };
    this.alerts.set(id, alert);
    // Notifying transitions are saved with the change that tells others of them.
    if (fresh) this.saves.later(id);
    else this.saves.now(id, notifying.length > 0 ? alertChange(device, target, alert, notifying, now) : undefined);
    if (transitions.length === 0) return;
    for (const t of notifying) {
      const fields = { device: device.id, rule: rule.id, from: t.from, to: t.to, kind: t.kind, grade: t.grade, message: message.en };
      if (silencedBy !== undefined) this.options.logger.info({ ...fields, silence: silencedBy }, 'alert transition held by a silence');
      else this.options.logger.info(fields, 'alert transition');
    }
    for (const listener of this.listeners) {
      try {
        listener(alert, transitions);
      } catch (error) {
        this.options.logger.error({ err: error, device: device.id, rule: rule.id }, 'alert transition listener failed');
      }
    }
  }
}

/** The change record of an alert's notifying transitions, as the outbox keeps it for work orders and push. */
function alertChange(device: RegisteredDevice, target: Target, alert: EngineAlert, transitions: readonly AlertTransition[], at: number): AlertChange {
  const { rule } = target;
  const { record } = alert;
  const forecast = alert.condition.forecast;
  return {
    id: randomUUID(),
    identity: `${device.id}/${rule.id}`,
    deviceId: device.id,
    siteId: device.site,
    ruleId: rule.id,
    pack: target.pack,
    ruleKind: rule.kind,
    faultType: rule.fault_type ?? faultTypeOfMetric(target.metric),
    state: record.state,
    ...(record.grade !== undefined && { grade: record.grade }),
    ...(record.lastValue !== undefined && { value: record.lastValue }),
    ...(record.activeAt !== undefined && { activeAt: record.activeAt }),
    ...(forecast && { forecast: { crossingAt: forecast.crossingAt, earliest: forecast.earliest, latest: forecast.latest } }),
    ...(alert.silencedBy !== undefined && { silencedBy: alert.silencedBy }),
    message: alert.message,
    transitions,
    at,
  };
}
