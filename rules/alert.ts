/**
 * The engine's alerts: one per (device, rule), with the lifecycle record (`lifecycle.ts`), the
 * rule's own evaluation state and the rendered message; how they are stored; and the slot that
 * holds a rule's memory on a device between evaluations.
 */
import type { StoredAlert } from '../src/kernel/ports/alert-store.js';
import type { Grade, MessageTemplate } from '../src/kernel/grades.js';
import { deserialiseAlert, serialiseAlert, type AlertRecord } from './lifecycle.js';

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
  /** Event time of the evaluation whose figures the message shows. */
  readonly messageAt?: number;
  /** The message shows the figures of `messageAt`, no longer the current ones, and says so (`messageAsOf`). */
  readonly messageStamped?: boolean;
  /**
   * The message of the latest evaluation, rendered when it is read (`RuleEngine.list`, a save):
   * an open alert's figures move with every sample, and rendering them per sample would cost
   * more than the evaluation. Never stored.
   */
  readonly render?: () => MessageTemplate;
}

/** What the engine keeps of an alert beside its condition, in the stored condition's JSON. */
interface ConditionExtras {
  silencedBy?: string;
  messageAt?: number;
  messageStamped?: boolean;
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
  /** Number.MAX_SAFE_INTEGER when the band's far side never reaches the threshold. */
  readonly latest: number;
  /** Fitted slope in the metric's unit per day. */
  readonly slopePerDay: number;
  readonly points: number;
}

/** The empty condition of a rule that has said nothing yet. */
export const NO_CONDITION: Condition = Object.freeze({ window: Object.freeze([]) as readonly boolean[] });

/**
 * The engine's memory of one rule on one device, found without building a key per sample: the
 * alert key, the evaluation state of a rule whose alert is still quiet (nothing to persist yet)
 * and the kind's own state (a window, a run of readings), kept across rule reloads.
 */
export interface Slot {
  readonly key: string;
  quiet?: Condition;
  /** Owned by the rule's kind, which checks it is its own (a reloaded rule may change kind). */
  state?: unknown;
}

export const alertKey = (deviceId: string, ruleId: string): string => `${deviceId}\u0000${ruleId}`;

/** No alert, or one at rest: nothing open, pending or flapping, so an inactive condition changes nothing. */
export function isQuiet(alert: EngineAlert | undefined): boolean {
  return alert === undefined || (alert.record.state === 'normal' && !alert.record.flapping);
}

/**
 * The grade hysteresis holds: that of an alert that has fired and not resolved. Before an alert
 * fires, a condition must reach its raise level, so a pending hold (`for`) or N of M is met only
 * by values that are really over the level, not by ones the hysteresis band would have kept.
 */
export function heldGrade(alert: EngineAlert | undefined): Grade | undefined {
  if (alert === undefined) return undefined;
  const { record } = alert;
  return record.firedAt !== undefined && record.resolvedAt === undefined ? alert.condition.grade : undefined;
}

/**
 * An alert as the `AlertStore` keeps it (the silence and when the message's figures are from ride
 * along in the condition column). Its message must be rendered already (`render` is not kept).
 */
export function toStoredAlert(a: EngineAlert): StoredAlert {
  return {
    deviceId: a.deviceId,
    ruleId: a.ruleId,
    pack: a.pack,
    state: a.record.state,
    ...(a.record.grade && { grade: a.record.grade }),
    ...(a.record.lastValue !== undefined && { lastValue: a.record.lastValue }),
    record: serialiseAlert(a.record),
    condition: JSON.stringify(
      a.silencedBy !== undefined || a.messageAt !== undefined
        ? {
            ...a.condition,
            ...(a.silencedBy !== undefined && { silencedBy: a.silencedBy }),
            ...(a.messageAt !== undefined && { messageAt: a.messageAt }),
            ...(a.messageStamped === true && { messageStamped: true }),
          }
        : a.condition,
    ),
    messageZh: a.message.zh,
    messageEn: a.message.en,
    updatedAt: a.updatedAt,
  };
}

/** What `toStoredAlert` wrote; throws on a record it cannot read. */
export function fromStoredAlert(stored: StoredAlert): EngineAlert {
  const condition = JSON.parse(stored.condition) as Condition & ConditionExtras;
  const { silencedBy, messageAt, messageStamped, ...rest } = condition;
  return {
    deviceId: stored.deviceId,
    ruleId: stored.ruleId,
    pack: stored.pack,
    record: deserialiseAlert(stored.record),
    condition: rest,
    message: { zh: stored.messageZh, en: stored.messageEn },
    updatedAt: stored.updatedAt,
    ...(silencedBy !== undefined && { silencedBy }),
    ...(typeof messageAt === 'number' && { messageAt }),
    ...(messageStamped === true && { messageStamped }),
  };
}
