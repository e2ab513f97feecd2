/**
 * The one interface every rule kind implements (`RuleKindPlugin`), and what the engine offers a
 * kind's steps (`KindHost`). A kind compiles a rule into a plan per device, says which inputs
 * drive it (samples of its metrics, device events, the clock, the end of a device's batch), and
 * on each turns what it reads into an `Outcome` — active or not, grade, value, the condition to
 * keep — which it hands to `host.apply`: the one lifecycle (`lifecycle.ts`), message rendering,
 * silences, saving and fan-out are the engine's and the same for every kind.
 *
 * A kind's steps run isolated: one that throws puts that rule on that device in the lifecycle's
 * error state and nothing else. Steps are called per sample, so they allocate nothing while a
 * rule stays quiet and keep nothing of the sample they are given (the engine reuses it).
 */
import type { Logger } from 'pino';
import type { AlertTransition } from '../../src/kernel/alerts.js';
import type { RegisteredDevice } from '../../src/kernel/device.js';
import type { Grade, MessageTemplate } from '../../src/kernel/grades.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import type { Condition, EngineAlert, Slot } from '../alert.js';
import type { CompositeInputs } from '../composite.js';
import type { ConditionResult, RuleTiming } from '../lifecycle.js';
import type { FillPlaceholders } from '../messages.js';
import type { Rule, RuleKind } from '../pack-schema.js';
import type { BucketSeries } from '../windows.js';

/** The rules of one kind. */
export type KindRule<K extends RuleKind> = Extract<Rule, { kind: K }>;

/** What drives a rule: which samples, events and moments make the engine call the kind's steps. */
export interface KindInputs {
  /** Metrics whose samples call `onSample`. */
  readonly metrics: readonly string[];
  /**
   * `value`: the step reads the sample itself and is called for every sample, late ones too (the
   * kind decides what a late sample means to it). `state`: the step reads the device's latest
   * values and other rules' states; it runs after the sample's `value` steps, and on in-order
   * samples only, as a late sample changes no latest value.
   */
  readonly stage: 'value' | 'state';
  /** Device event codes that call `onEvent`. */
  readonly codes: readonly string[];
  /** Whether `onTick` runs whenever the engine's clock moves. */
  readonly tick: boolean;
  /**
   * Whether `afterBatch` runs once a batch of the device's samples has been evaluated: `data`
   * steps first, then `state` steps, which see the states the batch left.
   */
  readonly afterBatch: 'data' | 'state' | undefined;
  /**
   * The rule judges the device's readings, so silence of its metric (or of the whole device) is a
   * gap in what it judges: a no-data rule may move its open alert to no-data.
   */
  readonly readings: boolean;
}

/** Inputs of a rule driven by the samples of its metrics. */
export function sampleInputs(metrics: readonly string[], stage: KindInputs['stage'] = 'value'): KindInputs {
  return { metrics, stage, codes: [], tick: false, afterBatch: undefined, readings: true };
}

/** What one evaluation of a rule said, for the lifecycle and the message. */
export interface Outcome {
  readonly active: boolean;
  readonly grade?: Grade;
  readonly value: number;
  /** The rule's own state to keep with the alert (`Condition`). */
  readonly condition: Condition;
  /**
   * The condition holds without being fully met (a value held by hysteresis): the message keeps
   * the figures of the last evaluation that met it and says when.
   */
  readonly keepMessage?: boolean;
}

/** A rule in force on one device, as the engine keeps it between evaluations. */
export interface Target<R extends Rule = Rule, P = unknown> {
  readonly rule: R;
  readonly kind: RuleKindPlugin<R, P>;
  /** Memory of the rule on the device that survives a reload of the rules (quiet state, the kind's `state`). */
  readonly slot: Slot;
  /** The kind's compiled rule, made when the device's rules are (re)loaded. */
  readonly plan: P;
  readonly pack: string;
  /** `kind.metric(rule)`, made once. */
  readonly metric: string | undefined;
  readonly timing: RuleTiming;
  readonly inputs: KindInputs;
}

/** The newest sample of a metric on a device, as the engine saw it. */
export interface SeenMetric {
  readonly ts: number;
  /** NaN for the device entry (`any`). */
  readonly value: number;
  /** The engine clock when it arrived (a backfill of old samples arrives now). */
  readonly arrival: number;
  /** The device batch that brought it last. */
  readonly batch: number;
}

