import type { Logger } from 'pino';
import type { DeadLetter, DeadLetterStore } from '../src/kernel/ports/dead-letter-store.js';
import type { IngestMetrics } from './ingest-metrics.js';

export interface DeadLetterQueueOptions {
  readonly flushIntervalMs: number;
  /** Dead letters waiting for the database; past this, new ones are counted but not kept. */
  readonly maxPending: number;
  /** Dead letters kept in the database; older ones are pruned. */
  readonly keep: number;
  readonly logger: Logger;
  readonly metrics?: IngestMetrics;
}

/**
 * Writes dead letters in batches so a flood of bad messages costs one insert per interval, not
 * one per message, and cannot slow the good ones. Every rejection is counted in /metrics even
 * when the queue is full; the queue only bounds how many payloads are kept for inspection.
 */
export class DeadLetterQueue {
  private pending: DeadLetter[] = [];
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private sinceLastPrune = 0;

  constructor(
    private readonly repository: DeadLetterStore,
    private readonly options: DeadLetterQueueOptions,
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  add(letter: DeadLetter): void {
    if (this.pending.length >= this.options.maxPending) {
      this.options.metrics?.deadLettersDropped.inc();
      return;
    }
    this.pending.push(letter);
  }

  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.flushing = (async () => {
      try {
        await this.repository.insert(batch);
        this.sinceLastPrune += batch.length;
        if (this.sinceLastPrune >= Math.max(100, this.options.keep / 10)) {
          this.sinceLastPrune = 0;
          await this.repository.prune(this.options.keep);
        }
      } catch (error) {
        this.options.logger.error({ err: error, count: batch.length }, 'could not store dead letters; keeping them for the next attempt');
        this.pending = batch.concat(this.pending).slice(0, this.options.maxPending);
      } finally {
        this.flushing = undefined;
      }
    })();
    await this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
