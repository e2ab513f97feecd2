/**
 * Storage port of the notify feature: the notice outbox (written by the work-order store with the
 * change that causes a notice), the deliveries planned from it, their attempts (the delivery log),
 * escalation steps waiting for their time, on-call overrides made through the API, and used
 * acknowledge links. Adapter: SQL (`storage/sql/notification-repository.ts`), SQLite and
 * PostgreSQL; on PostgreSQL every claim is `FOR UPDATE SKIP LOCKED`, so several engine processes
 * on one database hand each row to one of them.
 *
 * Claims are leases: a claim holds until `claimedUntil`; a process that dies with rows claimed
 * gives them up when the lease runs out. Every write that finishes a claimed row succeeds only
 * while this consumer still holds the claim (returns false otherwise, changing nothing).
 */
import type { Grade } from '../kernel/grades.js';
import type { NoticeKind } from '../kernel/notices.js';
import type { NotificationEvent } from './types.js';
import type { OverrideKind } from './roster-schema.js';

/** A notice as claimed from the outbox. */
export interface NoticeEntry {
  readonly id: number;
  readonly workOrderId: number;
  readonly kind: NoticeKind;
  /** The grade of the work order when the notice was recorded. */
  readonly grade: Grade;
  readonly createdAt: number;
  /** Times claimed, this one included. */
  readonly attempts: number;
}

export const DELIVERY_STATUSES = ['pending', 'sent', 'failed', 'cancelled', 'folded'] as const;
/**
 * pending: waiting for its time or a retry · sent · failed: gave up (permanent error, or attempts
 * exhausted) · cancelled: no longer wanted (acknowledged before an escalation went out) ·
 * folded: sent inside a digest (`foldedInto`).
 */
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface NewDelivery {
  /** Stable id of this notification to this recipient on this channel (unique): planning the same thing twice adds nothing. */
  readonly deliveryId: string;
  readonly workOrderId?: number;
  readonly noticeId?: number;
  readonly event: NotificationEvent;
  /** Escalation level (0 = the first call). */
  readonly level: number;
  readonly person: string;
  readonly channel: string;
  readonly dueAt: number;
  /** Waits for the morning digest: sent with the person's other due digest items in one message. */
  readonly digest: boolean;
  /** Its first success starts the acknowledge clock (`notifiedAt`): a call to a responsible person. */
  readonly responsible: boolean;
}

export interface Delivery extends NewDelivery {
  readonly id: number;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly sentAt?: number;
  readonly lastError?: string;
  /** The delivery id of the digest message it went out in. */
  readonly foldedInto?: string;
  readonly claimedUntil?: number;
}