/** What the engine offers a kind's steps. */
export interface KindHost {
  /** The engine's clock: the latest tick (wall time live, event time in a replay). */
  clock(): number;
  /** The engine's counters, for kinds that count what the engine cannot see (evaluations off samples, anomaly spikes). */
  readonly counters: { evaluations: number; spikes: number };
  readonly logger: Logger;
  /** The rule's alert on the device, if it has one. */
  alert(slot: Slot): EngineAlert | undefined;
  /** What was last seen of a metric (`any`: of the device) on a device. */
  seen(deviceId: string, metric: string): SeenMetric | undefined;
  /** Latest values and rule states of a device, as composite conditions read them. */
  inputs(deviceId: string): CompositeInputs;
  /** Runs the lifecycle on an outcome; the message is rendered with the kind's placeholders (`fill`) when it is due. */
  apply<R extends Rule>(device: RegisteredDevice, target: Target<R>, ts: number, outcome: Outcome, fill: FillPlaceholders<R['kind']>): void;
  /**
   * Runs the lifecycle on a raw condition for another rule's alert, keeping its condition; the
   * message is `render`'s for an error, and otherwise keeps its last figures and says when.
   */
  applyCondition(device: RegisteredDevice, target: Target, ts: number, input: ConditionResult, condition: Condition, render: (grade: Grade | undefined) => MessageTemplate): void;
  /** Every alert the engine holds. */
  alerts(): Iterable<EngineAlert>;
  /** A rule in force on a device, by id. */
  target(device: RegisteredDevice, ruleId: string): Target | undefined;
}

/** A window a kind wants refilled from the telemetry store at start (buckets of its metric). */
export interface WarmWindow {
  readonly metric: string;
  readonly windowMs: number;
  /** The rule's series on the device (made if need be): the store's buckets are merged into it. */
  series(): BucketSeries;
}

/** One rule kind. Hooks a kind does not need are left out; `defineKind` gives every plugin one shape. */
export interface RuleKindPlugin<R extends Rule = Rule, P = unknown> {
  readonly kind: R['kind'];
  /** The metric the rule is about: `{{metric}}` and `{{unit}}` of its messages, the reach of a no-data rule, the fault type of its work orders. */
  metric(rule: R): string | undefined;
  inputs(rule: R): KindInputs;
  /** Compiles the rule for one device (once per load of the rules). */
  plan(rule: R): P;
  /** The pending hold (ms) before an active condition fires. */
  forMs(rule: R): number;
  onSample?(host: KindHost, device: RegisteredDevice, target: Target<R, P>, sample: Sample, late: boolean): void;
  /** `count` events of one of `inputs.codes` at `ts`. */
  onEvent?(host: KindHost, device: RegisteredDevice, target: Target<R, P>, ts: number, count: number): void;
  onTick?(host: KindHost, device: RegisteredDevice, target: Target<R, P>): void;
  /** The device's batch `batch` has been evaluated, up to event time `evaluatedTo`. */
  afterBatch?(host: KindHost, device: RegisteredDevice, target: Target<R, P>, batch: number, evaluatedTo: number): void;
  /** The window to refill from the store at start, if the kind keeps one. */
  warm?(target: Target<R, P>): WarmWindow | undefined;
  /**
   * The lifecycle has moved the rule's alert (or its quiet record): the condition to keep,
   * amended by what the transitions mean to the kind (anomaly: a cancelled deviation is a spike).
   */
  settle?(host: KindHost, device: RegisteredDevice, target: Target<R, P>, ts: number, transitions: readonly AlertTransition[], condition: Condition): Condition;
}

/** The plugin of every kind, keyed by kind: the compiler refuses a table that misses one. */
export type KindTable = { readonly [K in RuleKind]: RuleKindPlugin<KindRule<K>> };

/** What a kind writes: its plugin with the hooks it needs. */
export type KindSpec<R extends Rule, P> = Omit<RuleKindPlugin<R, P>, 'forMs'> & { forMs?(rule: R): number };

/**
 * A kind's plugin in the one object shape every plugin has (absent hooks are undefined), so the
 * engine's calls through it stay monomorphic on the per-sample path.
 */
export function defineKind<R extends Rule, P>(spec: KindSpec<R, P>): RuleKindPlugin<R, P> {
  return {
    kind: spec.kind,
    metric: spec.metric,
    inputs: spec.inputs,
    plan: spec.plan,
    forMs: spec.forMs ?? ((rule: R) => rule.for ?? 0),
    onSample: spec.onSample,
    onEvent: spec.onEvent,
    onTick: spec.onTick,
    afterBatch: spec.afterBatch,
    warm: spec.warm,
    settle: spec.settle,
  };
}
