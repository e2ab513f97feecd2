/**
 * The reorder tolerance: a device whose samples arrive in order has them evaluated at once; one
 * that sends a sample out of order within the tolerance has its samples held from then on and
 * evaluated in timestamp order, until it has been in order for REORDER_CALM_MS of its event time.
 */
import fc from 'fast-check';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { REORDER_CALM_MS } from '../../rules/engine.js';
import { registerEngineMetrics } from '../../rules/engine-metrics.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { openSqliteTelemetryStore } from '../../src/storage/sqlite-telemetry-store.js';
import { tempDir } from '../helpers.js';
import { memoryEngine } from './engine-support.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const SEC = 1_000;
const MIN = 60 * SEC;
/** The tolerance of these tests: samples up to a minute out of order are put in their place. */
const TOLERANCE = MIN;
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const PACK = `
pack: mr-reorder
modality: MR
rules:
  - id: helium-low
    kind: threshold
    metric: helium_level_pct
    direction: below
    levels: { general: { raise: 60, clear: 62 } }
    for: 1m
    message: { zh: "{{device}} 液氦 {{value}}", en: "{{device}} helium {{value}}" }
  - id: room-rate
    kind: rate
    metric: magnet_room_temp_c
    window: 5m
    direction: rise
    per_hour: { minor: 3, general: 6 }
    message: { zh: "{{device}} 升温 {{rate}}{{unit}}/小时", en: "{{device}} warming {{rate}}{{unit}}/h" }
  - id: quench
    kind: composite
    mode: all
    conditions:
      - { metric: helium_pressure_psi, op: ">", value: 8 }
      - { metric: cold_head_temp_k, op: ">", value: 4.5 }
    grade: emergency
    message: { zh: "{{device}} 疑似失超 {{value}}", en: "{{device}} suspected quench {{value}}" }
`;

async function setup(reorderMs = TOLERANCE) {
  const dir = tempDir();
  cleanup.push(() => dir.remove());
  return memoryEngine(dir.path, { 'mr.yaml': PACK }, { reorderMs, now: () => T0 });
}

const sample = (metric: string, ts: number, value: number): Sample => ({ deviceId: 'MR-1', metric, ts, value });
const normal = (ts: number): Sample[] => [sample('helium_pressure_psi', ts, 1.5), sample('cold_head_temp_k', ts, 4.2)];
const quench = (ts: number): Sample[] => [sample('helium_pressure_psi', ts, 12), sample('cold_head_temp_k', ts, 6)];
/** A metric no rule of the pack reads: moves the device's watermark and nothing else. */
const other = (ts: number): Sample => sample('heater_power_w', ts, 1.8);
const stateOf = (engine: Awaited<ReturnType<typeof setup>>['engine'], rule: string) => engine.states().find((a) => a.ruleId === rule)?.record.state;
const strip = (transitions: ReadonlyArray<{ rule: string; kind: string; ts: number; grade?: string | undefined }>) => transitions.map((t) => `${t.rule}:${t.kind}:${t.ts}:${t.grade ?? ''}`);

