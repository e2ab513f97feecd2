import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuleEngine } from '../../rules/engine.js';
import type { SilenceLookup } from '../../src/kernel/ports/silence-lookup.js';
import type { AlertTransition } from '../../src/kernel/alerts.js';
import { RuleSet } from '../../rules/rule-set.js';
import { silentLogger } from '../../src/app/log.js';
import { openSqliteTelemetryStore } from '../../src/storage/sqlite-telemetry-store.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { tempDir } from '../helpers.js';
import { MemoryAlertStore, MemoryDirectory } from './engine-support.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const logger = silentLogger();
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const MR_PACK = `
pack: mr-test
modality: MR
rules:
  - id: room-rate
    kind: rate
    metric: magnet_room_temp_c
    window: 1h
    direction: rise
    per_hour: { minor: 3, general: 6 }
    message: { zh: "{{device}} 升温 {{rate}}{{unit}}/小时（{{window}}）", en: "{{device}} warming {{rate}}{{unit}}/h over {{window}}" }
  - id: shield-anomaly
    kind: anomaly
    metric: shield_temp_k
    method: mad
    window: 2d
    k: 5
    side: above
    persist: 1h
    grade: minor
    message: { zh: "{{device}} 冷屏 {{value}} 偏离基线 {{baseline}}", en: "{{device}} shield {{value}} off its baseline {{baseline}} ({{score}} sd)" }
  - id: chiller-ewma
    kind: anomaly
    metric: chilled_water_temp_c
    method: ewma
    alpha: 0.1
    window: 2d
    k: 6
    persist: 30m
    grade: general
    message: { zh: "{{device}} 冷水温度异常", en: "{{device}} chilled water unusual" }
  - id: compressor-stopped
    kind: composite
    mode: all
    conditions:
      - { metric: compressor_running, op: "==", value: 0 }
      - { metric: shield_temp_k, op: ">", value: 45 }
    for: 10m
    grade: severe
    message: { zh: "{{device}} 压缩机停机且冷屏升温", en: "{{device}} compressor off and shield warming" }
  - id: helium-low
    kind: threshold
    metric: helium_level_pct
    direction: below
    levels: { general: { raise: 60, clear: 62 } }
    message: { zh: "{{device}} 液氦 {{value}}", en: "{{device}} helium {{value}}" }
  - id: helium-low-and-compressor
    kind: composite
    mode: all
    conditions:
      - { rule: helium-low, state: firing }
      - { metric: compressor_running, op: "==", value: 0 }
    grade: emergency
    message: { zh: "{{device}} 液氦低且压缩机停机", en: "{{device}} helium low with compressor off" }
  - id: helium-silent
    kind: nodata
    metric: helium_level_pct
    after: 2h
    grade: general
    treat_as: alert
    message: { zh: "{{device}} {{silence}} 无液氦数据", en: "{{device}} no helium data for {{silence}}" }
  - id: device-silent
    kind: nodata
    metric: any
    after: 30m
    grade: minor
    treat_as: keep_state
    message: { zh: "{{device}} 离线", en: "{{device}} silent" }
`;

const CT_PACK = `
pack: ct-test
modality: CT
rules:
  - id: arcs
    kind: event_count
    metric: tube_arc_count
    window: 1d
    levels: { minor: 5, general: 20 }
    message: { zh: "{{device}} {{window}}内打火 {{count}} 次", en: "{{device}} {{count}} arcs within {{window}}" }
  - id: aborts
    kind: event_count
    code: SCAN_ABORT
    window: 1h
    levels: { general: 3 }
    message: { zh: "{{device}} {{window}}内扫描中断 {{count}} 次", en: "{{device}} {{count}} scan aborts ({{code}}) within {{window}}" }
  - id: room-silent-ok
    kind: nodata
    metric: room_temp_c
    after: 1h
    grade: minor
    treat_as: ok
    message: { zh: "{{device}} 无室温数据", en: "{{device}} no room temperature" }
  - id: room-hot
    kind: threshold
    metric: room_temp_c
    direction: above
    levels: { minor: { raise: 26, clear: 25 } }
    message: { zh: "{{device}} 室温 {{value}}", en: "{{device}} room {{value}}" }
  - id: room-stuck
    kind: stuck
    metric: room_temp_c
    after: 1h
    tolerance: 0.05
    min_samples: 5
    grade: minor
    message: { zh: "{{device}} 室温读数 {{unchanged}}未变化", en: "{{device}} room temperature unchanged for {{unchanged}} (limit {{after}})" }
  - id: room-humid
    kind: threshold
    metric: room_humidity_pct
    direction: above
    for: 10m
    levels: { general: { raise: 70, clear: 60 } }
    message: { zh: "{{device}} 湿度 {{value}} 高于 {{threshold}}", en: "{{device}} humidity {{value}} above {{threshold}}" }
`;

