import { afterEach, describe, expect, it } from 'vitest';
import type { SilenceLookup } from '../../src/kernel/ports/silence-lookup.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { tempDir } from '../helpers.js';
import { MemoryAlertStore, memoryEngine } from './engine-support.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const WALL = Date.parse('2026-11-20T08:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup.splice(0).reverse()) fn();
});

const MR_PACK = `
pack: mr-test
modality: MR
rules:
  - id: helium-low
    kind: threshold
    metric: helium_level_pct
    direction: below
    levels: { general: { raise: 60, clear: 62 }, severe: { raise: 50, clear: 52 } }
    message: { zh: "{{device}} 液氦 {{value}}% 低于 {{threshold}}%", en: "{{device}} helium {{value}}% below {{threshold}}%" }
  - id: helium-forecast
    kind: trend
    metric: helium_level_pct
    window: 1d
    direction: below
    threshold: 50
    horizon: 30d
    grades: { minor: 30d, general: 14d }
    min_points: 12
    message: { zh: "{{device}} 液氦约 {{eta}} 后降至 {{threshold}}%", en: "{{device}} helium reaches {{threshold}}% in about {{eta}}" }
  - id: compressor-and-shield
    kind: composite
    mode: all
    conditions:
      - { metric: compressor_running, op: "==", value: 0 }
      - { metric: shield_temp_k, op: ">", value: 45 }
    for: 5m
    grade: severe
    message: { zh: "{{device}} 压缩机停机且冷屏升温", en: "{{device}} compressor off and shield warming" }
  - id: room-warm
    kind: threshold
    metric: magnet_room_temp_c
    direction: above
    fault_type: power
    levels: { minor: { raise: 25, clear: 24 } }
    message: { zh: "{{device}} 室温 {{value}}", en: "{{device}} room {{value}}" }
`;

async function setup(options: { store?: MemoryAlertStore; silences?: SilenceLookup } = {}) {
  const dir = tempDir();
  cleanup.push(() => dir.remove());
  return memoryEngine(dir.path, { 'mr.yaml': MR_PACK }, { now: () => WALL, ...options });
}

const series = (metric: string, from: number, count: number, stepMs: number, value: (i: number) => number): Sample[] =>
  Array.from({ length: count }, (_, i) => ({ deviceId: 'MR-1', metric, ts: from + i * stepMs, value: value(i) }));