describe('a device whose samples arrive in order', () => {
  it('has an alert raised by its sample at once: no tick, no later sample, saved by the next flush', async () => {
    const { engine, store, transitions } = await setup(2 * SEC);
    for (let i = 0; i < 10; i++) engine.onSamples(normal(T0 + i * SEC));
    engine.onSamples(quench(T0 + 10 * SEC));
    // No tick and no sample after it: held for the tolerance, it would still be pending here.
    expect(stateOf(engine, 'quench')).toBe('firing');
    expect(transitions.filter((t) => t.rule === 'quench').map((t) => [t.kind, t.ts])).toEqual([['fired', T0 + 10 * SEC]]);
    await engine.flush();
    expect(store.changes.map((c) => [c.ruleId, c.state, c.grade])).toEqual([['quench', 'firing', 'emergency']]);
    expect(engine.stats()).toMatchObject({ lateSamples: 0, reorderHolds: 0, holdingDevices: 0 });
  });

  it('does not count samples of one time split over two calls as out of order', async () => {
    const { engine } = await setup();
    engine.onSamples(normal(T0));
    // One reading's metrics in two messages (and two batches): the second is as new as the first, not older.
    engine.onSamples([sample('helium_pressure_psi', T0 + SEC, 12)]);
    expect(stateOf(engine, 'quench')).toBeUndefined();
    engine.onSamples([sample('cold_head_temp_k', T0 + SEC, 6)]);
    expect(stateOf(engine, 'quench')).toBe('firing');
    expect(engine.stats()).toMatchObject({ lateSamples: 0, reorderHolds: 0, holdingDevices: 0 });
    // And still evaluated at once afterwards.
    engine.onSamples(normal(T0 + 2 * SEC));
    expect(stateOf(engine, 'quench')).not.toBe('firing');
  });

  it('evaluates the samples of one call in timestamp order, whatever order the call has them in', async () => {
    const readings = Array.from({ length: 12 }, (_, i) => sample('helium_level_pct', T0 + i * 30 * SEC, i % 5 === 4 ? 65 : 58));
    const sorted = await setup();
    sorted.engine.onSamples(readings);
    expect(strip(sorted.transitions).length).toBeGreaterThan(2);
    // A store-and-forward backlog newest first, with the device's other metrics between.
    const mixed = await setup();
    mixed.engine.onSamples([...readings].reverse().flatMap((s) => [s, other(s.ts)]));
    expect(strip(mixed.transitions)).toEqual(strip(sorted.transitions));
    expect(mixed.engine.stats()).toMatchObject({ lateSamples: 0, reorderHolds: 0, holdingDevices: 0 });
  });
});