/** An engine on the rule packs above, its ports in memory; pass `store` to restart on the alerts another engine saved. */
async function setup(options: { reorderMs?: number; silences?: SilenceLookup; store?: MemoryAlertStore; now?: () => number } = {}) {
  const dir = tempDir();
  cleanup.push(() => dir.remove());
  const packs = join(dir.path, 'packs');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(packs, { recursive: true });
  writeFileSync(join(packs, 'mr.yaml'), MR_PACK);
  writeFileSync(join(packs, 'ct.yaml'), CT_PACK);
  const store = options.store ?? new MemoryAlertStore();
  const registry = new MemoryDirectory(
    [{ id: 'h1', name: 'h1', timezone: 'Asia/Shanghai' }],
    [
      { id: 'MR-1', site: 'h1', modality: 'MR', vendor: 'GE', model: 'SIGNA' },
      { id: 'CT-1', site: 'h1', modality: 'CT', vendor: 'GE', model: 'Revolution' },
    ],
  );
  const rules = new RuleSet(packs, logger);
  const loaded = await rules.load();
  expect(loaded).toMatchObject({ ok: true });
  const engine = new RuleEngine({
    rules,
    registry,
    repository: store,
    logger,
    ...(options.reorderMs !== undefined && { reorderMs: options.reorderMs }),
    ...(options.silences && { silences: options.silences }),
    ...(options.now && { now: options.now }),
  });
  await engine.warm();
  const transitions: Array<AlertTransition & { rule: string; silencedBy?: string }> = [];
  engine.onTransition((alert, ts) => transitions.push(...ts.map((t) => ({ ...t, rule: alert.ruleId, ...(alert.silencedBy && { silencedBy: alert.silencedBy }) }))));
  return { store, registry, engine, transitions };
}

/** A deterministic noise in [-1, 1]. */
const noise = (i: number) => Math.sin(i * 12.9898) * 0.7 + Math.sin(i * 78.233) * 0.3;
const series = (deviceId: string, metric: string, from: number, count: number, stepMs: number, value: (i: number, ts: number) => number): Sample[] =>
  Array.from({ length: count }, (_, i) => ({ deviceId, metric, ts: from + i * stepMs, value: value(i, from + i * stepMs) }));
const fired = <T extends { kind: string; rule: string }>(transitions: readonly T[], rule: string): T[] => transitions.filter((t) => t.rule === rule && t.kind === 'fired');
/**
 * One sample out of order just before `ts`, of a metric no rule here reads: a device in order has
 * its samples evaluated at once, one seen out of order within the tolerance has them held from then
 * on. The second sample is late (counted), and the device holds for the next 10 minutes of its time.
 */
const reorderOnce = (engine: RuleEngine, deviceId: string, ts: number) => {
  engine.onSamples([{ deviceId, metric: 'heater_power_w', ts: ts - 1_000, value: 1.8 }]);
  engine.onSamples([{ deviceId, metric: 'heater_power_w', ts: ts - 2_000, value: 1.8 }]);
};

