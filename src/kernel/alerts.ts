/**
 * Alerts as the rest of the system sees them: the lifecycle's states and transitions (the state
 * machine itself is `rules/lifecycle.ts`), and the change record the engine writes with an alert
 * for the features that act on it (work orders, push) to consume from the outbox.
 */
import type { FaultType } from './catalogue/fault-types.js';
import type { Grade } from './grades.js';
import type { LocalisedText } from './text.js';
import { localDateTime } from './time/zone.js';

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
  /**
   * The alert's message. Its figures are those of the change's own evaluation, except while the
   * condition is not fully met (held by hysteresis, recovering, resolved, no data): then they are
   * those of the last evaluation that met it, and the text says when (`messageAsOf`).
   */
  readonly message: LocalisedText;
  /** The notifying transitions, in order. */
  readonly transitions: readonly AlertTransition[];
  /** Wall time the engine made the change. */
  readonly at: number;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** An instant as alert messages and work-order titles show it: the local minute, "2026-11-30 08:15". */
export function formatLocalMinute(zone: string, at: number): string {
  const t = localDateTime(zone, at);
  return `${t.year}-${pad(t.month)}-${pad(t.day)} ${pad(t.hour)}:${pad(t.minute)}`;
}

/**
 * A message whose figures are those of an earlier moment, saying so: "…（2026-11-30 08:15 时）" /
 * "… (as of 2026-11-30 08:15)". An alert shows it once its condition is no longer fully met, so
 * its message never passes old figures off as the current ones.
 */
export function messageAsOf(message: LocalisedText, zone: string, at: number): LocalisedText {
  const time = formatLocalMinute(zone, at);
  return { zh: `${message.zh}（${time} 时）`, en: `${message.en} (as of ${time})` };
}

/**
 * A message as it read when its alert was raised (or escalated), saying so: "…（触发时 2026-11-30
 * 08:15）" / "… (at raising, 2026-11-30 08:15)". Work orders keep their alert's message this way:
 * the alert's figures move on, the work order's title stays what was seen at that moment.
 */
export function messageAtRaising(message: LocalisedText, zone: string, at: number, moment: 'raised' | 'escalated' = 'raised'): LocalisedText {
  const time = formatLocalMinute(zone, at);
  return moment === 'raised'
    ? { zh: `${message.zh}（触发时 ${time}）`, en: `${message.en} (at raising, ${time})` }
    : { zh: `${message.zh}（升级时 ${time}）`, en: `${message.en} (at escalation, ${time})` };
}
