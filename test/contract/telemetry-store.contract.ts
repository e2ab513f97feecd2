/**
 * Behaviour every TelemetryStore adapter must show. Only the port is exercised, never an
 * adapter's internals, so the same suite runs against SQLite and against a real InfluxDB.
 *
 * Sharing a database: every test uses device ids of its own, so `open` may hand out stores on one
 * shared (even non-empty) database. Retention is global, though, so the retention tests keep
 * their data in 2001–2002 and pass a `now` from that era, while all other tests write in 2024:
 * a retention pass then reaches only data of earlier retention tests. Two runs of the retention
 * tests against the same database at the same time can still disturb each other.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registeredAsSkipped } from './support.js';
import type { AggregatePoint, RangeQuery, Sample, TelemetryStore } from '../../src/kernel/ports/telemetry-store.js';

export interface TelemetryStoreContractOptions {
  /** When set, the suite is registered as skipped, with this reason in its name. */
  readonly skip?: string;
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** 2024-03-01T00:00Z: a whole day, and 5 minutes past a multiple of 7 minutes since the epoch. */
const BASE = Date.UTC(2024, 2, 1);
/** 2001-01-01T00:00Z: the era of the retention tests (see the header). */
const RETENTION_BASE = Date.UTC(2001, 0, 1);

function uid(prefix = 'dev'): string {
  return `${prefix}-${randomUUID()}`;
}

function sample(deviceId: string, metric: string, ts: number, value: number): Sample {
  return { deviceId, metric, ts, value };
}

/** Reference semantics of `aggregate`, computed in plain JS from what was written. */
export function referenceAggregate(written: readonly Sample[], query: RangeQuery): AggregatePoint[] {
  const byTs = new Map<number, number>();
  for (const s of written) {
    if (s.deviceId === query.deviceId && s.metric === query.metric) byTs.set(s.ts, s.value);
  }
  const buckets = new Map<number, number[]>();
  for (const [ts, value] of byTs) {
    if (ts < query.from || ts >= query.to) continue;
    const shifted = ts - (query.offset ?? 0);
    const start = ts - (((shifted % query.step) + query.step) % query.step);
    const values = buckets.get(start) ?? [];
    values.push(value);
    buckets.set(start, values);
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([ts, values]) => ({
      ts,
      min: Math.min(...values),
      max: Math.max(...values),
      mean: values.reduce((a, b) => a + b, 0) / values.length,
      count: values.length,
    }));
}

/** Reference semantics of `raw`: last write per instant wins, oldest first. */
function referenceRaw(written: readonly Sample[], deviceId: string, metric: string, from: number, to: number): Sample[] {
  const byTs = new Map<number, number>();
  for (const s of written) {
    if (s.deviceId === deviceId && s.metric === metric) byTs.set(s.ts, s.value);
  }
  return [...byTs.entries()]
    .filter(([ts]) => ts >= from && ts < to)
    .sort((a, b) => a[0] - b[0])
    .map(([ts, value]) => sample(deviceId, metric, ts, value));
}

/**
 * Exact on ts/min/max/count; the mean may differ by summation order (SQL engines, roll-ups of
 * partial sums), so it is compared relative to the magnitude of the bucket's values.
 */
export function expectAggregatesClose(actual: readonly AggregatePoint[], expected: readonly AggregatePoint[]): void {
  expect(actual.map((p) => [p.ts, p.min, p.max, p.count])).toEqual(expected.map((p) => [p.ts, p.min, p.max, p.count]));
  actual.forEach((p, i) => {
    const e = expected[i] as AggregatePoint;
    const scale = Math.max(1, Math.abs(e.min), Math.abs(e.max));
    expect(Math.abs(p.mean - e.mean), `mean of bucket ${p.ts}: ${p.mean} vs ${e.mean}`).toBeLessThanOrEqual(1e-9 * scale);
  });
}

function byMetric<T extends { metric: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0));
}

/** Deterministic, irregular-looking values so aggregates are not trivially symmetric. */
function wave(i: number, metricIndex: number): number {
  return Math.round((20 + 7 * Math.sin(i / 17 + metricIndex) + ((i * 37) % 11) / 3 - metricIndex * 50) * 1000) / 1000;
}