describe('threshold rules with a hold and hysteresis', () => {
  const humidity = (minute: number, value: number): Sample => ({ deviceId: 'CT-1', metric: 'room_humidity_pct', ts: T0 + minute * MIN, value });

  it('a pending hold is met only by values at the raise level, not by ones the hysteresis band would keep', async () => {
    const { engine, transitions } = await setup();
    // 71 once, then 65 for 20 minutes: over the clear level (60) but under the raise level (70).
    engine.onSamples([humidity(0, 71), ...Array.from({ length: 20 }, (_, i) => humidity(i + 1, 65))]);
    expect(fired(transitions, 'room-humid')).toEqual([]);
    expect(transitions.filter((t) => t.rule === 'room-humid').map((t) => t.kind)).toEqual(['pending', 'cancelled']);
    // At the level for the whole hold: fires.
    engine.onSamples(Array.from({ length: 12 }, (_, i) => humidity(30 + i, 72)));
    expect(fired(transitions, 'room-humid')).toHaveLength(1);
  });

  it('once fired, hysteresis holds the alert, and the message keeps the value that reached the level, saying when', async () => {
    let wall = 0;
    // Every message may be re-rendered: the wall clock moves 10 minutes per evaluation.
    const { engine, transitions } = await setup({ now: () => (wall += 10 * MIN) });
    engine.onSamples(Array.from({ length: 12 }, (_, i) => humidity(i, 72)));
    expect(fired(transitions, 'room-humid')).toHaveLength(1);
    engine.onSamples(Array.from({ length: 30 }, (_, i) => humidity(12 + i, 65)));
    const alert = engine.list().find((a) => a.ruleId === 'room-humid')!;
    expect(alert.record.state).toBe('firing');
    expect(alert.record.lastValue).toBe(65);
    // Not "65 above 70": the figures of the last sample at the level, and when that was.
    expect(alert.message.en).toBe('CT-1 humidity 72 above 70 (as of 2026-11-01 08:11)');
    expect(alert.message.zh).toBe('CT-1 湿度 72 高于 70（2026-11-01 08:11 时）');
    // Past the clear level: resolves.
    engine.onSamples([humidity(50, 59)]);
    expect(transitions.filter((t) => t.rule === 'room-humid').map((t) => t.kind)).toEqual(['pending', 'fired', 'resolved']);
  });

  it('a condition that keeps coming and going inside its hold never marks the alert flapping or notifies', async () => {
    const { engine, transitions } = await setup();
    // Over the level every other minute for two hours: pending, cancelled, pending… never fired.
    engine.onSamples(Array.from({ length: 120 }, (_, i) => humidity(i, i % 2 === 0 ? 75 : 50)));
    const mine = transitions.filter((t) => t.rule === 'room-humid');
    expect(mine.length).toBeGreaterThan(100);
    expect(new Set(mine.map((t) => t.kind))).toEqual(new Set(['pending', 'cancelled']));
    expect(mine.filter((t) => t.notify)).toEqual([]);
    expect(engine.list().find((a) => a.ruleId === 'room-humid')?.record.flapping).toBe(false);
  });
});

