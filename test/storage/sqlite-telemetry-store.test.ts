import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HOUR_MS,
  estimateSqliteStorageBytes,
  openSqliteTelemetryStore,
  type SqliteTelemetryStore,
} from '../../src/storage/sqlite-telemetry-store.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { describeTelemetryStoreContract } from '../contract/telemetry-store.contract.js';

const MINUTE = 60_000;
const DAY = 24 * HOUR_MS;
const BASE = Date.UTC(2024, 2, 1);

const sharedDir = mkdtempSync(join(tmpdir(), 'rg-sqlite-contract-'));
afterAll(() => rmSync(sharedDir, { recursive: true, force: true }));

// One file shared by every test, as a real deployment shares one database: this also exercises
// reopening a populated file on every test.
describeTelemetryStoreContract('SqliteTelemetryStore (file)', () =>
  openSqliteTelemetryStore({ file: join(sharedDir, 'nested', 'telemetry.db') }),
);
describeTelemetryStoreContract('SqliteTelemetryStore (:memory:)', () => openSqliteTelemetryStore({ file: ':memory:' }));

function sample(deviceId: string, metric: string, ts: number, value: number): Sample {
  return { deviceId, metric, ts, value };
}

describe('SqliteTelemetryStore specifics', () => {
  let dir: string;
  let file: string;
  const opened: SqliteTelemetryStore[] = [];
  const open = async (): Promise<SqliteTelemetryStore> => {
    const store = await openSqliteTelemetryStore({ file });
    opened.push(store);
    return store;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rg-sqlite-'));
    file = join(dir, 'telemetry.db');
  });

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps data and the series dictionary across reopening', async () => {
    const first = await open();
    await first.write([
      sample('ct-1', 'tube_temp_c', BASE, 41.5),
      sample('ct-1', 'anode_rpm', BASE, 9000),
      sample('mr-1', 'helium_level_pct', BASE, 78),
    ]);
    await first.close();

    const second = await open();
    expect(await second.raw({ deviceId: 'ct-1', metric: 'tube_temp_c', from: BASE, to: BASE + 1 })).toEqual([
      sample('ct-1', 'tube_temp_c', BASE, 41.5),
    ]);
    expect(await second.metrics('ct-1')).toEqual(['anode_rpm', 'tube_temp_c']);
    expect(await second.latest('mr-1')).toEqual([{ metric: 'helium_level_pct', ts: BASE, value: 78 }]);
    // Known series reuse their ids; a new one gets a fresh id rather than colliding.
    await second.write([sample('ct-1', 'tube_temp_c', BASE + MINUTE, 42), sample('mr-1', 'cold_head_temp_k', BASE, 4.2)]);
    expect(await second.raw({ deviceId: 'ct-1', metric: 'tube_temp_c', from: BASE, to: BASE + HOUR_MS })).toHaveLength(2);
    expect(await second.raw({ deviceId: 'mr-1', metric: 'cold_head_temp_k', from: BASE, to: BASE + 1 })).toEqual([
      sample('mr-1', 'cold_head_temp_k', BASE, 4.2),
    ]);
    expect(await second.raw({ deviceId: 'mr-1', metric: 'helium_level_pct', from: BASE, to: BASE + HOUR_MS })).toHaveLength(1);
    await second.close();

    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT device_id, metric FROM series ORDER BY id').all();
      expect(rows).toEqual([
        { device_id: 'ct-1', metric: 'tube_temp_c' },
        { device_id: 'ct-1', metric: 'anode_rpm' },
        { device_id: 'mr-1', metric: 'helium_level_pct' },
        { device_id: 'mr-1', metric: 'cold_head_temp_k' },
      ]);
    } finally {
      db.close();
    }
  });

  it('sees series created by another connection to the same file', async () => {
    const a = await open();
    const b = await open();
    await a.write([sample('ct-1', 'm', BASE, 1)]);
    expect(await b.raw({ deviceId: 'ct-1', metric: 'm', from: BASE, to: BASE + 1 })).toEqual([sample('ct-1', 'm', BASE, 1)]);
    await b.write([sample('ct-1', 'm', BASE + 1, 2)]);
    expect(await a.raw({ deviceId: 'ct-1', metric: 'm', from: BASE, to: BASE + 2 })).toHaveLength(2);
  });

  it('survives duplicate samples inside one batch', async () => {
    const store = await open();
    const batch: Sample[] = [];
    for (let i = 0; i < 1_000; i++) batch.push(sample('ct-1', 'm', BASE + (i % 10) * MINUTE, i));

    await store.write(batch);

    const raw = await store.raw({ deviceId: 'ct-1', metric: 'm', from: BASE, to: BASE + HOUR_MS });
    expect(raw.map((s) => s.value)).toEqual([990, 991, 992, 993, 994, 995, 996, 997, 998, 999]);
    expect(await store.latest('ct-1')).toEqual([{ metric: 'm', ts: BASE + 9 * MINUTE, value: 999 }]);
  });

  describe('late writes into rolled-up hours', () => {
    // Two hours of one point a minute (values 0..119), then an hour of raw data; the first two
    // hours are rolled up by a retention pass with the raw horizon at BASE + 2 h.
    const policy = { rawMs: DAY, rollupMs: 365 * DAY };
    const now = BASE + 2 * HOUR_MS + DAY;
    const q = { deviceId: 'mr-1', metric: 'm', from: BASE, to: BASE + 3 * HOUR_MS };
    const seed = async (store: SqliteTelemetryStore): Promise<void> => {
      const batch: Sample[] = [];
      for (let i = 0; i < 180; i++) batch.push(sample('mr-1', 'm', BASE + i * MINUTE, i));
      await store.write(batch);
      await store.applyRetention(policy, now);
      expect(await store.raw({ ...q, to: BASE + 2 * HOUR_MS })).toEqual([]);
    };

    it('merges a late sample into the rolled-up hour, before and after the next retention pass', async () => {
      const store = await open();
      await seed(store);

      await store.write([sample('mr-1', 'm', BASE + 30 * MINUTE + 1, -100)]);

      const expected = [
        { ts: BASE, min: -100, max: 59, count: 61, mean: (1770 - 100) / 61 },
        { ts: BASE + HOUR_MS, min: 60, max: 119, count: 60, mean: 89.5 },
        { ts: BASE + 2 * HOUR_MS, min: 120, max: 179, count: 60, mean: 149.5 },
      ];
      expect(await store.aggregate({ ...q, step: HOUR_MS })).toEqual(expected);
      expect(await store.aggregate({ ...q, step: DAY })).toEqual([
        { ts: BASE, min: -100, max: 179, count: 181, mean: (16110 - 100) / 181 },
      ]);

      const result = await store.applyRetention(policy, now);
      expect(result.rawDeleted).toBe(1);
      expect(await store.raw({ ...q, to: BASE + 2 * HOUR_MS })).toEqual([]);
      expect(await store.aggregate({ ...q, step: HOUR_MS })).toEqual(expected);

      expect(await store.applyRetention(policy, now)).toEqual({ rawDeleted: 0, rollupDeleted: 0 });
      expect(await store.aggregate({ ...q, step: HOUR_MS })).toEqual(expected);
    });

    it('counts a rewrite of an instant whose raw row is gone as an extra point (documented limitation)', async () => {
      const store = await open();
      await seed(store);

      await store.write([sample('mr-1', 'm', BASE, 1_000)]);

      expect((await store.aggregate({ ...q, step: HOUR_MS }))[0]).toMatchObject({ ts: BASE, min: 0, max: 1_000, count: 61 });
    });

    it('answers steps below an hour with hourly buckets where only roll-ups remain', async () => {
      const store = await open();
      await seed(store);
      await store.write([sample('mr-1', 'm', BASE + HOUR_MS + 59 * MINUTE + 30_000, 1_000)]);

      const points = await store.aggregate({ ...q, from: BASE + HOUR_MS, step: 30 * MINUTE });

      expect(points).toEqual([
        // Rolled-up hour, late sample included, at hour resolution.
        { ts: BASE + HOUR_MS, min: 60, max: 1_000, count: 61, mean: (5370 + 1_000) / 61 },
        // Raw data at the requested resolution.
        { ts: BASE + 2 * HOUR_MS, min: 120, max: 149, count: 30, mean: 134.5 },
        { ts: BASE + 2 * HOUR_MS + 30 * MINUTE, min: 150, max: 179, count: 30, mean: 164.5 },
      ]);
      // Even with a step that does not divide the hour, the hour keeps its own start.
      const odd = await store.aggregate({ ...q, from: BASE + HOUR_MS, to: BASE + 2 * HOUR_MS, step: 7 * MINUTE });
      expect(odd).toEqual([points[0]]);
    });
  });

  it('rejects invalid queries and policies', async () => {
    const store = await open();
    const q = { deviceId: 'ct-1', metric: 'm', from: BASE, to: BASE + 1 };
    await expect(store.aggregate({ ...q, step: 0 })).rejects.toThrow(RangeError);
    await expect(store.aggregate({ ...q, step: 1.5 })).rejects.toThrow(RangeError);
    await expect(store.raw({ ...q, limit: -1 })).rejects.toThrow(RangeError);
    await expect(store.raw({ ...q, from: Number.NaN })).rejects.toThrow(RangeError);
    await expect(store.applyRetention({ rawMs: -1, rollupMs: DAY }, BASE)).rejects.toThrow(RangeError);
  });

  it('refuses to work once closed, and closing twice is harmless', async () => {
    const store = await open();
    await store.close();
    await store.close();
    await expect(store.write([sample('ct-1', 'm', BASE, 1)])).rejects.toThrow(/closed/);
    await expect(store.ping()).rejects.toThrow(/closed/);
  });

  it('refuses a database written by a newer schema', async () => {
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    await expect(openSqliteTelemetryStore({ file })).rejects.toThrow(/newer/);
  });

  it('estimates a year of 20 scanners within a few GB', () => {
    const fleet = { devices: 20, metricsPerDevice: 15, sampleIntervalMs: MINUTE };
    const retained = estimateSqliteStorageBytes({ ...fleet, rawMs: 30 * DAY, rollupMs: 730 * DAY });
    const allRaw = estimateSqliteStorageBytes({ ...fleet, rawMs: 365 * DAY, rollupMs: 0 });
    expect(retained).toBeLessThan(1e9);
    expect(allRaw).toBeLessThan(5e9);
  });
});
