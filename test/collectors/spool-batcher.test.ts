import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SampleBatcher } from '../../collectors/sample-batcher.js';
import { Spool } from '../../collectors/spool.js';
import { silentLogger } from '../../src/app/log.js';
import type { Sample, TelemetryStore } from '../../src/kernel/ports/telemetry-store.js';
import { tempDir, waitFor } from '../helpers.js';

/** A telemetry store double that can be switched off, counting what it holds by identity. */
class SwitchableStore implements Pick<TelemetryStore, 'write'> {
  readonly points = new Map<string, number>();
  up = true;
  writes = 0;
  /** Random latency per write, so concurrent writes complete out of order. */
  constructor(private readonly maxDelayMs = 0) {}
  async write(samples: readonly Sample[]): Promise<void> {
    if (this.maxDelayMs > 0) await new Promise((r) => setTimeout(r, Math.random() * this.maxDelayMs));
    if (!this.up) throw new Error('store unavailable');
    this.writes++;
    for (const s of samples) this.points.set(`${s.deviceId}|${s.metric}|${s.ts}`, s.value);
  }
}

const logger = silentLogger();
const dirs: Array<{ remove: () => void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function spoolIn(options: Partial<{ segmentBytes: number; maxBytes: number }> = {}) {
  const dir = tempDir('guardian-spool-');
  dirs.push(dir);
  const make = () => new Spool({ dir: dir.path, segmentBytes: options.segmentBytes ?? 4096, maxBytes: options.maxBytes ?? 1e9, fsyncIntervalMs: 0, logger });
  return { dir: dir.path, make };
}

const message = (device: string, i: number, metrics = 3): Sample[] =>
  Array.from({ length: metrics }, (_, m) => ({ deviceId: device, metric: `m${m}_pct`, ts: 1_764_000_000_000 + i * 1000, value: i + m / 10 }));

describe('spool', () => {
  it('reads back what was appended, in order, and deletes a segment once all of it is stored', () => {
    const { dir, make } = spoolIn({ segmentBytes: 200 });
    const spool = make();
    const ids = [0, 1, 2, 3, 4].map((i) => spool.append('CT-1', message('CT-1', i)));
    spool.rotate();
    const segments = spool.pendingSegments();
    expect(segments.length).toBeGreaterThan(1);
    const replayed = segments.flatMap((id) => spool.read(id));
    expect(replayed).toEqual([0, 1, 2, 3, 4].flatMap((i) => message('CT-1', i)));
    for (const id of new Set(ids)) spool.release(id, ids.filter((x) => x === id).length * 3);
    expect(spool.pendingSegments()).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    expect(spool.bytes).toBe(0);
  });

  it('skips a block cut short by a crash and keeps the blocks before it', () => {
    const { dir, make } = spoolIn();
    const spool = make();
    spool.append('MR-1', message('MR-1', 1));
    spool.commit();
    const [file] = readdirSync(dir);
    const path = join(dir, file!);
    const afterFirst = statSync(path).size;
    spool.append('MR-1', message('MR-1', 2));
    spool.close();
    // The crash left only part of the second block on disk.
    truncateSync(path, afterFirst + 20);
    const reopened = make();
    const [id] = reopened.pendingSegments();
    expect(reopened.read(id!)).toEqual(message('MR-1', 1));
  });

  it('stops at a block whose checksum does not match (damaged on disk)', () => {
    const { dir, make } = spoolIn();
    const spool = make();
    spool.append('CT-1', message('CT-1', 1));
    spool.commit();
    spool.append('CT-1', message('CT-1', 2));
    spool.close();
    const path = join(dir, readdirSync(dir)[0]!);
    const data = readFileSync(path);
    data[data.length - 3]! ^= 0xff;
    writeFileSync(path, data);
    const reopened = make();
    expect(reopened.read(reopened.pendingSegments()[0]!)).toEqual(message('CT-1', 1));
  });

  it('replays a segment written as JSON lines by an older release', () => {
    const { dir, make } = spoolIn();
    const lines = [1, 2].map((i) => JSON.stringify(['CT-7', message('CT-7', i).map((s) => [s.metric, s.ts, s.value])]));
    writeFileSync(join(dir, '000000000001.spool'), `${lines.join('\n')}\n["CT-7",[["m0_pct",17640`);
    const spool = make();
    expect(spool.pendingSegments()).toEqual([1]);
    expect(spool.read(1)).toEqual([...message('CT-7', 1), ...message('CT-7', 2)]);
    spool.release(1, 6);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps device and metric names that are not ASCII, and values exactly', () => {
    const { make } = spoolIn();
    const spool = make();
    const samples: Sample[] = [
      { deviceId: '设备-α', metric: 'm0_pct', ts: -1, value: -0.1 + 0.2 },
      { deviceId: '设备-α', metric: 'ünknown', ts: 8.64e15, value: Number.MAX_VALUE },
    ];
    const id = spool.append('设备-α', samples);
    spool.rotate();
    expect(spool.read(id)).toEqual(samples);
  });

  it('reports no capacity past its size limit', () => {
    const { make } = spoolIn({ maxBytes: 300 });
    const spool = make();
    expect(spool.hasCapacity()).toBe(true);
    for (let i = 0; i < 5; i++) spool.append('CT-1', message('CT-1', i));
    expect(spool.hasCapacity()).toBe(false);
  });
});

describe('sample batcher with a spool', () => {
  it('keeps memory bounded during a store outage and stores everything once the store is back', async () => {
    const { make } = spoolIn({ segmentBytes: 2048 });
    const store = new SwitchableStore();
    const batcher = new SampleBatcher(store as unknown as TelemetryStore, { batchSize: 50, flushIntervalMs: 10, maxBuffered: 100, logger, spool: make() });
    store.up = false;
    let peak = 0;
    // As the collector does: accept a message, then wait while there is no capacity.
    for (let i = 0; i < 500; i++) {
      batcher.add('CT-1', message('CT-1', i));
      peak = Math.max(peak, batcher.buffered);
      if (!batcher.hasCapacity()) await batcher.waitForCapacity();
    }
    // The bound, plus the message that filled it and the one accepted as the outage was noticed.
    expect(peak).toBeLessThanOrEqual(100 + 2 * 3);
    expect(batcher.spilled).toBe(true);
    store.up = true;
    await waitFor(() => store.points.size === 1500, { what: 'all samples stored' });
    await waitFor(() => !batcher.spilled);
    for (let i = 500; i < 510; i++) batcher.add('CT-1', message('CT-1', i));
    expect(await batcher.close()).toBe(0);
    expect(store.points.size).toBe(1530);
  });

  it('replays at the next start what an earlier run accepted but did not store', async () => {
    const { dir, make } = spoolIn({ segmentBytes: 1024 });
    const store = new SwitchableStore();
    store.up = false;
    const first = new SampleBatcher(store as unknown as TelemetryStore, { batchSize: 20, flushIntervalMs: 10, maxBuffered: 40, logger, spool: make() });
    for (let i = 0; i < 100; i++) first.add('MR-1', message('MR-1', i));
    await first.close(200); // the store never came back: everything stays on disk
    expect(readdirSync(dir).length).toBeGreaterThan(0);

    store.up = true;
    const second = new SampleBatcher(store as unknown as TelemetryStore, { batchSize: 20, flushIntervalMs: 10, maxBuffered: 40, logger, spool: make() });
    await waitFor(() => store.points.size === 300, { what: 'replayed samples stored' });
    await second.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stores every accepted sample, tells the listeners in acceptance order and empties the spool, whatever the outages and write concurrency (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 1, max: 30 }), fc.boolean()), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 4 }), async (steps, concurrency) => {
        const { dir, make } = spoolIn({ segmentBytes: 512 });
        const store = new SwitchableStore(concurrency > 1 ? 4 : 0);
        const batcher = new SampleBatcher(store as unknown as TelemetryStore, {
          batchSize: 16,
          flushIntervalMs: 5,
          maxBuffered: 32,
          logger,
          spool: make(),
          maxConcurrentWrites: concurrency,
        });
        // Writes finish out of order when several are in flight; the rule engine must not see that.
        const told: number[] = [];
        batcher.onStored((samples) => {
          for (const s of samples) if (s.metric === 'm0_pct') told.push(s.ts);
        });
        let n = 0;
        for (const [count, up] of steps) {
          store.up = up;
          for (let i = 0; i < count; i++) batcher.add('CT-1', message('CT-1', n++, 2));
          await new Promise((r) => setTimeout(r, 5));
        }
        store.up = true;
        await batcher.flush();
        await batcher.close();
        expect(store.points.size).toBe(n * 2);
        expect(readdirSync(dir)).toEqual([]);
        expect(told).toEqual(Array.from({ length: n }, (_, i) => message('CT-1', i, 1)[0]!.ts));
      }),
      { numRuns: 15 },
    );
  });

  it('releases a producer held back by a full spool once the store is back, however the spill ends (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.boolean()), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 4, max: 40 }),
        fc.integer({ min: 60, max: 3_000 }),
        fc.integer({ min: 100, max: 2_000 }),
        async (steps, concurrency, maxBuffered, maxBytes, segmentBytes) => {
          const { dir, make } = spoolIn({ segmentBytes, maxBytes });
          const store = new SwitchableStore(concurrency > 1 ? 3 : 0);
          const batcher = new SampleBatcher(store as unknown as TelemetryStore, {
            batchSize: 8,
            flushIntervalMs: 5,
            maxBuffered,
            logger,
            spool: make(),
            maxConcurrentWrites: concurrency,
            maxRetryDelayMs: 20,
          });
          let n = 0;
          for (const [count, up] of steps) {
            store.up = up;
            for (let i = 0; i < count; i++) {
              batcher.add('CT-1', message('CT-1', n++, 2));
              // As the collector does: no acknowledgement, and so no next message, until there is room.
              if (!batcher.hasCapacity()) {
                setTimeout(() => (store.up = true), Math.random() * 30);
                await Promise.race([
                  batcher.waitForCapacity(),
                  new Promise((_, reject) => setTimeout(() => reject(new Error(`producer never released (buffered ${batcher.buffered}, spilled ${batcher.spilled})`)), 3_000)),
                ]);
              }
            }
            await new Promise((r) => setTimeout(r, 3));
          }
          store.up = true;
          await batcher.flush();
          await batcher.close();
          expect(store.points.size).toBe(n * 2);
          expect(readdirSync(dir)).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);
});

