/**
 * Drains the alert outbox into work orders. The rule engine writes each alert change in the
 * transaction that saves the alert; this consumer claims the changes (the oldest of each fault
 * identity, so one identity's changes are handled one at a time and in order), hands them to the
 * work-order service and marks them consumed. It runs when woken (right after a save, so a fault
 * reaches a work order within a moment) and on a timer (other engine processes' changes, retries).
 * A change that fails stays in the outbox and is retried with a growing back-off; a change handled
 * twice (a crash between handling and marking it) is recorded once, by its delivery key.
 *
 * Reconciliation, at start and on a timer, looks for what the outbox cannot show: a firing alert
 * whose change never made it (or was dropped) and that has no work order. It enqueues a synthetic
 * change for it, which goes the same way as the engine's.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AlertChange } from '../kernel/alerts.js';
import type { AlertOutbox, OutboxDepth, OutboxEntry, UnreadableEntry } from './alert-outbox.js';
import { lastFiredAt, type WorkOrderService } from './service.js';

export interface AlertOutboxSettings {
  /** Changes claimed per round (one per identity). */
  readonly batchSize: number;
  /** Changes of different identities handled at once. */
  readonly concurrency: number;
  /** The timer's period: changes written by other engine processes are picked up at least this often. */
  readonly pollMs: number;
  /** Back-off of a failed change: the first retry after `retryMinMs`, doubling up to `retryMaxMs`. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** How often firing alerts are checked for a missing work order. */
  readonly reconcileMs: number;
  /** Consumed changes are deleted after this. */
  readonly retentionMs: number;
}

export const DEFAULT_ALERT_OUTBOX_SETTINGS: AlertOutboxSettings = {
  batchSize: 100,
  concurrency: 4,
  pollMs: 5_000,
  retryMinMs: 1_000,
  retryMaxMs: 5 * 60_000,
  reconcileMs: 60_000,
  retentionMs: 7 * 24 * 3_600_000,
};

/** Counts since start, for metrics. */
export interface AlertOutboxCounts {
  /** Changes handled and marked consumed. */
  readonly consumed: number;
  /** Failed attempts (each is retried). */
  readonly failed: number;
  /** Synthetic changes enqueued for firing alerts without a work order. */
  readonly reconciled: number;
  /** Stored changes that could not be read, consumed without effect (and logged). */
  readonly unreadable: number;
  /** Drains cut short because the outbox itself could not be read or written (retried). */
  readonly outboxErrors: number;
  /** Claimed changes whose claim ran out before they were handled or marked (claimed again later). */
  readonly expired: number;
}

/**
 * Delivery key of an outbox entry: the timeline entries it records are keyed by it. The change's
 * own id when it has one, so the same change is applied once however many times it was written;
 * the row's id for changes stored before changes had ids.
 */
export const outboxDeliveryKey = (entry: Pick<OutboxEntry, 'id' | 'change'>) => (entry.change.id !== undefined ? `alert-change:${entry.change.id}` : `alert-outbox:${entry.id}`);

export class AlertOutboxConsumer {
  private readonly settings: AlertOutboxSettings;
  private readonly counts = { consumed: 0, failed: 0, reconciled: 0, unreadable: 0, outboxErrors: 0, expired: 0 };
  private stopped = true;
  private running: Promise<void> | undefined;
  private again = false;
  private reconciling: Promise<number> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  /** Consecutive drains that failed (the outbox itself unreachable): the next one waits longer. */
  private drainFailures = 0;
  /** Retry times of changes that failed and are not due yet: the timer wakes for the earliest. */
  private retryTimes: number[] = [];

  constructor(
    private readonly options: {
      readonly outbox: AlertOutbox;
      readonly service: WorkOrderService;
      readonly logger: Logger;
      readonly now?: () => number;
      readonly settings?: Partial<AlertOutboxSettings>;
    },
  ) {
    this.settings = { ...DEFAULT_ALERT_OUTBOX_SETTINGS, ...options.settings };
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Reconciles once, drains what is waiting, and starts the timers. Failures are logged, never thrown. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.reconcile().catch(() => undefined);
    await this.drain();
    this.reconcileTimer = setInterval(() => void this.reconcile().catch(() => undefined), this.settings.reconcileMs);
    this.reconcileTimer.unref();
  }

  /** Stops the timers and waits for the drain and reconciliation in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.reconcileTimer);
    await this.running;
    await this.reconciling?.catch(() => undefined);
  }

  /** Changes were saved: drain now (or again right after the drain in flight). */
  wake(): void {
    if (this.stopped) return;
    void this.drain();
  }

  counters(): AlertOutboxCounts {
    return { ...this.counts };
  }

  depth(): Promise<OutboxDepth> {
    return this.options.outbox.depth();
  }