export function describeTelemetryStoreContract(
  name: string,
  open: () => Promise<TelemetryStore>,
  options: TelemetryStoreContractOptions = {},
): void {
  if (registeredAsSkipped(name, options)) return;

  describe(name, () => {
    let store: TelemetryStore;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    describe('write and raw', () => {
      it('reads back exactly what was written, oldest first, whatever the write order', async () => {
        const d = uid();
        const pts = [0, 1, 2, 3, 4, 5].map((i) => sample(d, 'helium_level_pct', BASE + i * MINUTE, 70 + i / 10));
        await store.write([pts[3], pts[0], pts[5]] as Sample[]);
        await store.write([pts[1], pts[4], pts[2]] as Sample[]);

        const all = await store.raw({ deviceId: d, metric: 'helium_level_pct', from: BASE, to: BASE + HOUR });
        expect(all).toEqual(pts);
      });

      it('treats from as inclusive and to as exclusive', async () => {
        const d = uid();
        const pts = [0, 1, 2, 3].map((i) => sample(d, 'm', BASE + i * MINUTE, i));
        await store.write(pts);

        expect(await store.raw({ deviceId: d, metric: 'm', from: BASE + MINUTE, to: BASE + 3 * MINUTE })).toEqual([pts[1], pts[2]]);
        expect(await store.raw({ deviceId: d, metric: 'm', from: BASE + MINUTE + 1, to: BASE + 3 * MINUTE + 1 })).toEqual([
          pts[2],
          pts[3],
        ]);
        expect(await store.raw({ deviceId: d, metric: 'm', from: BASE + 2 * MINUTE, to: BASE + 2 * MINUTE })).toEqual([]);
      });

      it('honours limit, keeping the oldest points', async () => {
        const d = uid();
        const pts = [0, 1, 2, 3, 4].map((i) => sample(d, 'm', BASE + i * SECOND, i * 2));
        await store.write([...pts].reverse());

        expect(await store.raw({ deviceId: d, metric: 'm', from: BASE, to: BASE + MINUTE, limit: 2 })).toEqual([pts[0], pts[1]]);
        expect(await store.raw({ deviceId: d, metric: 'm', from: BASE + 2 * SECOND, to: BASE + MINUTE, limit: 1 })).toEqual([pts[2]]);
        expect(await store.raw({ deviceId: d, metric: 'm', from: BASE, to: BASE + MINUTE, limit: 100 })).toEqual(pts);
      });

      it('returns nothing for unknown devices and metrics, and accepts an empty write', async () => {
        const d = uid();
        await store.write([]);
        await store.write([sample(d, 'm', BASE, 1)]);

        expect(await store.raw({ deviceId: uid(), metric: 'm', from: BASE - DAY, to: BASE + DAY })).toEqual([]);
        expect(await store.raw({ deviceId: d, metric: 'other', from: BASE - DAY, to: BASE + DAY })).toEqual([]);
        expect(await store.aggregate({ deviceId: uid(), metric: 'm', from: BASE - DAY, to: BASE + DAY, step: HOUR })).toEqual([]);
        expect(await store.latest(uid())).toEqual([]);
        expect(await store.metrics(uid())).toEqual([]);
      });

      it('round-trips negative, zero, fractional, tiny and huge values exactly', async () => {
        const d = uid();
        const values = [
          -1.5, 0, 0.1, 1 / 3, -273.15, 42, 123456789.12345679, 1e-300, 5e-324, -1e300, Number.MAX_VALUE,
          Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 60,
        ];
        const pts = values.map((v, i) => sample(d, 'm', BASE + i * SECOND, v));
        await store.write(pts);

        const back = await store.raw({ deviceId: d, metric: 'm', from: BASE, to: BASE + HOUR });
        expect(back.map((p) => p.value)).toEqual(values);
        expect(back).toEqual(pts);
      });

      it('stores a large batch completely', async () => {
        const d = uid();
        const metrics = ['a', 'b', 'c', 'd'];
        const perMetric = 5_000;
        const batch: Sample[] = [];
        for (let i = 0; i < perMetric; i++) {
          metrics.forEach((m, k) => batch.push(sample(d, m, BASE + i * 10 * SECOND, i * 0.5 - 1_000 * (k + 1))));
        }
        expect(batch).toHaveLength(20_000);
        await store.write(batch);

        const span = { from: BASE, to: BASE + DAY };
        for (const [k, m] of metrics.entries()) {
          const raw = await store.raw({ deviceId: d, metric: m, ...span });
          expect(raw).toHaveLength(perMetric);
          expect(raw[0]).toEqual(sample(d, m, BASE, -1_000 * (k + 1)));
          expect(raw.at(-1)).toEqual(sample(d, m, BASE + (perMetric - 1) * 10 * SECOND, (perMetric - 1) * 0.5 - 1_000 * (k + 1)));
          const agg = await store.aggregate({ deviceId: d, metric: m, ...span, step: DAY });
          expect(agg).toHaveLength(1);
          expect(agg[0]?.count).toBe(perMetric);
          expect(agg[0]?.min).toBe(-1_000 * (k + 1));
          expect(agg[0]?.max).toBe((perMetric - 1) * 0.5 - 1_000 * (k + 1));
        }
        expect(await store.metrics(d)).toEqual(metrics);
      });

      it('rejects a batch with an invalid sample and stores none of it', async () => {
        const d = uid();
        const good = sample(d, 'm', BASE, 1);
        const bad: Sample[] = [
          sample(d, 'm', BASE + 1, Number.NaN),
          sample(d, 'm', BASE + 1, Number.POSITIVE_INFINITY),
          sample(d, 'm', BASE + 0.5, 1),
          sample('', 'm', BASE + 1, 1),
          sample(d, '', BASE + 1, 1),
        ];
        for (const b of bad) {
          await expect(store.write([good, b])).rejects.toThrow(RangeError);
        }
        expect(await store.raw({ deviceId: d, metric: 'm', from: BASE - DAY, to: BASE + DAY })).toEqual([]);
        expect(await store.latest(d)).toEqual([]);
      });
    });

    describe('rewrites', () => {
      it('replaces the value when the same device, metric and instant is written again', async () => {
        const d = uid();
        const q = { deviceId: d, metric: 'm', from: BASE, to: BASE + HOUR };
        await store.write([sample(d, 'm', BASE, 1), sample(d, 'm', BASE + MINUTE, 10)]);
        await store.write([sample(d, 'm', BASE, 2)]);
        await store.write([sample(d, 'm', BASE, 2)]);

        expect(await store.raw(q)).toEqual([sample(d, 'm', BASE, 2), sample(d, 'm', BASE + MINUTE, 10)]);
        expect(await store.aggregate({ ...q, step: HOUR })).toEqual([{ ts: BASE, min: 2, mean: 6, max: 10, count: 2 }]);
      });

      it('keeps the later of duplicates inside one batch', async () => {
        const d = uid();
        await store.write([sample(d, 'm', BASE, 5), sample(d, 'm', BASE + 1, 7), sample(d, 'm', BASE, 6)]);

        expect(await store.raw({ deviceId: d, metric: 'm', from: BASE, to: BASE + HOUR })).toEqual([
          sample(d, 'm', BASE, 6),
          sample(d, 'm', BASE + 1, 7),
        ]);
        expect(await store.latest(d)).toEqual([{ metric: 'm', ts: BASE + 1, value: 7 }]);
      });

      it('merges the metrics of one instant written apart in a batch, the later value winning', async () => {
        const d = uid();
        await store.write([sample(d, 'a', BASE, 1), sample(d, 'b', BASE + 1, 2), sample(d, 'b', BASE, 3), sample(d, 'a', BASE, 4), sample(d, 'a', BASE + 1, 5)]);

        expect(await store.raw({ deviceId: d, metric: 'a', from: BASE, to: BASE + HOUR })).toEqual([sample(d, 'a', BASE, 4), sample(d, 'a', BASE + 1, 5)]);
        expect(await store.raw({ deviceId: d, metric: 'b', from: BASE, to: BASE + HOUR })).toEqual([sample(d, 'b', BASE, 3), sample(d, 'b', BASE + 1, 2)]);
      });
    });

    it('keeps devices and metrics apart', async () => {
      const d1 = uid();
      const d2 = `${d1}-2`;
      await store.write([
        sample(d1, 'a', BASE, 1),
        sample(d1, 'a', BASE + MINUTE, 2),
        sample(d1, 'b', BASE, 100),
        sample(d2, 'a', BASE, -1),
        sample(d2, 'a', BASE + 2 * MINUTE, -3),
      ]);
      const span = { from: BASE, to: BASE + HOUR };

      expect(await store.raw({ deviceId: d1, metric: 'a', ...span })).toEqual([
        sample(d1, 'a', BASE, 1),
        sample(d1, 'a', BASE + MINUTE, 2),
      ]);
      expect(await store.raw({ deviceId: d1, metric: 'b', ...span })).toEqual([sample(d1, 'b', BASE, 100)]);
      expect(await store.raw({ deviceId: d2, metric: 'a', ...span })).toEqual([
        sample(d2, 'a', BASE, -1),
        sample(d2, 'a', BASE + 2 * MINUTE, -3),
      ]);
      expect(await store.raw({ deviceId: d2, metric: 'b', ...span })).toEqual([]);
      expect(await store.aggregate({ deviceId: d2, metric: 'a', ...span, step: HOUR })).toEqual([
        { ts: BASE, min: -3, mean: -2, max: -1, count: 2 },
      ]);
      expect(await store.metrics(d1)).toEqual(['a', 'b']);
      expect(await store.metrics(d2)).toEqual(['a']);
      expect(await store.latest(d2)).toEqual([{ metric: 'a', ts: BASE + 2 * MINUTE, value: -3 }]);
    });

    describe('aggregate', () => {
      // Hand-computed fixture: BASE is a whole day and 5 min past a multiple of 7 min.
      const fixture = (d: string): Sample[] => [
        sample(d, 'm', BASE, 1),
        sample(d, 'm', BASE + 1 * MINUTE, 3),
        sample(d, 'm', BASE + 10 * MINUTE - 1, 5),
        sample(d, 'm', BASE + 10 * MINUTE, -2),
        sample(d, 'm', BASE + 35 * MINUTE, 4),
        sample(d, 'm', BASE + 36 * MINUTE, 8),
      ];

      it('computes min/mean/max/count per step, omitting empty buckets', async () => {
        expect(BASE % (7 * MINUTE)).toBe(5 * MINUTE);
        const d = uid();
        await store.write(fixture(d));
        const q = { deviceId: d, metric: 'm', from: BASE, to: BASE + 40 * MINUTE };

        expect(await store.aggregate({ ...q, step: 10 * MINUTE })).toEqual([
          { ts: BASE, min: 1, mean: 3, max: 5, count: 3 },
          { ts: BASE + 10 * MINUTE, min: -2, mean: -2, max: -2, count: 1 },
          { ts: BASE + 30 * MINUTE, min: 4, mean: 6, max: 8, count: 2 },
        ]);
        const hourly = await store.aggregate({ ...q, step: HOUR });
        expect(hourly).toHaveLength(1);
        expect(hourly[0]).toMatchObject({ ts: BASE, min: -2, max: 8, count: 6 });
        expect(hourly[0]?.mean).toBeCloseTo(19 / 6, 12);
      });

      it('aligns buckets to multiples of step since the epoch, not to from', async () => {
        const d = uid();
        await store.write(fixture(d));

        expect(await store.aggregate({ deviceId: d, metric: 'm', from: BASE, to: BASE + HOUR, step: 7 * MINUTE })).toEqual([
          { ts: BASE - 5 * MINUTE, min: 1, mean: 2, max: 3, count: 2 },
          { ts: BASE + 9 * MINUTE, min: -2, mean: 1.5, max: 5, count: 2 },
          { ts: BASE + 30 * MINUTE, min: 4, mean: 6, max: 8, count: 2 },
        ]);
        // from/to cut samples, not buckets: the first bucket starts before `from`.
        expect(
          await store.aggregate({ deviceId: d, metric: 'm', from: BASE + MINUTE, to: BASE + 36 * MINUTE, step: 10 * MINUTE }),
        ).toEqual([
          { ts: BASE, min: 3, mean: 4, max: 5, count: 2 },
          { ts: BASE + 10 * MINUTE, min: -2, mean: -2, max: -2, count: 1 },
          { ts: BASE + 30 * MINUTE, min: 4, mean: 4, max: 4, count: 1 },
        ]);
        expect(await store.aggregate({ deviceId: d, metric: 'm', from: BASE + HOUR, to: BASE + DAY, step: MINUTE })).toEqual([]);
      });

      describe('with an offset', () => {
        /** Asia/Shanghai (UTC+8): local midnight is 16:00 UTC the day before. */
        const SHANGHAI = -8 * HOUR;
        /** 2024-03-01T00:00 in Shanghai. */
        const LOCAL_MIDNIGHT = BASE - 8 * HOUR;
        const days = (d: string): Sample[] => [
          sample(d, 'm', LOCAL_MIDNIGHT - 1, 10), // 2024-02-29 23:59:59.999 local
          sample(d, 'm', LOCAL_MIDNIGHT, 1),
          sample(d, 'm', BASE - 1, 4), // last instant of 2024-02-29 UTC, 07:59 local
          sample(d, 'm', BASE, 5), // UTC midnight, 08:00 local
          sample(d, 'm', BASE + 12 * HOUR, -5),
          sample(d, 'm', BASE + 16 * HOUR - 1, 5), // 23:59:59.999 local
          sample(d, 'm', BASE + 16 * HOUR, 2), // 2024-03-02T00:00 local
          sample(d, 'm', BASE + DAY, 6), // 2024-03-02T00:00 UTC, 08:00 local
          sample(d, 'm', BASE + 40 * HOUR, 9), // 2024-03-03T00:00 local
        ];
        const span = { metric: 'm', from: BASE - 2 * DAY, to: BASE + 3 * DAY, step: DAY };

        it('starts daily buckets at local midnight (16:00 UTC for UTC+8)', async () => {
          const d = uid();
          await store.write(days(d));

          expect(await store.aggregate({ deviceId: d, ...span, offset: SHANGHAI })).toEqual([
            { ts: LOCAL_MIDNIGHT - DAY, min: 10, mean: 10, max: 10, count: 1 },
            { ts: LOCAL_MIDNIGHT, min: -5, mean: 2, max: 5, count: 5 },
            { ts: LOCAL_MIDNIGHT + DAY, min: 2, mean: 4, max: 6, count: 2 },
            { ts: LOCAL_MIDNIGHT + 2 * DAY, min: 9, mean: 9, max: 9, count: 1 },
          ]);
          expect(new Date(LOCAL_MIDNIGHT).toISOString()).toBe('2024-02-29T16:00:00.000Z');
          // The same data in UTC days, for contrast.
          expect(await store.aggregate({ deviceId: d, ...span })).toEqual([
            { ts: BASE - DAY, min: 1, mean: 5, max: 10, count: 3 },
            { ts: BASE, min: -5, mean: 1.75, max: 5, count: 4 },
            { ts: BASE + DAY, min: 6, mean: 7.5, max: 9, count: 2 },
          ]);
        });

        it('cuts samples, not buckets, at from and to', async () => {
          const d = uid();
          await store.write(days(d));

          expectAggregatesClose(await store.aggregate({ deviceId: d, ...span, from: BASE, to: BASE + DAY, offset: SHANGHAI }), [
            { ts: LOCAL_MIDNIGHT, min: -5, mean: 5 / 3, max: 5, count: 3 },
            { ts: LOCAL_MIDNIGHT + DAY, min: 2, mean: 2, max: 2, count: 1 },
          ]);
        });

        it('only depends on the offset modulo step', async () => {
          const d = uid();
          await store.write(days(d));
          const expected = await store.aggregate({ deviceId: d, ...span, offset: SHANGHAI });

          for (const offset of [16 * HOUR, SHANGHAI - 3 * DAY, SHANGHAI + 5 * DAY]) {
            expect(await store.aggregate({ deviceId: d, ...span, offset })).toEqual(expected);
          }
          // Six-hour buckets shifted by -8 h start at 04:00, 10:00, 16:00 and 22:00 UTC.
          expect(await store.aggregate({ deviceId: d, ...span, step: 6 * HOUR, offset: SHANGHAI })).toEqual([
            { ts: LOCAL_MIDNIGHT - 6 * HOUR, min: 10, mean: 10, max: 10, count: 1 },
            { ts: LOCAL_MIDNIGHT, min: 1, mean: 1, max: 1, count: 1 },
            { ts: BASE - 2 * HOUR, min: 4, mean: 4.5, max: 5, count: 2 },
            { ts: BASE + 10 * HOUR, min: -5, mean: 0, max: 5, count: 2 },
            { ts: BASE + 16 * HOUR, min: 2, mean: 2, max: 2, count: 1 },
            { ts: BASE + 22 * HOUR, min: 6, mean: 6, max: 6, count: 1 },
            { ts: BASE + 40 * HOUR, min: 9, mean: 9, max: 9, count: 1 },
          ]);
        });

        it('gives the same answer with offset 0 as without one', async () => {
          const d = uid();
          await store.write([...days(d), ...fixture(d).map((s) => ({ ...s, ts: s.ts + 3 * HOUR }))]);

          for (const step of [MINUTE, 7 * MINUTE, HOUR, 5 * HOUR, DAY]) {
            const q = { deviceId: d, ...span, step };
            expect(await store.aggregate({ ...q, offset: 0 })).toEqual(await store.aggregate(q));
          }
        });

        it('rejects an offset that is not an integer of ms', async () => {
          const q = { deviceId: uid(), ...span };
          for (const offset of [0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
            await expect(store.aggregate({ ...q, offset })).rejects.toThrow(RangeError);
          }
        });
      });

      it('matches a reference computation for random samples', async () => {
        const series = fc.uniqueArray(fc.integer({ min: 0, max: 3 * DAY - 1 }), { maxLength: 150 }).chain((offsets) =>
          fc.tuple(
            fc.constant(offsets),
            fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: offsets.length, maxLength: offsets.length }),
          ),
        );
        await fc.assert(
          fc.asyncProperty(
            series,
            // A few rewrites of already-written instants with new values.
            fc.array(fc.tuple(fc.nat(), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { maxLength: 10 }),
            fc.constantFrom(SECOND, MINUTE, 7 * MINUTE, 15 * MINUTE, HOUR, 5 * HOUR, DAY),
            fc.tuple(fc.integer({ min: -HOUR, max: 3 * DAY + HOUR }), fc.integer({ min: -HOUR, max: 3 * DAY + HOUR })),
            // No offset, a whole-hour one (time zones), or any number of ms.
            fc.oneof(
              fc.constant(undefined),
              fc.integer({ min: -48, max: 48 }).map((h) => h * HOUR),
              fc.integer({ min: -2 * DAY, max: 2 * DAY }),
            ),
            async ([offsets, values], rewrites, step, [a, b], offset) => {
              const d = uid('prop');
              // -0 is stored as 0 by some engines; the port makes no promise about its sign.
              const v = (x: number): number => (Object.is(x, -0) ? 0 : x);
              const written = offsets.map((o, i) => sample(d, 'm', BASE + o, v(values[i] as number)));
              const again =
                offsets.length === 0
                  ? []
                  : rewrites.map(([k, x]) => sample(d, 'm', BASE + (offsets[k % offsets.length] as number), v(x)));
              await store.write(written);
              await store.write(again);
              const all = [...written, ...again];
              const q = { deviceId: d, metric: 'm', from: BASE + Math.min(a, b), to: BASE + Math.max(a, b), step, offset };

              expectAggregatesClose(await store.aggregate(q), referenceAggregate(all, q));
              expect(await store.raw(q)).toEqual(referenceRaw(all, d, 'm', q.from, q.to));
            },
          ),
          { numRuns: 25 },
        );
      });
    });

    describe('latest and metrics', () => {
      it('returns the newest sample of each metric by timestamp, not by arrival', async () => {
        const d = uid();
        await store.write([sample(d, 'b', BASE + 2, 20), sample(d, 'a', BASE + 1, 1), sample(d, 'a', BASE + 3, 3)]);
        expect(await store.latest(d)).toEqual([
          { metric: 'a', ts: BASE + 3, value: 3 },
          { metric: 'b', ts: BASE + 2, value: 20 },
        ]);

        await store.write([sample(d, 'a', BASE + 2, 2)]);
        expect(byMetric(await store.latest(d))[0]).toEqual({ metric: 'a', ts: BASE + 3, value: 3 });

        await store.write([sample(d, 'a', BASE + 3, 9)]);
        expect(byMetric(await store.latest(d))[0]).toEqual({ metric: 'a', ts: BASE + 3, value: 9 });

        await store.write([sample(d, 'a', BASE + 6, 6), sample(d, 'a', BASE + 5, 5), sample(d, 'b', BASE, 0)]);
        expect(await store.latest(d)).toEqual([
          { metric: 'a', ts: BASE + 6, value: 6 },
          { metric: 'b', ts: BASE + 2, value: 20 },
        ]);
      });

      it('lists the metrics of a device once each, sorted', async () => {
        const d = uid();
        await store.write([sample(d, 'zeta', BASE, 1), sample(d, 'alpha', BASE, 1), sample(d, 'mid', BASE, 1)]);
        await store.write([sample(d, 'alpha', BASE + 1, 2)]);
        await store.write([sample(uid(), 'other', BASE, 1)]);

        expect(await store.metrics(d)).toEqual(['alpha', 'mid', 'zeta']);
      });
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    describe('applyRetention', () => {
      const RB = RETENTION_BASE;
      const METRICS = ['x', 'y'];
      /** Three days of one sample every 5 minutes for two metrics, from RB. */
      const fixture = (d: string): Sample[] => {
        const out: Sample[] = [];
        for (let i = 0; i < (3 * DAY) / (5 * MINUTE); i++) {
          METRICS.forEach((m, k) => out.push(sample(d, m, RB + i * 5 * MINUTE, wave(i, k))));
        }
        return out;
      };
      const snapshot = async (d: string) => {
        const out: Record<string, unknown> = {};
        for (const m of METRICS) {
          const whole = { deviceId: d, metric: m, from: RB - DAY, to: RB + 4 * DAY };
          out[m] = {
            hourly: await store.aggregate({ ...whole, step: HOUR }),
            sixHourly: await store.aggregate({ ...whole, step: 6 * HOUR }),
            daily: await store.aggregate({ ...whole, step: DAY }),
            shanghaiDaily: await store.aggregate({ ...whole, step: DAY, offset: -8 * HOUR }),
            secondDay: await store.aggregate({ ...whole, from: RB + DAY, to: RB + 2 * DAY, step: 3 * HOUR }),
          };
        }
        return out as Record<string, Record<'hourly' | 'sixHourly' | 'daily' | 'shanghaiDaily' | 'secondDay', AggregatePoint[]>>;
      };
      const expectSameAggregates = (
        after: Awaited<ReturnType<typeof snapshot>>,
        before: Awaited<ReturnType<typeof snapshot>>,
      ): void => {
        for (const m of METRICS) {
          for (const k of ['hourly', 'sixHourly', 'daily', 'shanghaiDaily', 'secondDay'] as const) {
            expectAggregatesClose(after[m]?.[k] ?? [], before[m]?.[k] ?? []);
          }
        }
      };

      it('removes raw data past the horizon without changing hourly and coarser aggregates', async () => {
        const d = uid('ret');
        const written = fixture(d);
        await store.write(written);
        const policy = { rawMs: DAY, rollupMs: 365 * DAY };
        const now = RB + 3 * DAY;
        const horizon = now - policy.rawMs;
        const before = await snapshot(d);
        const latestBefore = await store.latest(d);
        expect(before.x?.daily.map((p) => p.count)).toEqual([288, 288, 288]);
        // Local days of UTC+8: the first runs from RB to RB + 16 h.
        expect(before.x?.shanghaiDaily.map((p) => [p.ts, p.count])).toEqual([
          [RB - 8 * HOUR, 192],
          [RB + 16 * HOUR, 288],
          [RB + 40 * HOUR, 288],
          [RB + 64 * HOUR, 96],
        ]);
        expectAggregatesClose(
          before.x?.hourly ?? [],
          referenceAggregate(written, { deviceId: d, metric: 'x', from: RB - DAY, to: RB + 4 * DAY, step: HOUR }),
        );

        const result = await store.applyRetention(policy, now);

        expect(result.rawDeleted).toBeGreaterThanOrEqual(METRICS.length * 2 * 288);
        for (const m of METRICS) {
          expect(await store.raw({ deviceId: d, metric: m, from: RB - DAY, to: horizon })).toEqual([]);
          expect(await store.raw({ deviceId: d, metric: m, from: horizon, to: RB + 4 * DAY })).toEqual(
            referenceRaw(written, d, m, horizon, RB + 4 * DAY),
          );
        }
        const after = await snapshot(d);
        expectSameAggregates(after, before);
        expect(await store.latest(d)).toEqual(latestBefore);

        await store.applyRetention(policy, now);
        expectSameAggregates(await snapshot(d), before);
        for (const m of METRICS) {
          expect(await store.raw({ deviceId: d, metric: m, from: RB - DAY, to: RB + 4 * DAY })).toHaveLength(288);
        }
      });

      it('keeps aggregates when the horizon falls inside an hour', async () => {
        const d = uid('ret');
        const written = fixture(d);
        await store.write(written);
        const policy = { rawMs: DAY, rollupMs: 365 * DAY };
        const now = RB + 3 * DAY - 20 * MINUTE;
        const horizon = now - policy.rawMs;
        const before = await snapshot(d);

        await store.applyRetention(policy, now);
        await store.applyRetention(policy, now);

        expectSameAggregates(await snapshot(d), before);
        for (const m of METRICS) {
          expect(await store.raw({ deviceId: d, metric: m, from: RB - DAY, to: horizon - (horizon % HOUR) })).toEqual([]);
          expect(await store.raw({ deviceId: d, metric: m, from: horizon, to: RB + 4 * DAY })).toEqual(
            referenceRaw(written, d, m, horizon, RB + 4 * DAY),
          );
        }
      });

      it('removes roll-ups past their own horizon and keeps younger ones', async () => {
        const d = uid('ret');
        await store.write(fixture(d));
        const before = await snapshot(d);
        await store.applyRetention({ rawMs: DAY, rollupMs: 365 * DAY }, RB + 3 * DAY);

        const result = await store.applyRetention({ rawMs: DAY, rollupMs: 2 * DAY }, RB + 3 * DAY);

        expect(result.rollupDeleted).toBeGreaterThanOrEqual(METRICS.length * 24);
        const q = { deviceId: d, metric: 'x', step: HOUR };
        expect(await store.aggregate({ ...q, from: RB - DAY, to: RB + DAY })).toEqual([]);
        expectAggregatesClose(await store.aggregate({ ...q, from: RB + DAY, to: RB + 4 * DAY }), (before.x?.hourly ?? []).slice(24));
        expect((await store.aggregate({ ...q, from: RB + DAY, to: RB + 2 * DAY, step: DAY }))[0]?.count).toBe(288);
      });

      it('leaves data younger than the horizon alone', async () => {
        const d = uid('ret');
        const written = fixture(d);
        await store.write(written);
        const before = await snapshot(d);

        const result = await store.applyRetention({ rawMs: 10 * DAY, rollupMs: 20 * DAY }, RB + 3 * DAY);

        expect(result).toEqual({ rawDeleted: expect.any(Number), rollupDeleted: expect.any(Number) });
        expectSameAggregates(await snapshot(d), before);
        for (const m of METRICS) {
          expect(await store.raw({ deviceId: d, metric: m, from: RB, to: RB + 3 * DAY })).toEqual(
            referenceRaw(written, d, m, RB, RB + 3 * DAY),
          );
        }
      });

      it('puts a rolled-up hour whole into the bucket containing its start, whatever the offset', async () => {
        const d = uid('ret');
        await store.write([sample(d, 'm', RB + 10 * MINUTE, 1), sample(d, 'm', RB + 40 * MINUTE, 2), sample(d, 'm', RB + 70 * MINUTE, 4)]);
        // Younger than the horizon below, so they stay raw, either side of a bucket boundary.
        await store.write([sample(d, 'm', RB + 2 * DAY + 20 * MINUTE, 16), sample(d, 'm', RB + 2 * DAY + 40 * MINUTE, 32)]);
        const q = { deviceId: d, metric: 'm', from: RB - DAY, to: RB + 3 * DAY };
        const young = [
          { ts: RB + DAY + 30 * MINUTE, min: 16, mean: 16, max: 16, count: 1 },
          { ts: RB + 2 * DAY + 30 * MINUTE, min: 32, mean: 32, max: 32, count: 1 },
        ];
        const youngFine = [
          { ts: RB + 2 * DAY + 15 * MINUTE, min: 16, mean: 16, max: 16, count: 1 },
          { ts: RB + 2 * DAY + 35 * MINUTE, min: 32, mean: 32, max: 32, count: 1 },
        ];
        const halfPast = { ...q, step: DAY, offset: 30 * MINUTE };
        const fine = { ...q, step: 10 * MINUTE, offset: 5 * MINUTE };
        expect(await store.aggregate(halfPast)).toEqual([
          { ts: RB - DAY + 30 * MINUTE, min: 1, mean: 1, max: 1, count: 1 },
          { ts: RB + 30 * MINUTE, min: 2, mean: 3, max: 4, count: 2 },
          ...young,
        ]);
        expect((await store.aggregate(fine)).map((p) => p.ts)).toEqual([
          RB + 5 * MINUTE,
          RB + 35 * MINUTE,
          RB + 65 * MINUTE,
          ...youngFine.map((p) => p.ts),
        ]);

        await store.applyRetention({ rawMs: DAY, rollupMs: 365 * DAY }, RB + 3 * DAY);

        expect(await store.raw({ ...q, to: RB + 2 * DAY })).toEqual([]);
        // Hours are the finest grain left: 00:00-01:00 starts before the 00:30 bucket start.
        expect(await store.aggregate(halfPast)).toEqual([
          { ts: RB - DAY + 30 * MINUTE, min: 1, mean: 1.5, max: 2, count: 2 },
          { ts: RB + 30 * MINUTE, min: 4, mean: 4, max: 4, count: 1 },
          ...young,
        ]);
        // Steps below an hour: one-hour buckets at the start of the hour.
        expect(await store.aggregate(fine)).toEqual([
          { ts: RB, min: 1, mean: 1.5, max: 2, count: 2 },
          { ts: RB + HOUR, min: 4, mean: 4, max: 4, count: 1 },
          ...youngFine,
        ]);
        // Late raw data into a rolled-up hour joins that hour's bucket.
        await store.write([sample(d, 'm', RB + 50 * MINUTE, 8)]);
        expect(await store.aggregate(halfPast)).toEqual([
          { ts: RB - DAY + 30 * MINUTE, min: 1, mean: 11 / 3, max: 8, count: 3 },
          { ts: RB + 30 * MINUTE, min: 4, mean: 4, max: 4, count: 1 },
          ...young,
        ]);
      });

      it('preserves aggregates of whole hours for random data and horizons', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.tuple(fc.integer({ min: 0, max: 3 * DAY - 1 }), fc.double({ min: -1e4, max: 1e4, noNaN: true })), {
              maxLength: 120,
            }),
            fc.integer({ min: 0, max: 3 * DAY + 2 * HOUR }),
            fc.constantFrom(HOUR, 3 * HOUR, DAY),
            fc.option(fc.integer({ min: -26, max: 26 }).map((h) => h * HOUR)),
            async (points, horizonOffset, step, offset) => {
              const d = uid('retprop');
              const written = points.map(([o, x]) => sample(d, 'm', RB + o, Object.is(x, -0) ? 0 : x));
              await store.write(written);
              const q = { deviceId: d, metric: 'm', from: RB - DAY, to: RB + 4 * DAY, step, offset: offset ?? undefined };
              const expected = referenceAggregate(written, q);
              const policy = { rawMs: DAY, rollupMs: 3650 * DAY };
              const now = RB + horizonOffset + DAY;

              await store.applyRetention(policy, now);
              expectAggregatesClose(await store.aggregate(q), expected);
              await store.applyRetention(policy, now);
              expectAggregatesClose(await store.aggregate(q), expected);
            },
          ),
          { numRuns: 20 },
        );
      });
    });
  });
}
