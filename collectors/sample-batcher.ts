import type { Logger } from 'pino';
import type { Sample, TelemetryStore } from '../src/kernel/ports/telemetry-store.js';
import type { IngestMetrics } from './ingest-metrics.js';
import { SampleQueue, type SampleColumns } from './sample-queue.js';
import type { Spool } from './spool.js';

export interface SampleBatcherOptions {
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  /** Values held in memory. Without a spool, producers wait above it; with one, the excess stays on disk. */
  readonly maxBuffered: number;
  readonly logger: Logger;
  readonly metrics?: IngestMetrics;
  /** Longest a failed write waits before it is tried again. */
  readonly maxRetryDelayMs?: number;
  /** Write-ahead log: accepted samples are on disk before `add` returns. */
  readonly spool?: Spool;
  /**
   * Store writes in flight at once (default 1). More overlaps the network round trips of a
   * remote store (InfluxDB) with ingest; batches may then complete out of order, which the
   * stores' idempotent, timestamp-keyed writes allow. Listeners still get the stored batches in
   * the order the samples were accepted.
   */
  readonly maxConcurrentWrites?: number;
  /**
   * How long samples wait for company before a write to an idle store (default 0: what one turn
   * of the event loop brought goes at once). Longer makes fewer, larger writes under load.
   */
  readonly lingerMs?: number;
}

export type StoredListener = (samples: readonly Sample[], storedAt: number) => void;

interface Run {
  segment: number;
  count: number;
}

/** A batch taken from the queue, with the spool segments its samples came from. */
interface Batch {
  /** Its place in acceptance order: listeners get batches in this order. */
  readonly seq: number;
  readonly samples: SampleColumns;
  readonly runs: Run[];
}

/**
 * Groups accepted samples into batches for the telemetry store: a batch is written when it is
 * full, when the store is idle (no write in flight) and the oldest waiting sample has lingered
 * `lingerMs` — under load the batches grow with the store's round trip — or when the flush
 * interval passes. A failed write keeps its samples and is retried with exponential back-off.
 *
 * With a spool, every sample is appended to disk first. Memory holds the head of the queue; when
 * it is full (the store is down or slow), newer samples stay on disk only ("spilling") and are
 * read back segment by segment as memory frees up, so an outage of any length costs disk, not
 * memory. A spool segment is released once all of its samples are stored.
 */