  /** Handles what is due until nothing is; one drain at a time, a call during one runs it again. */
  drain(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = this.drainLoop().finally(() => {
      this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async drainLoop(): Promise<void> {
    clearTimeout(this.timer);
    let delay = this.settings.pollMs;
    /** Time of the last claim: a retry due by then was handed out by it, if it was not, a later one waits. */
    let claimedAt = Number.NEGATIVE_INFINITY;
    try {
      do {
        this.again = false;
        for (;;) {
          claimedAt = this.now();
          const claimed = await this.options.outbox.claim(this.settings.batchSize);
          if (claimed.length === 0) break;
          await this.handleBatch(claimed);
        }
      } while (this.again);
      this.drainFailures = 0;
    } catch (error) {
      // The outbox itself failed (claim, complete): what was claimed stays ours and is claimed
      // again by the next drain, which handles it again without effect where it was applied.
      this.drainFailures += 1;
      this.counts.outboxErrors += 1;
      delay = Math.min(this.settings.pollMs, this.backoff(this.drainFailures));
      this.options.logger.error({ err: error, retryInMs: delay }, 'alert outbox could not be drained; work orders wait for the retry');
    }
    this.retryTimes = this.retryTimes.filter((t) => t > claimedAt);
    if (this.retryTimes.length > 0) delay = Math.min(delay, Math.max(0, Math.min(...this.retryTimes) - this.now()));
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.drain(), delay);
      this.timer.unref();
    }
  }

  private backoff(attempts: number): number {
    return Math.min(this.settings.retryMaxMs, this.settings.retryMinMs * 2 ** Math.min(Math.max(0, attempts - 1), 30));
  }

  /**
   * Handles a claimed batch, `concurrency` entries at a time, and marks consumed what was handled
   * and is still held. An entry whose claim ran out before its turn is left alone: another
   * consumer may hold it now, or it is claimed again by the next round. Waits for every worker
   * (a throwing `fail` does not leave the others running unwatched) before it marks or throws.
   */
  private async handleBatch(entries: ReadonlyArray<OutboxEntry | UnreadableEntry>): Promise<void> {
    const done: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < entries.length) {
        const entry = entries[next++]!;
        if (this.now() > entry.claimedUntil) {
          this.counts.expired += 1;
          this.options.logger.warn({ outboxId: entry.id }, 'alert outbox claim ran out before the change was handled; left to be claimed again');
          continue;
        }
        if ('unreadable' in entry) {
          this.counts.unreadable += 1;
          this.options.logger.error({ outboxId: entry.id, reason: entry.unreadable }, 'alert outbox change unreadable; skipped');
          done.push(entry.id);
          continue;
        }
        if (await this.handle(entry)) done.push(entry.id);
      }
    };
    const results = await Promise.allSettled(Array.from({ length: Math.min(this.settings.concurrency, entries.length) }, worker));
    const marked = await this.options.outbox.complete(done);
    this.counts.consumed += marked.length;
    if (marked.length < done.length) {
      const kept = new Set(marked);
      const lost = done.filter((id) => !kept.has(id));
      this.counts.expired += lost.length;
      this.options.logger.warn({ outboxIds: lost }, 'alert outbox claims ran out while their changes were handled; not marked consumed, whoever holds them now handles them again without effect');
    }
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Hands one change to the service; false (and back to the outbox with a retry time) when it fails. */
  private async handle(entry: OutboxEntry): Promise<boolean> {
    const { change } = entry;
    try {
      await this.options.service.handleChange(change, { key: outboxDeliveryKey(entry), reconciled: entry.reconciled });
      return true;
    } catch (error) {
      this.counts.failed += 1;
      const retryAt = this.now() + this.backoff(entry.attempts);
      this.retryTimes.push(retryAt);
      this.options.logger.error(
        { err: error, outboxId: entry.id, device: change.deviceId, rule: change.ruleId, attempts: entry.attempts, retryAt: new Date(retryAt).toISOString() },
        'alert change could not be applied to its work order; retrying',
      );
      if (!(await this.options.outbox.fail(entry.id, errorText(error), retryAt))) {
        this.counts.expired += 1;
        this.options.logger.warn({ outboxId: entry.id }, 'alert outbox claim ran out before the failure was recorded; left to whoever claims it next');
      }
      return false;
    }
  }

  /**
   * Enqueues a synthetic change for every firing alert with no change waiting that lacks the work
   * order the normal path would have given it (`WorkOrderService.wantsWorkOrder`: grade, silence,
   * open or resolved work order, cooldown); deletes old consumed changes. Returns how many.
   */
  reconcile(): Promise<number> {
    if (this.reconciling) return this.reconciling;
    const run = this.reconcileNow()
      .catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'alert reconciliation failed; trying again at the next one');
        throw error;
      })
      .finally(() => {
        this.reconciling = undefined;
      });
    this.reconciling = run;
    return run;
  }

  private async reconcileNow(): Promise<number> {
    const { outbox, service, logger } = this.options;
    const now = this.now();
    let enqueued = 0;
    for (const alert of await outbox.firingWithoutPending()) {
      if (!(await service.wantsWorkOrder(alert, now))) continue;
      // The transition keeps when the alert last fired: the handling checks it again against a
      // work order closed in the meantime.
      const synthetic: AlertChange = {
        ...alert,
        id: randomUUID(),
        transitions: [{ from: 'pending', to: 'firing', grade: alert.grade, ts: lastFiredAt(alert) ?? alert.activeAt ?? now, kind: 'fired', notify: true }],
        at: now,
      };
      if (!(await outbox.enqueueReconciled(synthetic))) continue;
      enqueued += 1;
      this.counts.reconciled += 1;
      logger.warn({ device: alert.deviceId, rule: alert.ruleId, grade: alert.grade }, 'firing alert without a work order and with no change waiting; reconciled');
    }
    const purged = await outbox.purge(now - this.settings.retentionMs);
    if (purged > 0) logger.debug({ purged }, 'consumed alert changes deleted');
    if (enqueued > 0) this.wake();
    return enqueued;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
