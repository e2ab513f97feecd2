import type { Modality } from '../../src/kernel/catalogue/metrics.js';
import type { DeviceModel, DeviceState, MetricValues } from '../models/device-model.js';

export type ScenarioModality = Modality | 'any';

export interface GroundTruth {
  readonly scenario: string;
  readonly onsetAt: number;
  /**
   * First instant at which the noise-free plant meets `criticalCondition`; null when the scenario
   * never becomes critical (healthy, sensor faults).
   */
  readonly criticalAt: number | null;
  readonly criticalCondition: string;
  /** Other instants a test or an evaluation can check (compressor trip, end of a dropout, …). */
  readonly milestones: Readonly<Record<string, number>>;
  /** The metric a sensor fault acts on. */
  readonly metric?: string;
}

/** A discrete event as carried on `guardian/{site}/{device}/event`. */
export interface SimEvent {
  readonly ts: number;
  readonly code: string;
  readonly message?: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface ScenarioOptions {
  /** Target metric of a sensor fault (default: helium level on MR, gantry temperature on CT). */
  readonly metric?: string;
  /** Several targets, for dropouts. */
  readonly metrics?: readonly string[];
  /** Length of a dropout. */
  readonly durationMs?: number;
  /** Mean spikes per day. */
  readonly ratePerDay?: number;
}

export interface ScenarioContext {
  /** Device seed (fleet seed mixed with the device id). */
  readonly seed: number;
  readonly deviceId: string;
  readonly model: DeviceModel;
  readonly onsetAt: number;
  readonly options: ScenarioOptions;
}

export interface ScenarioInstance {
  readonly groundTruth: GroundTruth;
  /**
   * Turns the healthy reading at `t` (counters over (since, t]) into the faulty one. `values` is a
   * fresh object the instance may change in place; a metric it deletes is missing from the message.
   */
  apply(t: number, since: number, values: MetricValues): MetricValues;
  /** Discrete events in (from, to], oldest first. */
  events(from: number, to: number): SimEvent[];
  /** Overrides the device state (e.g. no scanning after a quench). */
  state?(t: number, healthy: DeviceState): DeviceState;
}

export interface Scenario {
  readonly name: string;
  readonly modality: ScenarioModality;
  readonly description: { readonly zh: string; readonly en: string };
  create(context: ScenarioContext): ScenarioInstance;
}

export function noEvents(): SimEvent[] {
  return [];
}

export function eventsIn(events: readonly SimEvent[], from: number, to: number): SimEvent[] {
  return events.filter((e) => e.ts > from && e.ts <= to);
}
