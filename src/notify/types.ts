/**
 * The vocabulary of pushes: what the notify feature knows of a work order (`WorkOrderFacts`, read
 * through the `WorkOrderDesk` port the app wires to the work orders), who is told
 * (`Recipient`), what one message carries (`Notification`) and the one interface every channel
 * implements (`Channel`).
 */
import type { Grade } from '../kernel/grades.js';
import type { NoticeKind } from '../kernel/notices.js';
import type { LocalisedText } from '../kernel/text.js';

export const CHANNEL_TYPES = ['wecom', 'dingtalk', 'webhook', 'email', 'sms'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** A response-time clock still running, as shown in a message: its deadline in the site's local time. */
export interface ClockDeadline {
  readonly name: string;
  readonly label: LocalisedText;
  readonly dueAt: number;
}

/** What a message says of a work order, read when the message is sent (so it is current). */
export interface WorkOrderFacts {
  readonly id: number;
  readonly number: string;
  readonly status: string;
  readonly kind: 'corrective' | 'planned';
  readonly grade: Grade;
  readonly siteId: string;
  readonly siteName: string;
  /** IANA zone of the site: deadlines and times in messages are local to it. */
  readonly timeZone: string;
  readonly deviceId: string;
  /** e.g. "MR · Siemens MAGNETOM Skyra" */
  readonly deviceLabel: string;
  readonly location?: { readonly department?: string; readonly floor?: string; readonly room?: string };
  readonly title: string;
  readonly phenomenon: string;
  readonly ruleId?: string;
  /** The value with its unit as the alert last saw it, e.g. "3.0 %" (absent for a manual work order). */
  readonly value?: string;
  /** The forecast in words, e.g. 液氦预计约 9 天后降至 50% / helium reaches 50 % in ≈ 9 days. */
  readonly forecast?: LocalisedText;
  readonly faultAt: number;
  readonly reportedAt: number;
  readonly notifiedAt?: number;
  readonly acknowledgedAt?: number;
  readonly acknowledgedBy?: string;
  readonly resolvedAt?: number;
  readonly resolution?: string;
  readonly deadlines: readonly ClockDeadline[];
}

/**
 * The work orders as the notify feature sees them. Adapter: the app, over the work-order service.
 */
export interface WorkOrderDesk {
  facts(workOrderId: number): Promise<WorkOrderFacts | undefined>;
  /**
   * The tender's notify clock: the first successful delivery to a responsible person. Moves a
   * `new` work order to `notified` (actor `by`, the channel in the note); does nothing otherwise.
   */
  markNotified(workOrderId: number, at: number, by: string, channel: string): Promise<void>;
  /**
   * Acknowledges as `person` from a message (channel `link` in the timeline); `already` when it
   * was acknowledged before (by anyone), `not_allowed` when its state does not allow it.
   */
  acknowledge(workOrderId: number, person: string, personName: string, channel: string): Promise<'acknowledged' | 'already' | 'not_allowed' | 'not_found'>;
}

/** A person as a channel addresses them. */
export interface Recipient {
  /** The person's id in `notify.people`. */
  readonly id: string;
  readonly name: string;
  readonly phone?: string;
  readonly email?: string;
  /** How the channel addresses the person (`notify.people.<id>.contacts.<channel>`), e.g. a WeCom user id to mention. */
  readonly handle?: string;
}

/** What a notification is about. */
export type NotificationEvent = NoticeKind | 'digest' | 'test';

/** One work order in a message, with the recipient's own links. */
export interface NotificationItem {
  readonly workOrder: WorkOrderFacts;
  /** The recipient's signed one-tap acknowledge link (absent once acknowledged, or for an informing message). */
  readonly ackUrl?: string;
  readonly workOrderUrl: string;
}

/** One message to one recipient on one channel. */
export interface Notification {
  readonly event: NotificationEvent;
  /** Stable id of this notification to this recipient: the same on every retry and after a crash (`X-Guardian-Delivery`). */
  readonly deliveryId: string;
  readonly recipient: Recipient;
  /** Escalation level: 0 the first call, 1 the next level, … */
  readonly level: number;
  /** One item for a notice; several for a digest (the morning digest, or what a rate limit folded). */
  readonly items: readonly NotificationItem[];
  /** When it was made (epoch ms). */
  readonly createdAt: number;
  /** zh-CN: Chinese first, English second; en: English only. */
  readonly language: 'zh-CN' | 'en';
}

/** What one attempt to send gave. */
export type SendResult =
  | { readonly ok: true; readonly status?: number; readonly detail?: string }
  | {
      readonly ok: false;
      /** Worth trying again (5xx, timeout, 429, a refused connection); false: permanent (a 4xx, a bad address). */
      readonly retryable: boolean;
      /** From the receiver's Retry-After, or the channel's own throttle window. */
      readonly retryAfterMs?: number;
      readonly status?: number;
      readonly error: string;
    };

/** A push channel: one file per type under `channels/`, all behind this interface. */
export interface Channel {
  readonly id: string;
  readonly type: ChannelType;
  /** Messages a minute the receiver takes (WeCom and DingTalk robots: 20); the excess is folded into a digest. */
  readonly perMinute?: number;
  /** Whether the channel can reach this person (an e-mail channel needs an address, SMS a phone). */
  canReach(recipient: Recipient): boolean;
  send(notification: Notification, signal?: AbortSignal): Promise<SendResult>;
  close?(): Promise<void>;
}
