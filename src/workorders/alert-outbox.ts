/**
 * The outbox of alert changes as the work orders drain it: the rule engine writes each change in
 * the transaction that saves its alert (`AlertStore.save`), and the consumer
 * (`alert-outbox-consumer.ts`) claims, handles and marks them. Adapter: SQL
 * (`storage/sql/alert-outbox-repository.ts`).
 */
import type { AlertChange } from '../kernel/alerts.js';

/** One change waiting in the outbox, as claimed. */
export interface OutboxEntry {
  readonly id: number;
  readonly change: AlertChange;
  /** Times it has been claimed, this one included: the retry back-off grows with it. */
  readonly attempts: number;
  /** Made by reconciliation for a firing alert whose change was lost, rather than by the engine. */
  readonly reconciled: boolean;
  readonly createdAt: number;
  /** The claim holds until then: after it, another consumer may claim the change. */
  readonly claimedUntil: number;
}

/** A change whose stored form cannot be read (written by a newer or broken release). */
export interface UnreadableEntry {
  readonly id: number;
  readonly unreadable: string;
  readonly claimedUntil: number;
}

/** What is waiting, for metrics. */
export interface OutboxDepth {
  /** Changes not yet consumed (claimed ones included). */
  readonly pending: number;
  /** Of those, the ones that failed at least once and wait for a retry. */
  readonly failing: number;
  /** Creation time of the oldest one. */
  readonly oldestAt?: number;
}

export interface AlertOutbox {
  /**
   * Claims, for a while (the lease), the oldest unconsumed change of up to `limit` identities
   * whose oldest change is due and not claimed by another consumer, so changes of one identity
   * are handed out one at a time, in order, and never to two consumers at once. An unreadable
   * change is returned with the reason instead.
   */
  claim(limit: number): Promise<Array<OutboxEntry | UnreadableEntry>>;
  /**
   * Marks changes consumed, those of them this consumer still holds (claimed by it, the claim not
   * run out); returns the ids it marked. One whose claim ran out is left for whoever claims it next.
   */
  complete(ids: readonly number[]): Promise<number[]>;
  /**
   * Gives a claimed change back with the error, not to be handed out again before `retryAt`, if
   * this consumer still holds it; false when it did not (the claim ran out), and nothing changed.
   */
  fail(id: number, error: string, retryAt: number): Promise<boolean>;
  /**
   * Alerts that are firing and have no unconsumed change, as their last recorded change brought
   * up to the alert's current grade, value and message.
   */
  firingWithoutPending(): Promise<AlertChange[]>;
  /**
   * Adds a change made by reconciliation, unless the alert stopped firing or got a change of its
   * own in the meantime; true when it was added.
   */
  enqueueReconciled(change: AlertChange): Promise<boolean>;
  depth(): Promise<OutboxDepth>;
  /** Deletes changes consumed before `before`; returns how many. */
  purge(before: number): Promise<number>;
}