describe('alert changes go to the outbox with their alerts', () => {
  it('a notifying transition writes one change carrying what a work order or a push needs, in the save of its alert', async () => {
    const { engine, store } = await setup();
    engine.onSamples(series('helium_level_pct', T0, 2, MIN, () => 55));
    await engine.settled();
    expect(store.calls).toHaveLength(1);
    const [call] = store.calls;
    expect(call!.alerts.map((a) => a.ruleId)).toEqual(['helium-low']);
    expect(call!.changes).toEqual([
      {
        id: expect.any(String) as string,
        identity: 'MR-1/helium-low',
        deviceId: 'MR-1',
        siteId: 'h1',
        ruleId: 'helium-low',
        pack: 'mr-test',
        ruleKind: 'threshold',
        faultType: 'cryogenics',
        state: 'firing',
        grade: 'general',
        value: 55,
        activeAt: T0,
        message: { zh: 'MR-1 液氦 55% 低于 60%', en: 'MR-1 helium 55% below 60%' },
        transitions: [{ from: 'normal', to: 'firing', grade: 'general', ts: T0, kind: 'fired', notify: true }],
        at: WALL,
      },
    ]);
    // The same value again changes nothing worth a change; an escalation is one.
    engine.onSamples(series('helium_level_pct', T0 + 2 * MIN, 1, MIN, () => 48));
    await engine.flush();
    expect(store.changes.map((c) => [c.state, c.grade, c.transitions.map((t) => t.kind)])).toEqual([
      ['firing', 'general', ['fired']],
      ['firing', 'severe', ['escalated']],
    ]);
  });

  it('internal steps (a pending hold) write the alert but no change', async () => {
    const { engine, store } = await setup();
    engine.onSamples([...series('compressor_running', T0, 2, MIN, () => 0), ...series('shield_temp_k', T0, 2, MIN, () => 50)]);
    await engine.flush();
    expect(store.rows.get('MR-1/compressor-and-shield')?.state).toBe('pending');
    expect(store.changes).toEqual([]);
    // Held for 5 minutes: fired, and its fault type comes from its first metric.
    engine.onSamples([...series('compressor_running', T0 + 2 * MIN, 5, MIN, () => 0), ...series('shield_temp_k', T0 + 2 * MIN, 5, MIN, () => 50)]);
    await engine.flush();
    expect(store.changes.map((c) => [c.ruleId, c.ruleKind, c.faultType, c.state, c.activeAt])).toEqual([['compressor-and-shield', 'composite', 'cryogenics', 'firing', T0]]);
  });

  it('a rule’s own fault type wins over its metric’s; a silence in force is recorded on the change', async () => {
    const silences: SilenceLookup = { activeFor: (target) => (target.ruleId === 'room-warm' ? { id: 'maint-7' } : undefined) };
    const { engine, store } = await setup({ silences });
    engine.onSamples(series('magnet_room_temp_c', T0, 1, MIN, () => 26));
    await engine.flush();
    expect(store.changes).toHaveLength(1);
    expect(store.changes[0]).toMatchObject({ ruleId: 'room-warm', faultType: 'power', silencedBy: 'maint-7', grade: 'minor' });
  });

  it('a forecast travels with the change of a trend alert', async () => {
    const { engine, store } = await setup();
    // Falling 3 %/day from 70 %: 50 % is ≈ 6.7 days away — general (≤ 14 days).
    engine.onSamples(series('helium_level_pct', T0, 2 * 24 * 4, 15 * MIN, (i) => 70 - (3 * i) / 96));
    await engine.flush();
    const change = store.changes.find((c) => c.ruleId === 'helium-forecast');
    expect(change).toMatchObject({ ruleKind: 'trend', faultType: 'cryogenics', state: 'firing' });
    const alert = engine.list().find((a) => a.ruleId === 'helium-forecast')!;
    expect(change!.forecast).toBeDefined();
    expect(change!.forecast!.crossingAt).toBeGreaterThan(T0 + 6 * 24 * HOUR);
    // The forecast of the change is the one the alert had when it changed.
    expect(store.changes.filter((c) => c.ruleId === 'helium-forecast').at(-1)!.grade).toBe(alert.record.grade);
  });

  it('a save that fails once, then succeeds, still writes the change exactly once, ahead of the changes made since', async () => {
    const store = new MemoryAlertStore();
    store.failNext = 1;
    const { engine } = await setup({ store });
    engine.onSamples(series('helium_level_pct', T0, 1, MIN, () => 55));
    await engine.settled();
    expect(store.calls.map((c) => [c.failed, c.changes.length])).toEqual([[true, 1]]);
    expect(store.changes).toEqual([]);
    expect(store.rows.size).toBe(0);

    // The next change of the alert: its save carries both changes, in order.
    engine.onSamples(series('helium_level_pct', T0 + MIN, 1, MIN, () => 70));
    await engine.settled();
    expect(store.calls.map((c) => [c.failed, c.changes.length])).toEqual([
      [true, 1],
      [false, 2],
    ]);
    expect(store.changes.map((c) => c.transitions.map((t) => t.kind).join())).toEqual(['fired', 'resolved']);
    expect(store.rows.get('MR-1/helium-low')?.state).toBe('resolved');

    // Nothing is written twice.
    await engine.flush();
    engine.tick(T0 + HOUR);
    await engine.flush();
    expect(store.changes).toHaveLength(2);
    // Each change has its own id, made once: the retry carried the same one.
    expect(new Set(store.changes.map((c) => c.id)).size).toBe(2);
    expect(store.calls[1]!.changes[0]!.id).toBe(store.calls[0]!.changes[0]!.id);
  });

  it('a failed save is retried by the tick when nothing else changes', async () => {
    const store = new MemoryAlertStore();
    store.failNext = 1;
    const { engine } = await setup({ store });
    engine.onSamples(series('helium_level_pct', T0, 1, MIN, () => 55));
    await engine.settled();
    expect(store.changes).toEqual([]);
    engine.tick(T0 + 1000);
    await engine.settled();
    expect(store.changes.map((c) => c.identity)).toEqual(['MR-1/helium-low']);
    expect(store.rows.get('MR-1/helium-low')?.state).toBe('firing');
  });
});