describe('a device that sends samples out of order', () => {
  it('has its first out-of-order sample counted late, and its samples held for the tolerance from then on', async () => {
    const { engine } = await setup();
    for (let i = 0; i <= 3; i++) engine.onSamples(normal(T0 + i * 10 * SEC));
    // 5 s older than the newest evaluated: too late to be put in its place, but it shows the device reorders.
    engine.onSamples([other(T0 + 25 * SEC)]);
    expect(engine.stats()).toMatchObject({ lateSamples: 1, reorderHolds: 1, holdingDevices: 1 });

    // Held now: a quench is evaluated once the device's watermark is a tolerance past it…
    engine.onSamples(quench(T0 + 40 * SEC));
    expect(stateOf(engine, 'quench')).toBeUndefined();
    engine.onSamples([other(T0 + 40 * SEC + TOLERANCE - 1)]);
    expect(stateOf(engine, 'quench')).toBeUndefined();
    engine.onSamples([other(T0 + 40 * SEC + TOLERANCE)]);
    expect(stateOf(engine, 'quench')).toBe('firing');
    // …or once the engine's clock is, when the device says nothing more.
    engine.onSamples(normal(T0 + 2 * MIN));
    expect(stateOf(engine, 'quench')).toBe('firing');
    engine.tick(T0 + 3 * MIN - 1);
    expect(stateOf(engine, 'quench')).toBe('firing');
    engine.tick(T0 + 3 * MIN);
    expect(stateOf(engine, 'quench')).not.toBe('firing');

    // What arrives out of order within the tolerance is now put in its place: not late.
    engine.onSamples([other(T0 + 3 * MIN + 30 * SEC)]);
    engine.onSamples([other(T0 + 3 * MIN + 10 * SEC)]);
    expect(engine.stats()).toMatchObject({ lateSamples: 1, reorderHolds: 1, holdingDevices: 1 });
  });

  it('is evaluated at once again after REORDER_CALM_MS of its event time in order', async () => {
    const { engine } = await setup();
    engine.onSamples([other(T0 + 30 * SEC)]);
    engine.onSamples([other(T0 + 20 * SEC)]);
    expect(engine.stats()).toMatchObject({ reorderHolds: 1, holdingDevices: 1 });
    // In order from here, a reading every 30 s: the hold lasts until the watermark is REORDER_CALM_MS past the last reorder.
    let ts = T0 + 30 * SEC;
    while (ts + 30 * SEC < T0 + 30 * SEC + REORDER_CALM_MS) {
      ts += 30 * SEC;
      engine.onSamples(normal(ts));
    }
    expect(engine.stats().holdingDevices).toBe(1);
    engine.onSamples(normal(T0 + 30 * SEC + REORDER_CALM_MS));
    expect(engine.stats().holdingDevices).toBe(0);
    engine.onSamples(quench(T0 + 31 * SEC + REORDER_CALM_MS));
    expect(stateOf(engine, 'quench')).toBe('firing');
    expect(engine.stats()).toMatchObject({ lateSamples: 1, reorderHolds: 1 });

    // A later reorder starts another hold, counted again.
    engine.onSamples([other(T0 + 20 * SEC + REORDER_CALM_MS)]);
    expect(engine.stats()).toMatchObject({ lateSamples: 2, reorderHolds: 2, holdingDevices: 1 });
  });

  it('keeps the hold going while it goes on reordering', async () => {
    const { engine } = await setup();
    engine.onSamples([other(T0 + 10 * SEC)]);
    engine.onSamples([other(T0)]);
    // Every 5 minutes a pair out of order: never REORDER_CALM_MS in order.
    for (let ts = T0 + 5 * MIN; ts < T0 + 3 * REORDER_CALM_MS; ts += 5 * MIN) {
      engine.onSamples([other(ts + 10 * SEC)]);
      engine.onSamples([other(ts)]);
      expect(engine.stats().holdingDevices).toBe(1);
    }
    expect(engine.stats()).toMatchObject({ lateSamples: 1, reorderHolds: 1 });
  });

  it('counts a sample older than the tolerance as late and does not hold for it', async () => {
    const { engine } = await setup();
    engine.onSamples(normal(T0 + 5 * MIN));
    // A store-and-forward backlog from before the last reading: holding for the tolerance would not put it in its place.
    engine.onSamples([sample('helium_level_pct', T0 + 5 * MIN - TOLERANCE - 1, 50), sample('helium_level_pct', T0 + MIN, 50)]);
    expect(engine.stats()).toMatchObject({ lateSamples: 2, reorderHolds: 0, holdingDevices: 0 });
    // Thresholds skip late samples.
    expect(stateOf(engine, 'helium-low')).toBeUndefined();
    engine.onSamples(quench(T0 + 6 * MIN));
    expect(stateOf(engine, 'quench')).toBe('firing');
  });

  it('never holds without a tolerance: out-of-order samples are late', async () => {
    const { engine } = await setup(0);
    engine.onSamples([other(T0 + 10 * SEC)]);
    engine.onSamples([other(T0 + 9 * SEC)]);
    engine.onSamples(quench(T0 + 11 * SEC));
    expect(stateOf(engine, 'quench')).toBe('firing');
    expect(engine.stats()).toMatchObject({ lateSamples: 1, reorderHolds: 0, holdingDevices: 0 });
  });

  it('after a restart, is out of order against what the store had', async () => {
    const dir = tempDir();
    cleanup.push(() => dir.remove());
    const telemetry = await openSqliteTelemetryStore({ file: join(dir.path, 'telemetry.db') });
    cleanup.push(() => telemetry.close());
    await telemetry.write([...normal(T0), ...normal(T0 + 10 * SEC)]);
    const { engine } = await setup();
    await engine.warmWindows(telemetry, T0 + 10 * SEC);
    engine.onSamples(normal(T0 + 5 * SEC));
    expect(engine.stats()).toMatchObject({ lateSamples: 2, reorderHolds: 1, holdingDevices: 1 });
  });

  it('shows its holds in /metrics', async () => {
    const { engine } = await setup();
    const registry = new Registry();
    registerEngineMetrics(registry, engine);
    engine.onSamples([other(T0 + 10 * SEC)]);
    engine.onSamples([other(T0)]);
    const text = await registry.metrics();
    expect(text).toMatch(/^guardian_rule_reorder_holds_total 1$/m);
    expect(text).toMatch(/^guardian_rule_reorder_holding_devices 1$/m);
    expect(text).toMatch(/^guardian_rule_late_samples_total 1$/m);
  });
});

