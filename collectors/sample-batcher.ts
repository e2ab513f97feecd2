import type { Logger } from 'pino';
import type { Sample, TelemetryStore } from '../src/storage/telemetry-store.js';
import type { IngestMetrics } from './ingest-metrics.js';

export interface SampleBatcherOptions {
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  /** Above this many buffered values, `waitForCapacity()` holds the caller (back-pressure). */
  readonly maxBuffered: number;
  readonly logger: Logger;
  readonly metrics?: IngestMetrics;
  /** Longest a failed write waits before it is tried again. */
  readonly maxRetryDelayMs?: number;
}

export type StoredListener = (samples: readonly Sample[], storedAt: number) => void;

/**
 * Groups accepted samples into batches for the telemetry store: a batch is written when it is
 * full or when the flush interval passes. A failed write keeps its samples and is retried with
 * exponential back-off; while the buffer is over its bound, producers wait.
 */
export class SampleBatcher {
  private queue: Sample[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private retryDelayMs = 0;
  /** After a failed write, no new attempt before this time (back-off). */
  private nextAttemptAt = 0;
  private capacityWaiters: Array<() => void> = [];
  private readonly listeners: StoredListener[] = [];
  private closed = false;

  constructor(
    private readonly store: TelemetryStore,
    private readonly options: SampleBatcherOptions,
  ) {
    this.timer = setInterval(() => void this.drain(), options.flushIntervalMs);
    this.timer.unref();
  }

  get buffered(): number {
    return this.queue.length - this.head;
  }

  /** Called after each successful write, with the samples now durable in the store. */
  onStored(listener: StoredListener): void {
    this.listeners.push(listener);
  }

  add(samples: readonly Sample[]): void {
    if (this.closed) throw new Error('sample batcher is closed');
    for (const s of samples) this.queue.push(s);
    this.options.metrics?.buffered.set(this.buffered);
    if (this.buffered >= this.options.batchSize && !this.writing) void this.drain();
  }

  hasCapacity(): boolean {
    return this.buffered < this.options.maxBuffered;
  }

  /** Resolves once the buffer is below its bound. */
  waitForCapacity(): Promise<void> {
    if (this.hasCapacity()) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** Writes everything buffered now; rejects if the store fails. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    while (this.buffered > 0) await this.writeOne();
  }

  /**
   * Stops the timer and writes what is buffered, retrying for up to `timeoutMs`. Returns how many
   * values could not be written.
   */
  async close(timeoutMs = 10_000): Promise<number> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.writing) await this.writing;
    while (this.buffered > 0 && Date.now() < deadline) {
      try {
        await this.writeOne();
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
      }
    }
    const lost = this.buffered;
    if (lost > 0) this.options.logger.error({ lost }, 'telemetry store unavailable at shutdown; buffered values not written');
    this.releaseWaiters();
    return lost;
  }

  private drain(): Promise<void> {
    if (this.writing || this.buffered === 0 || Date.now() < this.nextAttemptAt) return this.writing ?? Promise.resolve();
    this.writing = (async () => {
      try {
        while (this.buffered > 0) {
          // Below a full batch, only the timer writes: it keeps batches large under load.
          await this.writeOne();
          if (this.buffered < this.options.batchSize) break;
        }
      } catch {
        // writeOne logged it and set the back-off; the timer tries again.
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }

  private async writeOne(): Promise<void> {
    const end = Math.min(this.queue.length, this.head + this.options.batchSize);
    const batch = this.queue.slice(this.head, end);
    const started = performance.now();
    try {
      await this.store.write(batch);
    } catch (error) {
      this.options.metrics?.writeErrors.inc();
      const maxDelay = this.options.maxRetryDelayMs ?? 10_000;
      this.retryDelayMs = Math.min(maxDelay, this.retryDelayMs === 0 ? 100 : this.retryDelayMs * 2);
      this.nextAttemptAt = Date.now() + this.retryDelayMs;
      this.options.logger.warn({ err: error, batch: batch.length, buffered: this.buffered, retryInMs: this.retryDelayMs }, 'telemetry store write failed; will retry');
      throw error;
    }
    this.retryDelayMs = 0;
    this.nextAttemptAt = 0;
    this.options.metrics?.writeSeconds.observe((performance.now() - started) / 1000);
    this.head = end;
    // Compact occasionally rather than shifting the array on every batch.
    if (this.head > 50_000 || this.head === this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.options.metrics?.buffered.set(this.buffered);
    const storedAt = Date.now();
    for (const listener of this.listeners) {
      try {
        listener(batch, storedAt);
      } catch (error) {
        this.options.logger.error({ err: error }, 'stored-samples listener failed');
      }
    }
    if (this.hasCapacity()) this.releaseWaiters();
  }

  private releaseWaiters(): void {
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const w of waiters) w();
  }
}