export class SampleBatcher {
  private readonly queue = new SampleQueue();
  /** Which spool segment the queued samples came from, in queue order. */
  private runs: Run[] = [];
  /** True while some accepted samples are on disk only. */
  private spilling = false;
  /** Segments up to this id have been (or are being) handled through memory. */
  private memoryUpTo = 0;
  private timer: NodeJS.Timeout | undefined;
  /** An idle-store flush is scheduled (cancels it). */
  private idleFlush: (() => void) | undefined;
  /** When the oldest sample now queued arrived (ms). */
  private queuedSince = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightSamples = 0;
  /** Batches whose write failed, sent again before anything newer. */
  private retries: Batch[] = [];
  /** The next batch's place in acceptance order, and the next one the listeners are owed. */
  private nextSeq = 0;
  private nextToTell = 0;
  /** Stored batches waiting for an earlier one before the listeners hear of them. */
  private readonly storedAhead = new Map<number, { samples: SampleColumns; storedAt: number }>();
  private retrySamples = 0;
  private lastFailure: unknown;
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
    // Segments left by an earlier run are replayed through the same path as a spill.
    if (options.spool && options.spool.pendingSegments().length > 0) {
      this.spilling = true;
      options.logger.info({ segments: options.spool.pendingSegments().length, bytes: options.spool.bytes }, 'replaying spooled samples from an earlier run');
    }
    this.timer = setInterval(() => this.pump(true), options.flushIntervalMs);
    this.timer.unref();
    options.metrics?.watchQueue({ buffered: () => this.buffered, spoolBytes: () => options.spool?.bytes ?? 0 });
  }

  /** Values in memory not yet confirmed by the store (queued, being written, or to be retried). */
  get buffered(): number {
    return this.queue.length + this.inFlightSamples + this.retrySamples;
  }

  /** True while the store is behind and some accepted samples wait on disk only. */
  get spilled(): boolean {
    return this.spilling;
  }

  /** Called after each successful write, with the samples now durable in the store. */
  onStored(listener: StoredListener): void {
    this.listeners.push(listener);
  }

  /** Accepts the samples of one message (all of one device). With a spool they are durable on return. */
  add(deviceId: string, samples: readonly Sample[]): void {
    if (this.closed) throw new Error('sample batcher is closed');
    if (samples.length === 0) return;
    const spool = this.options.spool;
    if (!spool) {
      this.enqueue(samples, 0);
    } else {
      const segment = spool.append(deviceId, samples);
      if (!this.spilling) {
        this.enqueue(samples, segment);
        this.memoryUpTo = segment;
        // A slow but working store is waited for (hasCapacity holds the broker back), which
        // costs nothing; spilling is for a store that fails, where waiting could take hours.
        if (this.buffered >= this.options.maxBuffered && this.storeFailing) {
          // Memory is full: from here on new samples stay on disk until the store catches up.
          spool.rotate();
          this.spilling = true;
          this.options.logger.warn({ buffered: this.buffered, spoolBytes: spool.bytes }, 'telemetry store is behind; spilling accepted samples to disk');
        }
      }
    }
    if (this.queue.length >= this.options.batchSize) this.pump(false);
    else if (this.inFlight.size === 0) this.scheduleIdleFlush();
  }

  /** Writes what is queued once it has lingered, if the store has nothing in flight by then. */
  private scheduleIdleFlush(): void {
    if (this.idleFlush || this.closed) return;
    const linger = this.options.lingerMs ?? 0;
    const flush = () => {
      this.idleFlush = undefined;
      if (!this.closed && this.inFlight.size === 0) this.pump(true);
    };
    if (linger <= 0) {
      const immediate = setImmediate(flush);
      this.idleFlush = () => clearImmediate(immediate);
    } else {
      const timer = setTimeout(flush, Math.max(0, this.queuedSince + linger - Date.now()));
      this.idleFlush = () => clearTimeout(timer);
    }
  }

  private get lingered(): boolean {
    return Date.now() - this.queuedSince >= (this.options.lingerMs ?? 0);
  }

  /**
   * False when the caller should wait before accepting more: memory is full while the store
   * works (it will free up), or the spool is full while the store fails.
   */
  hasCapacity(): boolean {
    const spool = this.options.spool;
    if (spool && (this.storeFailing || this.spilling)) return spool.hasCapacity();
    return this.buffered < this.options.maxBuffered;
  }

  /** The last write failed and has not been retried successfully yet. */
  private get storeFailing(): boolean {
    return this.retryDelayMs > 0;
  }

  /** Resolves once there is capacity again. */
  waitForCapacity(): Promise<void> {
    if (this.hasCapacity()) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** Writes everything accepted so far (memory and spill); rejects if the store fails. */
  async flush(): Promise<void> {
    for (;;) {
      this.nextAttemptAt = 0;
      this.lastFailure = undefined;
      this.pump(true);
      if (this.inFlight.size === 0) return;
      while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
      if (this.lastFailure !== undefined) throw this.lastFailure;
    }
  }

  /**
   * Stops the timer and writes what is accepted, retrying for up to `timeoutMs`. Returns how many
   * values are not in the store: with a spool they stay on disk for the next start; without one
   * they are lost.
   */
  async close(timeoutMs = 10_000): Promise<number> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.idleFlush?.();
    this.idleFlush = undefined;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        await this.flush();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
      }
    }
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    const pending = this.buffered;
    const spool = this.options.spool;
    spool?.close();
    if (spool && spool.bytes > 0) {
      this.options.logger.warn({ spoolBytes: spool.bytes }, 'telemetry store unavailable at shutdown; accepted samples stay in the spool and are written at the next start');
    } else if (pending > 0) {
      this.options.logger.error({ lost: pending }, 'telemetry store unavailable at shutdown; buffered values not written');
    }
    this.releaseWaiters();
    return spool ? 0 : pending;
  }

  private enqueue(samples: readonly Sample[], segment: number): void {
    if (this.queue.length === 0) this.queuedSince = Date.now();
    this.queue.push(samples);
    const last = this.runs[this.runs.length - 1];
    if (last && last.segment === segment) last.count += samples.length;
    else this.runs.push({ segment, count: samples.length });
  }

  /**
   * While spilling and memory has room, loads the next disk-only segment. Returns whether there
   * is anything queued to write.
   */
  private refill(): boolean {
    const queued = () => this.queue.length > 0;
    const spool = this.options.spool;
    if (!spool || !this.spilling) return queued();
    if (this.buffered >= this.options.maxBuffered / 2) return queued();
    let next = spool.pendingSegments().find((id) => id > this.memoryUpTo);
    if (next === undefined) {
      // The active segment holds the newest disk-only samples: close it and read it back.
      spool.rotate();
      next = spool.pendingSegments().find((id) => id > this.memoryUpTo);
    }
    if (next === undefined) {
      this.spilling = false;
      this.options.logger.info('spooled samples caught up; back to writing from memory');
      return queued();
    }
    const samples = spool.read(next);
    this.memoryUpTo = next;
    if (samples.length === 0) {
      spool.release(next, 0);
      return this.refill();
    }
    this.enqueue(samples, next);
    return true;
  }

  /**
   * Starts writes while there is room for one more in flight. A partial batch is written only
   * when `partial` (the timer, a flush) or when nothing is in flight and the oldest waiting sample
   * has lingered: under load, the batches fill while the store works.
   */
  private pump(partial: boolean): void {
    const max = this.options.maxConcurrentWrites ?? 1;
    while (this.inFlight.size < max && Date.now() >= this.nextAttemptAt) {
      let batch = this.retries.shift();
      if (batch) {
        this.retrySamples -= batch.samples.length;
      } else {
        const full = this.queue.length >= this.options.batchSize;
        if (!(partial || full || this.spilling || (this.inFlight.size === 0 && this.lingered))) {
          if (this.inFlight.size === 0 && this.queue.length > 0) this.scheduleIdleFlush();
          return;
        }
        if (!this.refill()) return;
        batch = this.takeBatch();
      }
      this.inFlightSamples += batch.samples.length;
      const write = this.send(batch).finally(() => {
        this.inFlight.delete(write);
        if (!this.closed || this.retries.length === 0) this.pump(false);
      });
      this.inFlight.add(write);
    }
  }

  private takeBatch(): Batch {
    const samples = this.queue.take(this.options.batchSize);
    const runs: Run[] = [];
    let left = samples.length;
    while (left > 0 && this.runs.length > 0) {
      const run = this.runs[0]!;
      const n = Math.min(run.count, left);
      runs.push({ segment: run.segment, count: n });
      run.count -= n;
      left -= n;
      if (run.count === 0) this.runs.shift();
    }
    return { seq: this.nextSeq++, samples, runs };
  }

  /**
   * Sample objects only for the write (and again for the listeners after it): kept as objects
   * across the write and its retries, they would outlive the young generation. Made here, not in
   * `send`, so that no suspended frame of `send` keeps them while the write is in flight.
   */
  private startWrite(batch: Batch): Promise<void> {
    return this.store.write(batch.samples.toSamples());
  }

  private async send(batch: Batch): Promise<void> {
    const started = performance.now();
    try {
      await this.startWrite(batch);
    } catch (error) {
      this.inFlightSamples -= batch.samples.length;
      this.retries.push(batch);
      this.retrySamples += batch.samples.length;
      this.lastFailure = error;
      this.options.metrics?.writeErrors.inc();
      const maxDelay = this.options.maxRetryDelayMs ?? 10_000;
      this.retryDelayMs = Math.min(maxDelay, this.retryDelayMs === 0 ? 100 : this.retryDelayMs * 2);
      this.nextAttemptAt = Date.now() + this.retryDelayMs;
      this.options.logger.warn({ err: error, batch: batch.samples.length, buffered: this.buffered, retryInMs: this.retryDelayMs }, 'telemetry store write failed; will retry');
      // With a spool, producers held back by full memory may go on: their samples go to disk.
      if (this.hasCapacity()) this.releaseWaiters();
      return;
    }
    this.inFlightSamples -= batch.samples.length;
    this.retryDelayMs = 0;
    this.options.metrics?.writeSeconds.observe((performance.now() - started) / 1000);
    for (const run of batch.runs) this.options.spool?.release(run.segment, run.count);
    this.storedAhead.set(batch.seq, { samples: batch.samples, storedAt: Date.now() });
    this.tellStored();
    if (this.hasCapacity()) this.releaseWaiters();
  }

  /**
   * Hands stored batches to the listeners in acceptance order: with several writes in flight a
   * later batch may be stored first, and the rule engine would take its device's next samples for
   * a reorder. A batch waits for the ones before it (at most the writes in flight).
   */
  private tellStored(): void {
    for (let next = this.storedAhead.get(this.nextToTell); next; next = this.storedAhead.get(this.nextToTell)) {
      this.storedAhead.delete(this.nextToTell++);
      const stored = this.listeners.length > 0 ? next.samples.toSamples() : [];
      for (const listener of this.listeners) {
        try {
          listener(stored, next.storedAt);
        } catch (error) {
          this.options.logger.error({ err: error }, 'stored-samples listener failed');
        }
      }
    }
  }

  private releaseWaiters(): void {
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const w of waiters) w();
  }
}