describe('stuck rules', () => {
  const room = (minute: number, value: number): Sample => ({ deviceId: 'CT-1', metric: 'room_temp_c', ts: T0 + minute * MIN, value });

  it('raise on readings that stop changing for the whole hold, not on a live noisy probe, and resolve when they move', async () => {
    const { engine, transitions } = await setup();
    // Three hours of a live probe: it moves by tenths.
    engine.onSamples(Array.from({ length: 180 }, (_, i) => room(i, 21 + Math.round(noise(i) * 3) / 10)));
    expect(fired(transitions, 'room-stuck')).toEqual([]);
    // Then the same reading (within ±0.05) for 70 minutes.
    engine.onSamples(Array.from({ length: 70 }, (_, i) => room(180 + i, i % 2 === 0 ? 21.3 : 21.33)));
    expect(fired(transitions, 'room-stuck').map((t) => [t.ts - T0, t.grade])).toEqual([[(180 + 60) * MIN, 'minor']]);
    const alert = engine.list().find((a) => a.ruleId === 'room-stuck')!;
    // As long as it is unchanged now (180 → 249 min), not as long as it was when it fired.
    expect(alert.message.en).toBe('CT-1 room temperature unchanged for 1.2 hours (limit 1 hour)');
    engine.onSamples([room(251, 21.5)]);
    expect(transitions.filter((t) => t.rule === 'room-stuck' && t.notify).map((t) => t.kind)).toEqual(['fired', 'resolved']);
  });

  it('need enough readings: a rarely reported metric that repeats itself is not stuck', async () => {
    const { engine, transitions } = await setup();
    // Four identical readings over 90 minutes: long enough, but fewer than min_samples (5).
    engine.onSamples([0, 30, 60, 90].map((m) => room(m, 21)));
    expect(fired(transitions, 'room-stuck')).toEqual([]);
    engine.onSamples([room(100, 21)]);
    expect(fired(transitions, 'room-stuck')).toHaveLength(1);
  });

  it('after a restart an open stuck alert is neither resolved nor fired again by the same reading', async () => {
    const first = await setup();
    first.engine.onSamples(Array.from({ length: 70 }, (_, i) => room(i, 22)));
    expect(fired(first.transitions, 'room-stuck')).toHaveLength(1);
    await first.engine.flush();

    const second = await setup({ store: first.store });
    second.engine.onSamples(Array.from({ length: 90 }, (_, i) => room(70 + i, 22)));
    expect(second.transitions.filter((t) => t.rule === 'room-stuck')).toEqual([]);
    expect(second.engine.list().find((a) => a.ruleId === 'room-stuck')?.record).toMatchObject({ state: 'firing', triggerCount: 1 });
    second.engine.onSamples([room(161, 22.4)]);
    expect(second.transitions.filter((t) => t.rule === 'room-stuck').map((t) => t.kind)).toEqual(['resolved']);
  });
});

describe('rate rules', () => {
  it('raise on a real rise and grade it per hour, but not on probe noise around a steady level', async () => {
    const { engine, transitions } = await setup();
    // Six hours steady at 18 °C with ±0.4 °C noise every minute: no rate alert.
    engine.onSamples(series('MR-1', 'magnet_room_temp_c', T0, 360, MIN, (i) => 18 + 0.4 * noise(i)));
    expect(fired(transitions, 'room-rate')).toEqual([]);
    // Then warming 8 °C/h (air conditioning failed).
    engine.onSamples(series('MR-1', 'magnet_room_temp_c', T0 + 6 * HOUR, 90, MIN, (i) => 18 + (8 * i) / 60 + 0.4 * noise(i + 360)));
    const alert = engine.list().find((a) => a.ruleId === 'room-rate');
    expect(alert?.record.state).toBe('firing');
    expect(alert?.record.grade).toBe('general');
    // Refitted every tenth of the window: it fires on the first fit above 6 °C/h.
    expect(alert!.record.lastValue!).toBeGreaterThan(6);
    expect(alert!.record.lastValue!).toBeLessThan(9);
    expect(alert!.message.en).toMatch(/warming [678]\.\d+°C\/h over 1 hour/);
    expect(alert!.message.zh).toContain('1 小时');
  });
});

