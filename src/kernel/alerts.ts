/**
 * Alerts as the rest of the system sees them: the lifecycle's states and transitions (the state
 * machine itself is `rules/lifecycle.ts`), and the change record the engine writes with an alert
 * for the features that act on it (work orders, push) to consume from the outbox.
 */
import type { FaultType } from './catalogue/fault-types.js';
import type { Grade } from './grades.js';
import type { LocalisedText } from './text.js';

export const ALERT_STATES = ['normal', 'pending', 'firing', 'recovering', 'resolved', 'nodata', 'error'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export const TRANSITION_KINDS = [
  'pending',
  'cancelled',
  'fired',
  'escalated',
  'deescalated',
  'recovering',
  'relapsed',
  'resolved',
  'cleared',
  'nodata',
  'error',
  'restored',
  'flapping_started',
  'flapping_ended',
] as const;
export type TransitionKind = (typeof TRANSITION_KINDS)[number];

export interface AlertTransition {
  readonly from: AlertState;
  readonly to: AlertState;
  readonly grade: Grade | undefined;
  readonly ts: number;
  readonly kind: TransitionKind;
  /** False for internal steps and for everything but the flapping markers while flapping. */
  readonly notify: boolean;
}

/**
 * One notifying change of an alert, as the engine writes it to the outbox with the alert itself.
 * It carries everything a consumer (work orders, push) needs, so none of them reads the rules.
 */
export interface AlertChange {
  /**
   * Names this change, made once by whoever makes it (the engine, reconciliation): written twice
   * (a save retried after its commit's reply was lost) it is still one change. Optional for
   * changes stored before it existed.
   */
  readonly id?: string;
  /** `${deviceId}/${ruleId}`: the fault identity a work order is kept under. */
  readonly identity: string;
  readonly deviceId: string;
  readonly siteId: string;
  readonly ruleId: string;
  readonly pack: string;
  /** The rule's kind (threshold, trend, …): a trend with a forecast opens a planned work order. */
  readonly ruleKind: string;
  readonly faultType: FaultType;
  /** The alert's state and grade after the change. */
  readonly state: AlertState;
  readonly grade?: Grade;
  readonly value?: number;
  /** Event time the condition became active, when it is. */
  readonly activeAt?: number;
  readonly forecast?: { readonly crossingAt: number; readonly earliest: number; readonly latest: number };
  /** The silence (maintenance window) that held the change, if any: recorded, nobody sent out. */
  readonly silencedBy?: string;
  readonly message: LocalisedText;
  /** The notifying transitions, in order. */
  readonly transitions: readonly AlertTransition[];
  /** Wall time the engine made the change. */
  readonly at: number;
}