export const ATTEMPT_OUTCOMES = ['sent', 'retry', 'failed', 'held', 'folded', 'cancelled'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** One line of the delivery log. */
export interface DeliveryAttempt {
  readonly id: number;
  /** Row id of the delivery. */
  readonly delivery: number;
  readonly at: number;
  readonly outcome: AttemptOutcome;
  /** HTTP status or SMTP reply code, when there was one. */
  readonly status?: number;
  readonly error?: string;
  readonly durationMs?: number;
  /** Which engine process made it. */
  readonly by: string;
}

/** How a claimed delivery ends this round (with the attempt that goes in the log). */
export interface DeliveryOutcome {
  readonly status: DeliveryStatus;
  /** For `pending`: when to try again. */
  readonly dueAt?: number;
  readonly sentAt?: number;
  readonly lastError?: string;
  readonly foldedInto?: string;
  readonly attempt: { readonly outcome: AttemptOutcome; readonly at: number; readonly status?: number; readonly error?: string; readonly durationMs?: number };
  /** Counts as an attempt to send (raises `attempts`); a hold or a fold does not. */
  readonly counted: boolean;
}

export interface EscalationStep {
  readonly id: number;
  readonly workOrderId: number;
  readonly noticeId: number;
  /** Escalation level this step calls (1 = the second level…). */
  readonly level: number;
  readonly dueAt: number;
  readonly status: 'pending' | 'done' | 'cancelled';
}

export interface StoredOverride {
  readonly id: string;
  readonly rotation: string;
  readonly kind: OverrideKind;
  readonly from: number;
  readonly until: number;
  readonly replaces?: string;
  readonly replacement: string;
  readonly reason?: string;
  readonly createdAt: number;
  readonly createdBy: string;
}

export interface DeliveryFilter {
  readonly workOrderId?: number;
  readonly person?: string;
  readonly channel?: string;
  readonly status?: DeliveryStatus;
  readonly from?: number;
  readonly to?: number;
}

export interface NotifyDepth {
  readonly notices: number;
  readonly pending: number;
  /** Pending deliveries that failed at least once. */
  readonly retrying: number;
  readonly steps: number;
  /** Due time of the oldest pending delivery that is due. */
  readonly oldestDueAt?: number;
}

export interface NotificationStore {
  /** Claims up to `limit` notices not done and not claimed by another consumer, oldest first. */
  claimNotices(limit: number): Promise<NoticeEntry[]>;
  /**
   * Plans a claimed notice in one transaction: adds the deliveries (a delivery id recorded already
   * is skipped) and the escalation steps, and marks the notice done. False (nothing written) when
   * this consumer no longer holds the claim.
   */
  planNotice(
    noticeId: number,
    deliveries: readonly NewDelivery[],
    steps: ReadonlyArray<{ readonly level: number; readonly dueAt: number }>,
    options?: {
      /**
       * A new call (the fault escalated, the work order reopened) replaces the chain of earlier
       * notices: the work order's pending escalation steps of earlier notices (smaller ids: an older notice
       * planned late never cancels a newer chain) are marked cancelled in the same transaction.
       */
      readonly supersede?: boolean;
    },
  ): Promise<boolean>;
  /** Adds deliveries outside a plan (a person's next channel after a permanent failure); a delivery id recorded already is skipped. Returns how many were added. */
  addDeliveries(deliveries: readonly NewDelivery[]): Promise<number>;
  /** Gives a claimed notice back, not to be claimed again before `retryAt`. */
  failNotice(noticeId: number, error: string, retryAt: number): Promise<boolean>;

  /** Claims up to `limit` escalation steps that are due (`dueAt <= now`) and pending. */
  claimSteps(now: number, limit: number): Promise<EscalationStep[]>;
  /**
   * Calls the next level, or does not, atomically with respect to an acknowledgement: in one
   * transaction that locks the work order's row, when the work order is still unacknowledged
   * (status `new` or `notified`) adds the deliveries and the next step (a repeat), and marks the
   * step done (`expanded`); otherwise marks it cancelled (`cancelled`). An acknowledgement
   * committed before wins; one committed after finds the step done. `lost`: the claim ran out.
   */
  expandStep(stepId: number, deliveries: readonly NewDelivery[], next?: { readonly level: number; readonly dueAt: number }): Promise<'expanded' | 'cancelled' | 'lost'>;
  /** Defers a claimed step (a silence holds it) to `dueAt`. */
  deferStep(stepId: number, dueAt: number): Promise<boolean>;

  /** Claims up to `limit` pending deliveries that are due, oldest due first. */
  claimDeliveries(now: number, limit: number): Promise<Delivery[]>;
  /** Ends this round of a claimed delivery and logs the attempt; false (nothing written) when the claim was lost. */
  settle(id: number, outcome: DeliveryOutcome): Promise<boolean>;
  /** Whether the work order is still unacknowledged (status new or notified), read now. */
  unacknowledged(workOrderId: number): Promise<boolean>;
  /** Messages this channel sent (status sent, or digests) since `since`, by every engine: its rate-limit window. */
  sentSince(channel: string, since: number): Promise<number>;
  /** People and channels a work order's messages reached (sent or folded), for recovery and resolution notices. */
  reached(workOrderId: number): Promise<Array<{ readonly person: string; readonly channel: string }>>;

  get(id: number): Promise<Delivery | undefined>;
  list(filter: DeliveryFilter, page: { readonly limit: number; readonly offset: number }): Promise<{ items: Delivery[]; total: number }>;
  /** The log of these deliveries (row ids), oldest first. */
  attempts(deliveries: readonly number[]): Promise<DeliveryAttempt[]>;
  depth(now: number): Promise<NotifyDepth>;

  overrides(): Promise<StoredOverride[]>;
  /** Adds an override; throws when the id is taken. */
  addOverride(override: StoredOverride): Promise<void>;
  removeOverride(id: string): Promise<boolean>;

  /** Records a link's use; true the first time, false when it was used before. */
  useLink(linkId: string, workOrderId: number, person: string, at: number): Promise<boolean>;
  /** When a link was used, if it was (the confirmation page says so instead of offering the button). */
  linkUse(linkId: string): Promise<{ readonly at: number; readonly person: string } | undefined>;

  /** Deletes finished notices, deliveries and their attempts older than `before`; returns how many deliveries. */
  purge(before: number): Promise<number>;
}