describe('anomaly rules', () => {
  it('record a single spike without alerting, and alert on a deviation that persists', async () => {
    const { engine, transitions } = await setup();
    const baseline = series('MR-1', 'shield_temp_k', T0, 2 * 24 * 60, MIN, (i) => 40 + 0.2 * noise(i));
    engine.onSamples(baseline);
    // One 10-minute spike of +3 K: recorded, no alert.
    const t1 = T0 + 2 * DAY;
    engine.onSamples(series('MR-1', 'shield_temp_k', t1, 10, MIN, () => 43));
    engine.onSamples(series('MR-1', 'shield_temp_k', t1 + 10 * MIN, 60, MIN, (i) => 40 + 0.2 * noise(i)));
    expect(fired(transitions, 'shield-anomaly')).toEqual([]);
    // The spike is on the rule's record (it went pending, then was cancelled).
    const spiky = engine.list().find((a) => a.ruleId === 'shield-anomaly');
    expect(spiky?.record.state).toBe('normal');
    expect(spiky?.condition).toMatchObject({ spikes: 1, lastSpikeAt: expect.any(Number) });
    expect(engine.stats().spikes).toBe(1);
    // A step of +2 K that stays: fires once the hour of persistence has passed.
    const t2 = t1 + 2 * HOUR;
    engine.onSamples(series('MR-1', 'shield_temp_k', t2, 120, MIN, (i) => 42 + 0.2 * noise(i)));
    const [fire] = fired(transitions, 'shield-anomaly');
    expect(fire).toBeDefined();
    expect(fire!.ts - t2).toBeGreaterThanOrEqual(HOUR);
    expect(fire!.ts - t2).toBeLessThan(HOUR + 5 * MIN);
    const alert = engine.list().find((a) => a.ruleId === 'shield-anomaly')!;
    expect(alert.condition.baseline).toBeCloseTo(40, 0);
    expect(alert.condition.spikes).toBe(1);
    expect(alert.message.en).toMatch(/^MR-1 shield 4[12](\.\d+)? off its baseline 40(\.\d+)? \(\d+(\.\d)? sd\)$/);
  });

  it('ewma: a noisy but steady signal never alerts; a sustained jump does', async () => {
    const { engine, transitions } = await setup();
    engine.onSamples(series('MR-1', 'chilled_water_temp_c', T0, 3 * 24 * 60, MIN, (i) => 14 + 0.5 * noise(i) + 0.3 * Math.sin((i / 1440) * 2 * Math.PI)));
    expect(fired(transitions, 'chiller-ewma')).toEqual([]);
    engine.onSamples(series('MR-1', 'chilled_water_temp_c', T0 + 3 * DAY, 90, MIN, (i) => 22 + 0.5 * noise(i)));
    expect(fired(transitions, 'chiller-ewma')).toHaveLength(1);
  });
});

describe('event-count rules', () => {
  it('count counter increments over a sliding day and grade by count', async () => {
    const { engine, transitions } = await setup();
    // Two arcs an hour from a counter reported every 30 min: 48 a day → general from the 20th.
    engine.onSamples(series('CT-1', 'tube_arc_count', T0, 48, 30 * MIN, () => 1));
    const alert = engine.list().find((a) => a.ruleId === 'arcs')!;
    expect(alert.record.state).toBe('firing');
    expect(alert.record.grade).toBe('general');
    expect(transitions.filter((t) => t.rule === 'arcs').map((t) => `${t.kind}:${t.grade}`)).toEqual(['fired:minor', 'escalated:general']);
    expect(alert.message.en).toMatch(/^CT-1 \d+ arcs within 1 day$/);
    // A quiet day later the window is empty again and the alert resolves.
    engine.onSamples(series('CT-1', 'tube_arc_count', T0 + DAY, 50, 30 * MIN, () => 0));
    expect(engine.list().find((a) => a.ruleId === 'arcs')!.record.state).not.toBe('firing');
  });

  it('count device event codes within the window', async () => {
    const { engine } = await setup();
    const abort = (minute: number) => ({ deviceId: 'CT-1', ts: T0 + minute * MIN, code: 'SCAN_ABORT' });
    engine.onEvents([abort(0), abort(50)]);
    expect(engine.list().find((a) => a.ruleId === 'aborts')).toBeUndefined();
    engine.onEvents([abort(55), { deviceId: 'CT-1', ts: T0 + 56 * MIN, code: 'OTHER' }]);
    const alert = engine.list().find((a) => a.ruleId === 'aborts')!;
    expect(alert.record).toMatchObject({ state: 'firing', grade: 'general', lastValue: 3 });
    expect(alert.message.en).toBe('CT-1 3 scan aborts (SCAN_ABORT) within 1 hour');
  });
});

