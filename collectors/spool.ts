import { closeSync, fdatasyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import type { Sample } from '../src/kernel/ports/telemetry-store.js';
import { keepOwnerOnly } from '../src/kernel/private-files.js';

/** Segment files are their owner's alone. */
const SEGMENT_MODE = 0o600;

/** Takes permissions beyond `wanted` off a file or directory left by an earlier run, with a warning. */
const keepPrivate = (path: string, wanted: number, logger: Logger) => keepOwnerOnly(path, wanted, 'a spool file', logger);

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

/** First bytes of a segment in the binary format; segments without it are JSON lines (older releases). */
const MAGIC = Buffer.from('RGSPOOL\u0002', 'latin1');
/** Block header: payload length and CRC-32 of the payload, both u32 little-endian. */
const BLOCK_HEADER_BYTES = 8;
/** The append buffer's resting size; it grows for a large turn and shrinks back after the write. */
const BUFFER_BYTES = 1 << 20;

/**
 * The collector's write-ahead log. Accepted samples are appended here before their MQTT message
 * is acknowledged, and a segment is deleted once every sample in it is confirmed in the telemetry
 * store. After a crash, whatever segments remain are replayed; the store's idempotent writes make
 * a replay of already-stored samples harmless.
 *
 * Format: a segment starts with `MAGIC` and holds blocks, one per commit: `u32 length, u32 CRC-32,
 * payload`. The payload holds one record per message: `u16 n, device (n bytes UTF-8), u32 count`,
 * then `count` times `u16 n, metric (n bytes UTF-8), f64 ts, f64 value` — written straight into a
 * buffer, without building a string per message. A block cut short or damaged (a crash or power
 * cut mid-write) ends the replay of its segment: its messages were never acknowledged, so the
 * broker delivers them again. Segments written by older releases as JSON lines
 * (`["device",[["metric",ts,value],…]]`) are still read.
 *
 * Group commit: records appended during one turn of the event loop are written as one block with
 * one system call at the end of the turn (`whenCommitted` tells the collector, which holds the
 * turn's acknowledgements back until then).
 */
export class Spool {
  private readonly segments = new Map<number, Segment>();
  private active: Segment | undefined;
  private fd: number | undefined;
  private dirty = false;
  private totalBytes = 0;
  /** The block being built: header space, then this turn's records. */
  private buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private commitScheduled = false;
  private committed: Array<(error?: Error) => void> = [];
  private readonly syncTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SpoolOptions) {
    // Owner-only, as the rest of the data directory: segments hold the fleet's readings.
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    keepPrivate(options.dir, 0o700, options.logger);
    for (const name of readdirSync(options.dir).sort()) {
      const match = SEGMENT_PATTERN.exec(name);
      if (!match) continue;
      const file = join(options.dir, name);
      keepPrivate(file, SEGMENT_MODE, options.logger);
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

  /** True while appended records wait for the end-of-turn write. */
  get uncommitted(): boolean {
    return this.used > 0;
  }

  /**
   * Appends the samples of one message; returns the segment they went to. The line is on disk
   * once `whenCommitted` callbacks run (at the end of this turn of the event loop).
   */
  append(deviceId: string, samples: readonly Sample[]): number {
    const segment = this.activeSegment();
    const start = this.used;
    if (start === 0) this.used = BLOCK_HEADER_BYTES;
    this.reserve(6 + 3 * deviceId.length);
    let at = this.used;
    const buffer = this.buffer;
    const deviceBytes = buffer.write(deviceId, at + 2);
    buffer.writeUInt16LE(deviceBytes, at);
    at += 2 + deviceBytes;
    buffer.writeUInt32LE(samples.length, at);
    this.used = at + 4;
    for (const sample of samples) {
      this.reserve(18 + 3 * sample.metric.length);
      const b = this.buffer;
      at = this.used;
      const metricBytes = b.write(sample.metric, at + 2);
      b.writeUInt16LE(metricBytes, at);
      at += 2 + metricBytes;
      b.writeDoubleLE(sample.ts, at);
      b.writeDoubleLE(sample.value, at + 8);
      this.used = at + 16;
    }
    const bytes = this.used - start;
    segment.bytes += bytes;
    segment.appended += samples.length;
    this.totalBytes += bytes;
    if (segment.bytes >= this.options.segmentBytes) this.rotate();
    else this.scheduleCommit();
    return segment.id;
  }

  /** Calls `callback` once everything appended so far is written (with the error if it could not be). */
  whenCommitted(callback: (error?: Error) => void): void {
    if (this.used === 0) {
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
    if (this.used > 0) {
      const buffer = this.buffer;
      const used = this.used;
      this.used = 0;
      if (buffer.length > BUFFER_BYTES) this.buffer = Buffer.allocUnsafe(BUFFER_BYTES);
      buffer.writeUInt32LE(used - BLOCK_HEADER_BYTES, 0);
      buffer.writeUInt32LE(crc32(buffer.subarray(BLOCK_HEADER_BYTES, used)), 4);
      try {
        writeSync(this.fd!, buffer, 0, used);
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
    const data = readFileSync(segment.file);
    const { samples, unreadable } = isBinarySegment(data) ? readBlocks(data) : readJsonLines(data);
    if (unreadable > 0) {
      this.options.logger.warn(
        { segment: id, unreadableBytes: unreadable },
        'spool segment ends in a part cut off or damaged by a crash; its messages were not acknowledged and come again',
      );
    }
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
    this.fd = openSync(file, 'a', SEGMENT_MODE);
    writeSync(this.fd, MAGIC);
    this.active = { id, file, bytes: MAGIC.length, appended: 0, stored: 0, closed: false };
    this.totalBytes += MAGIC.length;
    this.segments.set(id, this.active);
    return this.active;
  }

  /** Makes room for `bytes` more after `used`, keeping what is there. */
  private reserve(bytes: number): void {
    const needed = this.used + bytes;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
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

function isBinarySegment(data: Buffer): boolean {
  return data.length >= MAGIC.length && data.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) === 0;
}

/** Samples of a binary segment, up to the first block that is cut short or fails its checksum. */
function readBlocks(data: Buffer): { samples: Sample[]; unreadable: number } {
  const samples: Sample[] = [];
  let at = MAGIC.length;
  while (at + BLOCK_HEADER_BYTES <= data.length) {
    const length = data.readUInt32LE(at);
    const end = at + BLOCK_HEADER_BYTES + length;
    if (end > data.length || crc32(data.subarray(at + BLOCK_HEADER_BYTES, end)) !== data.readUInt32LE(at + 4)) break;
    const block: Sample[] = [];
    if (!readRecords(data, at + BLOCK_HEADER_BYTES, end, block)) break;
    for (const sample of block) samples.push(sample);
    at = end;
  }
  return { samples, unreadable: data.length - at };
}

/** The records of one block into `out`; false if they do not fit the block exactly. */
function readRecords(data: Buffer, from: number, end: number, out: Sample[]): boolean {
  let at = from;
  while (at < end) {
    if (at + 2 > end) return false;
    const deviceEnd = at + 2 + data.readUInt16LE(at);
    if (deviceEnd + 4 > end) return false;
    const deviceId = data.toString('utf8', at + 2, deviceEnd);
    const count = data.readUInt32LE(deviceEnd);
    at = deviceEnd + 4;
    for (let i = 0; i < count; i++) {
      if (at + 2 > end) return false;
      const metricEnd = at + 2 + data.readUInt16LE(at);
      if (metricEnd + 16 > end) return false;
      out.push({ deviceId, metric: data.toString('utf8', at + 2, metricEnd), ts: data.readDoubleLE(metricEnd), value: data.readDoubleLE(metricEnd + 8) });
      at = metricEnd + 16;
    }
  }
  return at === end;
}

/** Samples of a segment written by an older release: one JSON line per message; lines that do not parse are skipped. */
function readJsonLines(data: Buffer): { samples: Sample[]; unreadable: number } {
  const samples: Sample[] = [];
  let unreadable = 0;
  for (const line of data.toString('utf8').split('\n')) {
    if (line === '') continue;
    try {
      const [deviceId, values] = JSON.parse(line) as [string, Array<[string, number, number]>];
      for (const [metric, ts, value] of values) samples.push({ deviceId, metric, ts, value });
    } catch {
      unreadable += Buffer.byteLength(line);
    }
  }
  return { samples, unreadable };
}
