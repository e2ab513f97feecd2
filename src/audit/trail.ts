import type { Logger } from 'pino';
import type { AuditEntry, AuditFilter, AuditStore, StoredAuditEntry } from '../kernel/ports/audit-store.js';

/** Lost entries logged one by one per minute; the rest are counted in one line. */
const LOST_LOGGED_PER_MINUTE = 100;

/** The default of `audit.retention`: a little over a year, so a yearly review finds last year whole. */
export const DEFAULT_AUDIT_RETENTION_MS = 400 * 86_400_000;

export interface AuditTrailOptions {
  readonly logger: Logger;
  readonly now?: () => number;
  /** Entries older than this are deleted (`audit.retention`). */
  readonly retentionMs?: number;
  /** How often old entries are pruned. Default hourly. */
  readonly pruneEveryMs?: number;
  /** Longest an entry waits in memory before it is written. Default 1 s. */
  readonly flushEveryMs?: number;
  /** Entries written per statement batch; a fuller buffer is written at once. Default 200. */
  readonly batchSize?: number;
  /** Most entries held while the store cannot be written; beyond it the oldest are dropped and counted lost. Default 10,000. */
  readonly maxPending?: number;
}

export interface AuditCounters {
  /** Entries handed to the trail. */
  readonly recorded: number;
  /** Entries stored. */
  readonly written: number;
  /** Entries dropped because they could not be stored (buffer full while the store failed, or still failing at stop). */
  readonly lost: number;
  /** Writes of a batch that failed (retried). */
  readonly writeErrors: number;
  /** Entries waiting to be written. */
  readonly pending: number;
}

/**
 * The audit trail as the API records into it: `record` only queues the entry, so a request is
 * never slowed or failed by it. Queued entries are written in batches (at most a second later, or
 * at once when a batch is full); a failed write keeps its entries for the next attempt, and only
 * when the queue is full while the store keeps failing are the oldest dropped — each logged and
 * counted in `/metrics`. Old entries are pruned by age.
 */
export class AuditTrail {
  private pending: AuditEntry[] = [];
  private writing: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private recorded = 0;
  private written = 0;
  private lost = 0;
  private writeErrors = 0;
  private lostMinute = -1;
  private lostLogged = 0;
  private lostUnlogged = 0;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly flushEveryMs: number;
  private readonly batchSize: number;
  private readonly maxPending: number;
  private readonly pruneEveryMs: number;

  constructor(
    private readonly store: AuditStore,
    private readonly options: AuditTrailOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? DEFAULT_AUDIT_RETENTION_MS;
    this.flushEveryMs = options.flushEveryMs ?? 1_000;
    this.batchSize = options.batchSize ?? 200;
    this.maxPending = options.maxPending ?? 10_000;
    this.pruneEveryMs = options.pruneEveryMs ?? 3_600_000;
  }

  /** Starts pruning (once now, then periodically). */
  start(): void {
    const prune = () => void this.prune().catch((err: unknown) => this.options.logger.error({ err }, 'pruning the audit trail failed'));
    prune();
    this.pruneTimer = setInterval(prune, this.pruneEveryMs);
    this.pruneTimer.unref();
  }

  /** Queues an entry; never throws, never waits. */
  record(entry: AuditEntry): void {
    this.recorded++;
    if (this.stopped) {
      this.drop([entry], 'the audit trail is stopped');
      return;
    }
    this.pending.push(entry);
    if (this.pending.length > this.maxPending) this.drop(this.pending.splice(0, this.pending.length - this.maxPending), 'the audit queue is full while the store cannot be written');
    if (this.pending.length >= this.batchSize) this.kick();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.kick();
      }, this.flushEveryMs);
      this.flushTimer.unref();
    }
  }

  /** Writes what is queued now; resolves when it is stored or, failing, kept for the next attempt. */
  async flush(): Promise<void> {
    for (;;) {
      // A write in flight may hold entries queued before this call; wait for it, then write the rest.
      if (this.writing) {
        await this.writing;
        continue;
      }
      if (this.pending.length === 0 || !(await this.write())) return;
    }
  }

  /** Entries as stored, newest first; entries queued on this engine are written first, so a change shows at once. */
  async list(filter: AuditFilter): Promise<{ items: StoredAuditEntry[]; total: number }> {
    await this.flush();
    return this.store.list(filter);
  }

  /** Deletes entries past the retention; answers how many. */
  async prune(): Promise<number> {
    const deleted = await this.store.prune(this.now() - this.retentionMs);
    if (deleted) this.options.logger.info({ deleted }, 'audit trail pruned');
    return deleted;
  }

  counters(): AuditCounters {
    return { recorded: this.recorded, written: this.written, lost: this.lost, writeErrors: this.writeErrors, pending: this.pending.length };
  }

  /** Writes what is left (one more attempt) and stops; what still cannot be written is logged as lost. */
  async stop(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.flushTimer = undefined;
    await this.flush();
    this.stopped = true;
    if (this.pending.length) this.drop(this.pending.splice(0), 'the audit store could not be written before shutdown');
    if (this.lostUnlogged > 0) this.options.logger.error({ lost: this.lostUnlogged }, 'audit entries lost without a log line each (too many in a minute)');
    this.lostUnlogged = 0;
  }

  private kick(): void {
    if (this.writing || this.pending.length === 0) return;
    void this.write();
  }

  /** Writes one batch; true when it was stored. */
  private write(): Promise<boolean> {
    const batch = this.pending.splice(0, this.batchSize);
    const done = this.store.insert(batch).then(
      () => {
        this.written += batch.length;
        return true;
      },
      (err: unknown) => {
        this.writeErrors++;
        // Kept for the next attempt, ahead of what came since; the queue's bound still holds.
        this.pending.unshift(...batch);
        if (this.pending.length > this.maxPending) this.drop(this.pending.splice(0, this.pending.length - this.maxPending), 'the audit queue is full while the store cannot be written');
        this.options.logger.error({ err, entries: batch.length, pending: this.pending.length }, 'writing the audit trail failed; retrying');
        return false;
      },
    ).then((ok) => {
      this.writing = undefined;
      if (this.stopped || this.pending.length === 0) return ok;
      // More came in while writing: a full batch goes at once, anything else (or a retry) with the timer.
      if (ok && this.pending.length >= this.batchSize) this.kick();
      else this.retryLater();
      return ok;
    });
    this.writing = done.then(() => undefined);
    return done;
  }

  private retryLater(): void {
    if (this.flushTimer || this.stopped) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.kick();
    }, this.flushEveryMs);
    this.flushTimer.unref();
  }

  private drop(entries: readonly AuditEntry[], reason: string): void {
    if (entries.length === 0) return;
    this.lost += entries.length;
    // Each lost entry is logged (who, what, outcome), so the log keeps what the database did not;
    // beyond LOST_LOGGED_PER_MINUTE in a minute (a flood while the store is down) one line a minute counts the rest.
    const minute = Math.floor(this.now() / 60_000);
    if (minute !== this.lostMinute) {
      if (this.lostUnlogged > 0) this.options.logger.error({ lost: this.lostUnlogged, reason }, 'audit entries lost without a log line each (too many in a minute)');
      this.lostMinute = minute;
      this.lostLogged = 0;
      this.lostUnlogged = 0;
    }
    for (const entry of entries) {
      if (this.lostLogged < LOST_LOGGED_PER_MINUTE) {
        this.lostLogged++;
        this.options.logger.error({ audit: entry, reason }, 'audit entry lost');
      } else this.lostUnlogged++;
    }
  }
}