describe('composite rules', () => {
  it('need all metric conditions for their hold time, on the latest value of each', async () => {
    const { engine, transitions } = await setup();
    engine.onSamples([
      ...series('MR-1', 'compressor_running', T0, 30, MIN, (i) => (i < 5 ? 1 : 0)),
      ...series('MR-1', 'shield_temp_k', T0, 30, MIN, (i) => 40 + i * 0.5),
    ]);
    // Compressor off from minute 5, shield above 45 K from minute 11; fires 10 minutes later.
    const [fire] = fired(transitions, 'compressor-stopped');
    expect(fire?.ts).toBe(T0 + 21 * MIN);
    expect(fire?.grade).toBe('severe');
    engine.onSamples(series('MR-1', 'compressor_running', T0 + 30 * MIN, 1, MIN, () => 1));
    expect(transitions.some((t) => t.rule === 'compressor-stopped' && t.kind === 'resolved')).toBe(true);
  });

  it('can require another rule to be firing', async () => {
    const { engine, transitions } = await setup();
    engine.onSamples(series('MR-1', 'compressor_running', T0, 3, MIN, () => 0));
    expect(fired(transitions, 'helium-low-and-compressor')).toEqual([]);
    engine.onSamples(series('MR-1', 'helium_level_pct', T0 + 3 * MIN, 3, MIN, () => 55));
    expect(fired(transitions, 'helium-low')).toHaveLength(1);
    expect(fired(transitions, 'helium-low-and-compressor').map((t) => t.grade)).toEqual(['emergency']);
  });
});

describe('no-data rules', () => {
  it('raise on silence of a metric measured on the engine clock, hold other alerts of it in no-data, and resolve when data returns', async () => {
    const { engine, transitions } = await setup();
    engine.tick(T0);
    engine.onSamples(series('MR-1', 'helium_level_pct', T0, 10, MIN, () => 55));
    expect(engine.list().find((a) => a.ruleId === 'helium-low')?.record.state).toBe('firing');
    engine.tick(T0 + 2 * HOUR);
    expect(fired(transitions, 'helium-silent')).toEqual([]);
    engine.tick(T0 + 2 * HOUR + 10 * MIN);
    const [fire] = fired(transitions, 'helium-silent');
    expect(fire?.grade).toBe('general');
    // The event time of the alert is the last sample plus `after`.
    expect(fire?.ts).toBe(T0 + 9 * MIN + 2 * HOUR);
    expect(engine.list().find((a) => a.ruleId === 'helium-low')?.record.state).toBe('nodata');
    expect(engine.list().find((a) => a.ruleId === 'helium-silent')!.message.en).toMatch(/^MR-1 no helium data for 2(\.\d)? hours$/);
    expect(engine.list().find((a) => a.ruleId === 'helium-silent')!.message.zh).toMatch(/^MR-1 2(\.\d)? 小时 无液氦数据$/);
    // Data is back.
    engine.onSamples(series('MR-1', 'helium_level_pct', T0 + 3 * HOUR, 2, MIN, () => 55));
    expect(transitions.some((t) => t.rule === 'helium-silent' && t.kind === 'resolved')).toBe(true);
    expect(engine.list().find((a) => a.ruleId === 'helium-low')?.record.state).toBe('firing');
    expect(fired(transitions, 'helium-low')).toHaveLength(1);
  });

  it('a backfill of old samples is not silence, and `ok` lets the silent metric’s alerts resolve without alerting', async () => {
    const { engine, transitions } = await setup();
    const now = T0 + 10 * DAY;
    engine.tick(now);
    // Samples a week old arrive now (a backfill): not silent, the clock says they just arrived.
    engine.onSamples(series('MR-1', 'helium_level_pct', T0, 10, MIN, () => 80));
    engine.tick(now + 20 * MIN);
    expect(fired(transitions, 'device-silent')).toEqual([]);
    expect(fired(transitions, 'helium-silent')).toEqual([]);

    engine.onSamples(series('CT-1', 'room_temp_c', now, 5, MIN, () => 27));
    expect(engine.list().find((a) => a.ruleId === 'room-hot')?.record.state).toBe('firing');
    engine.tick(now + 2 * HOUR);
    expect(fired(transitions, 'room-silent-ok')).toEqual([]);
    expect(transitions.some((t) => t.rule === 'room-hot' && t.kind === 'resolved')).toBe(true);
  });

  it('a device that reported offline is silent from its status time', async () => {
    const { engine, registry, transitions } = await setup();
    engine.tick(T0);
    engine.onSamples(series('MR-1', 'magnet_room_temp_c', T0, 5, MIN, () => 18));
    await registry.recordStatus('MR-1', 'offline', T0 + 5 * MIN);
    engine.tick(T0 + 36 * MIN);
    expect(fired(transitions, 'device-silent').map((t) => t.grade)).toEqual(['minor']);
    // keep_state: the other alerts are left alone.
    expect(engine.list().filter((a) => a.record.state === 'nodata')).toEqual([]);
  });
});