describe('sample batcher without a spool', () => {
  it('holds producers at its bound and releases them after a write', async () => {
    const store = new SwitchableStore();
    store.up = false;
    const batcher = new SampleBatcher(store as unknown as TelemetryStore, { batchSize: 10, flushIntervalMs: 10, maxBuffered: 30, logger, maxRetryDelayMs: 20 });
    for (let i = 0; i < 10; i++) batcher.add('CT-1', message('CT-1', i));
    expect(batcher.hasCapacity()).toBe(false);
    let released = false;
    void batcher.waitForCapacity().then(() => (released = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(released).toBe(false);
    store.up = true;
    await waitFor(() => released, { what: 'producer released' });
    await batcher.close();
    expect(store.points.size).toBe(30);
  });
});

describe('sample batcher flushing', () => {
  /** A store whose writes finish only when the test says so. */
  class GatedStore implements Pick<TelemetryStore, 'write'> {
    readonly batches: number[] = [];
    private gates: Array<() => void> = [];
    write(samples: readonly Sample[]): Promise<void> {
      this.batches.push(samples.length);
      return new Promise((resolve) => this.gates.push(resolve));
    }
    finishAll(): void {
      for (const open of this.gates.splice(0)) open();
    }
  }

  it('writes what one turn brought at once while the store is idle, and batches while it is busy', async () => {
    const store = new GatedStore();
    // A flush interval far beyond the test: only the idle-store rule can start these writes.
    const batcher = new SampleBatcher(store as unknown as TelemetryStore, { batchSize: 1_000, flushIntervalMs: 3_600_000, maxBuffered: 10_000, logger, maxConcurrentWrites: 2 });
    for (let i = 0; i < 4; i++) batcher.add('CT-1', message('CT-1', i));
    expect(store.batches).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(store.batches).toEqual([12]);
    // The store is busy: what arrives now waits for it rather than going out message by message.
    for (let i = 4; i < 10; i++) {
      batcher.add('CT-1', message('CT-1', i));
      await new Promise((r) => setImmediate(r));
    }
    expect(store.batches).toEqual([12]);
    store.finishAll();
    await waitFor(() => store.batches.length === 2, { what: 'the waiting samples written as one batch' });
    expect(store.batches).toEqual([12, 18]);
    store.finishAll();
    await batcher.close();
    expect(store.batches).toEqual([12, 18]);
  });

  it('with a linger, lets samples wait that long for company before writing to an idle store', async () => {
    const store = new GatedStore();
    const batcher = new SampleBatcher(store as unknown as TelemetryStore, { batchSize: 1_000, flushIntervalMs: 3_600_000, maxBuffered: 10_000, logger, lingerMs: 80 });
    const started = Date.now();
    batcher.add('CT-1', message('CT-1', 0));
    await new Promise((r) => setTimeout(r, 20));
    batcher.add('CT-1', message('CT-1', 1));
    expect(store.batches).toEqual([]);
    await waitFor(() => store.batches.length === 1, { what: 'the lingered samples written' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(store.batches).toEqual([6]);
    // The write answers; what came meanwhile has lingered long enough and goes at once.
    batcher.add('CT-1', message('CT-1', 2));
    await new Promise((r) => setTimeout(r, 100));
    expect(store.batches).toEqual([6]);
    store.finishAll();
    await waitFor(() => store.batches.length === 2, { what: 'the next batch after the write answered' });
    expect(store.batches).toEqual([6, 3]);
    store.finishAll();
    await batcher.close();
  });
});