describe('delivery out of order within the tolerance (property)', () => {
  /** Readings every 10 s for 8 minutes (inside REORDER_CALM_MS): helium about the raise level, the room warming at changing speed. */
  const STEP = 10 * SEC;
  const COUNT = 48;
  const readings = Array.from({ length: COUNT }, (_, i) => {
    const ts = T0 + i * STEP;
    const helium = 61 + 2.5 * Math.sin(i / 3) + 0.8 * Math.sin(i * 12.9898);
    // Flat, then rising 8 °C an hour for 160 s, then flat again.
    const room = 20 + ((Math.min(Math.max(i, 16), 32) - 16) * 8 * STEP) / (60 * MIN);
    return [sample('helium_level_pct', ts, helium), sample('magnet_room_temp_c', ts, room)];
  });

  /** Each reading (one message) delivered up to the tolerance after its time, in calls of 1–4 messages. */
  const deliveries = fc.record({
    delays: fc.array(fc.integer({ min: 0, max: TOLERANCE }), { minLength: COUNT, maxLength: COUNT }),
    chunks: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: COUNT, maxLength: COUNT }),
  });
  const calls = (delays: readonly number[], chunks: readonly number[]): Sample[][] => {
    const order = readings.map((r, i) => ({ r, at: r[0]!.ts + delays[i]!, i })).sort((a, b) => a.at - b.at || a.i - b.i);
    const out: Sample[][] = [];
    for (let k = 0, c = 0; k < order.length; c++) {
      const size = chunks[c % chunks.length]!;
      out.push(order.slice(k, k + size).flatMap((d) => d.r));
      k += size;
    }
    return out;
  };

  it('on a device that holds, gives the transitions of in-order delivery: thresholds with a hold, rates', async () => {
    expect(COUNT * STEP).toBeLessThan(REORDER_CALM_MS);
    // Both engines see the device reorder once before the readings (a metric no rule reads).
    const primer = [other(T0 - 20 * SEC), other(T0 - 30 * SEC)];
    const inOrder = await setup();
    inOrder.engine.onSamples([primer[1]!]);
    inOrder.engine.onSamples([primer[0]!]);
    for (const r of readings) inOrder.engine.onSamples(r);
    inOrder.engine.tick(T0 + COUNT * STEP + TOLERANCE);
    const expected = strip(inOrder.transitions);
    expect(new Set(inOrder.transitions.map((t) => t.rule))).toEqual(new Set(['helium-low', 'room-rate']));
    expect(inOrder.transitions.some((t) => t.kind === 'pending')).toBe(true);
    expect(inOrder.engine.stats()).toMatchObject({ lateSamples: 0, reorderHolds: 0 });

    await fc.assert(
      fc.asyncProperty(deliveries, async ({ delays, chunks }) => {
        const tolerant = await setup();
        tolerant.engine.onSamples([primer[0]!]);
        tolerant.engine.onSamples([primer[1]!]);
        for (const call of calls(delays, chunks)) tolerant.engine.onSamples(call);
        tolerant.engine.tick(T0 + COUNT * STEP + TOLERANCE);
        expect(strip(tolerant.transitions)).toEqual(expected);
        // The primer alone was late.
        expect(tolerant.engine.stats()).toMatchObject({ lateSamples: 1, reorderHolds: 1 });
      }),
      { numRuns: 40 },
    );
  });

  it('on a device that was in order, costs only what arrives older than what was evaluated before its first reorder', async () => {
    await fc.assert(
      fc.asyncProperty(deliveries, async ({ delays, chunks }) => {
        const delivered = calls(delays, chunks);
        // The newest time evaluated before the first call with a sample older than it: what arrives
        // older than that from then on is late; everything else is evaluated in order.
        let newest = Number.NEGATIVE_INFINITY;
        let evaluatedBefore: number | undefined;
        const late = new Set<Sample>();
        for (const call of delivered) {
          if (evaluatedBefore === undefined && call.some((s) => s.ts < newest)) evaluatedBefore = newest;
          if (evaluatedBefore !== undefined) for (const s of call) if (s.ts < evaluatedBefore) late.add(s);
          for (const s of call) newest = Math.max(newest, s.ts);
        }
        const tolerant = await setup();
        for (const call of delivered) tolerant.engine.onSamples(call);
        tolerant.engine.tick(T0 + COUNT * STEP + TOLERANCE);
        expect(tolerant.engine.stats()).toMatchObject({ lateSamples: late.size, reorderHolds: evaluatedBefore === undefined ? 0 : 1 });

        // Thresholds skip late samples: theirs are the transitions of the other samples in order.
        const reference = await setup();
        for (const r of readings) reference.engine.onSamples(r.filter((s) => !late.has(s)));
        reference.engine.tick(T0 + COUNT * STEP + TOLERANCE);
        const helium = (ts: ReadonlyArray<{ rule: string; kind: string; ts: number; grade?: string | undefined }>) => strip(ts.filter((t) => t.rule === 'helium-low'));
        expect(helium(tolerant.transitions)).toEqual(helium(reference.transitions));
      }),
      { numRuns: 40 },
    );
  });
});