describe('silences', () => {
  it('hold notifications: the alert is evaluated and kept, and marked with the silence', async () => {
    const silences: SilenceLookup = {
      activeFor: (target, ts) => (target.deviceId === 'MR-1' && ts < T0 + HOUR ? { id: 'maint-1' } : undefined),
    };
    const { engine, transitions } = await setup({ silences });
    engine.onSamples(series('MR-1', 'helium_level_pct', T0, 3, MIN, () => 55));
    const alert = engine.list().find((a) => a.ruleId === 'helium-low')!;
    expect(alert.record.state).toBe('firing');
    expect(alert.silencedBy).toBe('maint-1');
    expect(transitions.find((t) => t.rule === 'helium-low' && t.kind === 'fired')?.silencedBy).toBe('maint-1');
    // After the window a new notifying transition is not held.
    engine.onSamples(series('MR-1', 'helium_level_pct', T0 + 2 * HOUR, 1, MIN, () => 70));
    const resolved = engine.list().find((a) => a.ruleId === 'helium-low')!;
    expect(resolved.record.state).toBe('resolved');
    expect(resolved.silencedBy).toBeUndefined();
    expect(transitions.find((t) => t.rule === 'helium-low' && t.kind === 'resolved')?.silencedBy).toBeUndefined();
  });
});

describe('a rule that cannot be evaluated', () => {
  it('goes to the error state once, and the other rules of the batch still run', async () => {
    const { engine, transitions } = await setup();
    const rules = (engine as unknown as { options: { rules: RuleSet } }).options.rules;
    const original = rules.forDevice.bind(rules);
    // A rate rule whose window is not a number cannot build its window (the schema refuses
    // such a pack; this one is handed to the engine directly).
    rules.forDevice = (device) => [
      ...original(device),
      { id: 'broken-rate', kind: 'rate', enabled: true, metric: 'helium_level_pct', window: Number.NaN, direction: 'either', per_hour: { minor: 1 }, message: { zh: 'x', en: 'x' } },
    ];
    engine.onSamples(series('MR-1', 'helium_level_pct', T0, 3, MIN, () => 55));
    const broken = engine.list().find((a) => a.ruleId === 'broken-rate');
    expect(broken?.record).toMatchObject({ state: 'error', lastError: expect.stringMatching(/bad window/) });
    expect(transitions.filter((t) => t.rule === 'broken-rate').map((t) => t.kind)).toEqual(['error']);
    expect(engine.list().find((a) => a.ruleId === 'helium-low')?.record.state).toBe('firing');
  });
});

