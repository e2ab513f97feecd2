import { closeSync, fdatasyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Sample } from '../src/storage/telemetry-store.js';

export interface SpoolOptions {
  readonly dir: string;
  /** A segment is closed and a new one started past this size. */
  readonly segmentBytes: number;
  /** Above this many bytes on disk the spool reports no capacity (the collector stops acknowledging). */
  readonly maxBytes: number;
  /** How often appended data is forced to disk; 0 leaves it to the OS (still safe against a process crash). */
  readonly fsyncIntervalMs: number;
  readonly logger: Logger;
}

interface Segment {
  readonly id: number;
  readonly file: string;
  bytes: number;
  /** Samples appended to it. */
  appended: number;
  /** Samples confirmed written to the store. */
  stored: number;
  closed: boolean;
}

const SEGMENT_PATTERN = /^(\d{12})\.spool$/;

/**
 * The collector's write-ahead log. Accepted samples are appended here before their MQTT message
 * is acknowledged, and a segment is deleted once every sample in it is confirmed in the telemetry
 * store. After a crash, whatever segments remain are replayed; the store's idempotent writes make
 * a replay of already-stored samples harmless.
 *
 * A line holds the samples of one message: `["device",[["metric",ts,value],…]]`. A torn last line
 * (a crash mid-write) is skipped on replay — its message was never acknowledged, so the broker
 * delivers it again.
 *
 * Group commit: lines appended during one turn of the event loop are written with one system call
 * at the end of the turn (`whenCommitted` tells the collector, which holds the turn's
 * acknowledgements back until then).
 */
export class Spool {
  private readonly segments = new Map<number, Segment>();
  private active: Segment | undefined;
  private fd: number | undefined;
  private dirty = false;
  private totalBytes = 0;
  private pendingLines: string[] = [];
  private commitScheduled = false;
  private committed: Array<(error?: Error) => void> = [];
  private readonly syncTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SpoolOptions) {
    mkdirSync(options.dir, { recursive: true });
    for (const name of readdirSync(options.dir).sort()) {
      const match = SEGMENT_PATTERN.exec(name);
      if (!match) continue;
      const file = join(options.dir, name);
      const bytes = statSync(file).size;
      // Left by an earlier run: counts are learned when it is read back.
      this.segments.set(Number(match[1]), { id: Number(match[1]), file, bytes, appended: -1, stored: 0, closed: true });
      this.totalBytes += bytes;
    }
    if (options.fsyncIntervalMs > 0) {
      this.syncTimer = setInterval(() => this.sync(), options.fsyncIntervalMs);
      this.syncTimer.unref();
    }
  }

  /** Bytes on disk. */
  get bytes(): number {
    return this.totalBytes;
  }

  hasCapacity(): boolean {
    return this.totalBytes < this.options.maxBytes;
  }

  /** Closed segments not yet fully stored, oldest first (those from an earlier run included). */
  pendingSegments(): number[] {
    return [...this.segments.values()].filter((s) => s.closed).map((s) => s.id).sort((a, b) => a - b);
  }

  /** True while appended lines wait for the end-of-turn write. */
  get uncommitted(): boolean {
    return this.pendingLines.length > 0;
  }

  /**
   * Appends the samples of one message; returns the segment they went to. The line is on disk
   * once `whenCommitted` callbacks run (at the end of this turn of the event loop).
   */
  append(deviceId: string, samples: readonly Sample[]): number {
    const segment = this.activeSegment();
    const line = `${JSON.stringify([deviceId, samples.map((s) => [s.metric, s.ts, s.value])])}\n`;
    const bytes = Buffer.byteLength(line);
    this.pendingLines.push(line);
    segment.bytes += bytes;
    segment.appended += samples.length;
    this.totalBytes += bytes;
    if (segment.bytes >= this.options.segmentBytes) this.rotate();
    else this.scheduleCommit();
    return segment.id;
  }

  /** Calls `callback` once everything appended so far is written (with the error if it could not be). */
  whenCommitted(callback: (error?: Error) => void): void {
    if (this.pendingLines.length === 0) {
      callback();
      return;
    }
    this.committed.push(callback);
    this.scheduleCommit();
  }

  /** Writes the pending lines now, with one system call. */
  commit(): void {
    const callbacks = this.committed;
    this.committed = [];
    let failure: Error | undefined;
    if (this.pendingLines.length > 0) {
      const text = this.pendingLines.join('');
      this.pendingLines = [];
      try {
        writeSync(this.fd!, text);
        this.dirty = true;
      } catch (error) {
        failure = error as Error;
        this.options.logger.fatal({ err: error }, 'could not write to the spool; acknowledgements withheld');
      }
    }
    for (const callback of callbacks) callback(failure);
    if (failure) throw failure;
  }

  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    setImmediate(() => {
      this.commitScheduled = false;
      try {
        this.commit();
      } catch {
        // logged in commit; the callbacks got the error
      }
    });
  }

  /** Closes the active segment, so everything appended so far is in closed segments. */
  rotate(): void {
    if (!this.active) return;
    this.commit();
    this.sync();
    closeSync(this.fd!);
    this.fd = undefined;
    this.active.closed = true;
    const done = this.active;
    this.active = undefined;
    this.deleteIfDone(done);
  }

  /** Reads a closed segment back: its samples, in order. */
  read(id: number): Sample[] {
    const segment = this.segments.get(id);
    if (!segment) return [];
    const samples: Sample[] = [];
    const lines = readFileSync(segment.file, 'utf8').split('\n');
    let torn = 0;
    for (const line of lines) {
      if (line === '') continue;
      try {
        const [deviceId, values] = JSON.parse(line) as [string, Array<[string, number, number]>];
        for (const [metric, ts, value] of values) samples.push({ deviceId, metric, ts, value });
      } catch {
        torn++;
      }
    }
    if (torn > 0) this.options.logger.warn({ segment: id, torn }, 'spool segment had unreadable lines (cut off by a crash); their messages were not acknowledged and come again');
    segment.appended = samples.length;
    return samples;
  }

  /** Confirms that `count` samples of segment `id` are in the store. */
  release(id: number, count: number): void {
    const segment = this.segments.get(id);
    if (!segment) return;
    segment.stored += count;
    this.deleteIfDone(segment);
  }

  /** Forces appended data to disk. */
  sync(): void {
    if (this.fd !== undefined && this.dirty) {
      fdatasyncSync(this.fd);
      this.dirty = false;
    }
  }

  close(): void {
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.fd !== undefined) {
      this.commit();
      this.sync();
      closeSync(this.fd);
      this.fd = undefined;
    }
    if (this.active) {
      this.active.closed = true;
      this.deleteIfDone(this.active);
      this.active = undefined;
    }
  }

  private activeSegment(): Segment {
    if (this.active) return this.active;
    const id = Math.max(0, ...this.segments.keys()) + 1;
    const file = join(this.options.dir, `${String(id).padStart(12, '0')}.spool`);
    this.fd = openSync(file, 'a');
    this.active = { id, file, bytes: 0, appended: 0, stored: 0, closed: false };
    this.segments.set(id, this.active);
    return this.active;
  }

  private deleteIfDone(segment: Segment): void {
    if (!segment.closed || segment.appended < 0 || segment.stored < segment.appended) return;
    try {
      unlinkSync(segment.file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    this.segments.delete(segment.id);
    this.totalBytes -= segment.bytes;
  }
}