describe('event time and restarts', () => {
  it('any delivery order within the tolerance, in any chunks, gives the in-order transitions on a device that reorders (property)', async () => {
    // 40 readings 15 s apart: all within the 10 minutes a device holds after its last reorder.
    const STEP = 15_000;
    const ordered = series('MR-1', 'helium_level_pct', T0, 40, STEP, (i) => 60 + 5 * noise(i));
    const strip = (ts: ReadonlyArray<{ kind: string; ts: number; rule: string }>) => ts.map((t) => `${t.rule}:${t.kind}:${t.ts}`);
    const inOrder = await setup();
    inOrder.engine.onSamples(ordered);
    const expected = strip(inOrder.transitions);
    expect(expected.length).toBeGreaterThan(3);
    await fc.assert(
      fc.asyncProperty(
        // Each sample is delivered up to 4 steps late (the tolerance is 5 minutes), in chunks of 1–6.
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 40, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 40, maxLength: 40 }),
        async (delays, chunks) => {
          const deliveries = ordered.map((s, i) => ({ s, at: s.ts + delays[i]! * STEP, i })).sort((a, b) => a.at - b.at || a.i - b.i);
          const tolerant = await setup({ reorderMs: 5 * MIN });
          reorderOnce(tolerant.engine, 'MR-1', T0);
          for (let k = 0, c = 0; k < deliveries.length; c++) {
            const size = chunks[c % chunks.length]!;
            tolerant.engine.onSamples(deliveries.slice(k, k + size).map((d) => d.s));
            k += size;
          }
          tolerant.engine.tick(T0 + 2 * HOUR);
          expect(strip(tolerant.transitions)).toEqual(expected);
          // Only the sample that showed the device reorders.
          expect(tolerant.engine.stats().lateSamples).toBe(1);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('evaluates samples that arrive out of order within the tolerance as if they had not, once the device is seen to reorder', async () => {
    const ordered = series('MR-1', 'helium_level_pct', T0, 20, MIN, (i) => (i % 2 === 0 ? 70 : 59));
    // Each block of four minutes arrives newest first, one sample per delivery: at most 3 minutes late.
    const disordered = [0, 1, 2, 3, 4].flatMap((b) => ordered.slice(b * 4, b * 4 + 4).reverse());
    const strip = (ts: ReadonlyArray<{ kind: string; ts: number; rule: string }>) => ts.map((t) => `${t.rule}:${t.kind}:${t.ts}`);
    const inOrder = await setup();
    inOrder.engine.onSamples(ordered);
    expect(inOrder.transitions.length).toBeGreaterThan(5);

    const tolerant = await setup({ reorderMs: 5 * MIN });
    reorderOnce(tolerant.engine, 'MR-1', T0);
    for (const s of disordered) tolerant.engine.onSamples([s]);
    tolerant.engine.tick(T0 + HOUR);
    expect(strip(tolerant.transitions)).toEqual(strip(inOrder.transitions));
    expect(tolerant.engine.stats().lateSamples).toBe(1);

    // Without the tolerance the same deliveries are late and thresholds skip them.
    const strict = await setup();
    for (const s of disordered) strict.engine.onSamples([s]);
    expect(strict.engine.stats().lateSamples).toBe(15);
    // Every call is timed: the engine's share of the event loop is readable from its stats.
    const busy = strict.engine.stats().busyMs;
    expect(busy).toBeGreaterThan(0);
    strict.engine.onSamples(series('MR-1', 'helium_level_pct', T0 + HOUR, 200, MIN, (i) => 70 + noise(i)));
    expect(strict.engine.stats().busyMs).toBeGreaterThan(busy);
    expect(strip(strict.transitions)).not.toEqual(strip(inOrder.transitions));
  });

  it('warms windows from the store after a restart, so a rate in progress is not forgotten', async () => {
    const dir = tempDir();
    cleanup.push(() => dir.remove());
    const store = await openSqliteTelemetryStore({ file: join(dir.path, 'telemetry.db') });
    cleanup.push(() => store.close());
    const history = series('MR-1', 'magnet_room_temp_c', T0, 40, MIN, (i) => 18 + (8 * i) / 60);
    await store.write(history);
    const first = await setup();
    const warmed = await first.engine.warmWindows(store, T0 + 40 * MIN);
    expect(warmed.windows).toBeGreaterThan(0);
    // One more minute of warming raises at once: the window already holds 40 minutes.
    first.engine.onSamples(series('MR-1', 'magnet_room_temp_c', T0 + 40 * MIN, 2, MIN, (i) => 18 + (8 * (40 + i)) / 60));
    expect(fired(first.transitions, 'room-rate').map((t) => t.grade)).toEqual(['general']);
  });
});
