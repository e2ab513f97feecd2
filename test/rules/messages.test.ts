/**
 * One fault, one truth: an alert's message tells the figures of its value (and its forecast),
 * in both languages, for every rule kind of the shipped packs; a message whose figures are no
 * longer the current ones (held by hysteresis, recovering, resolved, no data) says when they are
 * from. The wall clock stands still here, as it nearly does while a backfill of days is
 * evaluated in seconds: a message rendered at most once a minute would keep its first figures.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeDuration } from '../../rules/describe.js';
import type { EngineAlert } from '../../rules/engine.js';
import { round } from '../../rules/messages.js';
import { describeEta } from '../../rules/trend.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { PACKAGE_ROOT } from '../../src/app/version.js';
import { tempDir } from '../helpers.js';
import { memoryEngine } from './engine-support.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** The wall clock: it does not move. */
const WALL = T0 + 30 * DAY;

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup.splice(0)) fn();
});

const pack = (file: string) => readFileSync(join(PACKAGE_ROOT, 'rules', 'packs', file), 'utf8');

async function shipped() {
  const dir = tempDir();
  cleanup.push(() => dir.remove());
  return memoryEngine(dir.path, { 'mr.yaml': pack('mr.yaml'), 'ct.yaml': pack('ct.yaml') }, { now: () => WALL });
}

const at = (deviceId: string, metric: string, minute: number, value: number): Sample => ({ deviceId, metric, ts: T0 + minute * MIN, value });
const minutes = (from: number, count: number, step = 1): number[] => Array.from({ length: count }, (_, i) => from + i * step);
const alertOf = (engine: { list(): EngineAlert[] }, ruleId: string): EngineAlert => {
  const alert = engine.list().find((a) => a.ruleId === ruleId);
  if (!alert) throw new Error(`no alert of ${ruleId}`);
  return alert;
};
const value = (alert: EngineAlert): string => round(alert.record.lastValue!);

describe('messages tell the current figures', () => {
  it('threshold: the value and level of the latest sample; held by hysteresis or resolved, the last figures at the level and when', async () => {
    const { engine } = await shipped();
    const psi = (minute: number, v: number) => at('MR-1', 'helium_pressure_psi', minute, v);
    engine.onSamples(minutes(0, 10).map((m) => psi(m, 4.1)));
    engine.onSamples(minutes(10, 10).map((m) => psi(m, 4.4 + m / 100)));
    let alert = alertOf(engine, 'helium-pressure-high');
    expect(alert.record.state).toBe('firing');
    expect(value(alert)).toBe('4.59');
    expect(alert.message.en).toBe('MR-1 helium pressure 4.59 psig, above 4 psig');
    expect(alert.message.zh).toBe('MR-1 氦气压力 4.59 psig，超过 4 psig');
    // Escalated: the severe level.
    engine.onSamples([psi(20, 6.5), psi(21, 6.7)]);
    alert = alertOf(engine, 'helium-pressure-high');
    expect(alert.record.grade).toBe('severe');
    expect(alert.message.en).toBe('MR-1 helium pressure 6.7 psig, above 6 psig');
    // Under 6 but over its clear level (5.5): held at severe, the figures of 21 min and when.
    engine.onSamples([psi(22, 5.8)]);
    alert = alertOf(engine, 'helium-pressure-high');
    expect(alert.record.grade).toBe('severe');
    expect(value(alert)).toBe('5.8');
    expect(alert.message.en).toBe('MR-1 helium pressure 6.7 psig, above 6 psig (as of 2026-11-01 08:21)');
    expect(alert.message.zh).toBe('MR-1 氦气压力 6.7 psig，超过 6 psig（2026-11-01 08:21 时）');
    // Resolved: no longer "above" anything now, so still the last figures at the level, and when.
    engine.onSamples([psi(23, 3)]);
    alert = alertOf(engine, 'helium-pressure-high');
    expect(alert.record.state).toBe('resolved');
    expect(alert.message.en).toBe('MR-1 helium pressure 6.7 psig, above 6 psig (as of 2026-11-01 08:21)');
    // Fires again: the figures of now, without a time.
    engine.onSamples(minutes(30, 10).map((m) => psi(m, 4.2)));
    expect(alertOf(engine, 'helium-pressure-high').message.en).toBe('MR-1 helium pressure 4.2 psig, above 4 psig');
  });

  it('outside a band: the side of the band the value left, in both languages', async () => {
    const { engine } = await shipped();
    engine.onSamples(minutes(0, 70).map((m) => at('MR-1', 'magnet_room_temp_c', m, 26)));
    engine.onSamples(minutes(70, 3).map((m) => at('MR-1', 'magnet_room_temp_c', m, 27.5)));
    const alert = alertOf(engine, 'magnet-room-temp');
    expect(alert.record.state).toBe('firing');
    expect(alert.message.en).toContain('27.5');
    expect(alert.message.zh).toContain('27.5');
  });

  it('event count: the count the value holds (not the count at raising)', async () => {
    const { engine } = await shipped();
    // Ten arcs a minute: 100 (severe) after ten minutes, 420 after 42.
    engine.onSamples(minutes(0, 42).map((m) => at('CT-1', 'tube_arc_count', m, 10)));
    const alert = alertOf(engine, 'tube-arcs-daily');
    expect(alert.record.grade).toBe('severe');
    expect(alert.record.lastValue).toBe(420);
    expect(alert.message.en).toBe('CT-1 420 tube arcs within 1 day');
    expect(alert.message.zh).toBe('CT-1 球管 1 天内打火 420 次');
  });

  it('trend: the forecast in the message is the one the alert carries, with the value it was made from', async () => {
    const { engine } = await shipped();
    // Three flat days at 90 %, then helium falls 3 %/day, then 6 %/day.
    const level = (m: number) => (m < 3 * 1440 ? 90 : m < 5 * 1440 ? 90 - ((m - 3 * 1440) / 1440) * 3 : 84 - ((m - 5 * 1440) / 1440) * 6);
    engine.onSamples(minutes(0, 8 * 96, 15).map((m) => at('MR-1', 'helium_level_pct', m, level(m))));
    const alert = alertOf(engine, 'helium-level-forecast');
    expect(alert.record.state).toBe('firing');
    const forecast = alert.condition.forecast!;
    const eta = forecast.crossingAt - alert.record.lastEvalAt!;
    expect(alert.message.en).toBe(`MR-1 helium forecast to reach 50% in about ${describeEta(eta, 'en')} (now ${value(alert)}%)`);
    expect(alert.message.zh).toBe(`MR-1 液氦预计约 ${describeEta(eta, 'zh')}后降至 50%（当前 ${value(alert)}%）`);
    // Not the first forecast's figures: the fall sped up since it fired.
    expect(alert.record.lastEvalAt! - alert.record.firedAt!).toBeGreaterThan(DAY);
  });

  it('anomaly: the value that deviates now', async () => {
    const { engine } = await shipped();
    const shield = (m: number) => 40 + Math.sin(m / 37) * 0.2;
    engine.onSamples(minutes(0, 3 * 288, 5).map((m) => at('MR-1', 'shield_temp_k', m, shield(m))));
    const start = 3 * 1440;
    engine.onSamples(minutes(start, 48, 5).map((m) => at('MR-1', 'shield_temp_k', m, 46 + (m - start) / 60)));
    const alert = alertOf(engine, 'shield-anomaly');
    expect(alert.record.state).toBe('firing');
    expect(alert.message.en).toBe(`MR-1 shield temperature ${value(alert)} K keeps deviating from its baseline; cold head may be wearing`);
    expect(alert.message.zh).toBe(`MR-1 冷屏温度 ${value(alert)} K 持续偏离自身基线，冷头可能磨损`);
    expect(value(alert)).toBe('49.92');
  });

  it('rate: the rate the value holds', async () => {
    const { engine } = await shipped();
    // 8 °C/h for two hours, then 14 °C/h.
    const temp = (m: number) => (m < 120 ? 25 + (m * 8) / 60 : 41 + ((m - 120) * 14) / 60);
    engine.onSamples(minutes(0, 200).map((m) => at('CT-1', 'gantry_temp_c', m, temp(m))));
    const alert = alertOf(engine, 'gantry-temp-rate');
    expect(alert.record.grade).toBe('severe');
    expect(alert.message.en).toBe(`CT-1 gantry warming fast (${value(alert)}°C/h); check cooling`);
    expect(alert.message.zh).toBe(`CT-1 机架温度上升过快（${value(alert)}°C/小时），检查冷却`);
  });

  it('stuck: how long the reading has been unchanged now', async () => {
    const { engine } = await shipped();
    engine.onSamples(minutes(0, 300).map((m) => at('CT-1', 'gantry_temp_c', m, 30)));
    const alert = alertOf(engine, 'gantry-sensor-stuck');
    expect(alert.record.state).toBe('firing');
    const unchanged = alert.record.lastEvalAt! - T0;
    expect(alert.message.en).toBe(`CT-1 gantry temperature reading unchanged for ${describeDuration(unchanged, 'en')} (30°C); the probe may be stuck`);
    expect(alert.message.zh).toBe(`CT-1 机架温度读数 ${describeDuration(unchanged, 'zh')}未变化（30°C），温度传感器可能卡死`);
    expect(describeDuration(unchanged, 'en')).toBe('5 hours');
  });

  it('composite: the latest reading of its first condition', async () => {
    const { engine } = await shipped();
    engine.onSamples([at('MR-1', 'cold_head_temp_k', 0, 9), at('MR-1', 'helium_pressure_psi', 1, 9), at('MR-1', 'helium_pressure_psi', 2, 12.5)]);
    const alert = alertOf(engine, 'magnet-quench');
    expect(alert.record.state).toBe('firing');
    expect(value(alert)).toBe('12.5');
    expect(alert.message.en).toBe('MR-1 suspected quench: helium pressure jumped to 12.5 psig while the cold head warms');
    expect(alert.message.zh).toBe('MR-1 疑似失超：氦气压力骤升至 12.5 psig，冷头同时升温');
  });

  it('no data: the alerts on the silent metric keep their last figures and say when they are from', async () => {
    const { engine } = await shipped();
    engine.onSamples(minutes(0, 20).map((m) => at('MR-1', 'helium_level_pct', m, 60 - m / 10)));
    expect(alertOf(engine, 'helium-level-low').message.en).toBe('MR-1 helium level 58.1%, below 65% (general)');
    engine.tick(T0 + 19 * MIN);
    engine.tick(T0 + 3 * HOUR);
    expect(alertOf(engine, 'helium-nodata').record.state).toBe('firing');
    const alert = alertOf(engine, 'helium-level-low');
    expect(alert.record.state).toBe('nodata');
    expect(alert.message.en).toBe('MR-1 helium level 58.1%, below 65% (general) (as of 2026-11-01 08:19)');
    expect(alert.message.zh).toBe('MR-1 液氦液位 58.1%，低于 65%（一般故障）（2026-11-01 08:19 时）');
  });

  it('what is saved is what the alert says now, and a restart reads it back unchanged', async () => {
    const { engine, store } = await shipped();
    engine.onSamples(minutes(0, 42).map((m) => at('CT-1', 'tube_arc_count', m, 10)));
    await engine.flush();
    const row = store.rows.get('CT-1/tube-arcs-daily')!;
    expect(row.lastValue).toBe(420);
    expect(row.messageEn).toBe('CT-1 420 tube arcs within 1 day');
    // The outbox's change (written at firing) carries the figures of its own evaluation.
    const fired = store.changes.find((c) => c.ruleId === 'tube-arcs-daily' && c.transitions.some((t) => t.kind === 'fired'))!;
    expect(fired.message.en).toBe(`CT-1 ${fired.value} tube arcs within 1 day`);
    // A held message keeps its time across a restart, and is not stamped twice.
    engine.onSamples(minutes(0, 10).map((m) => at('MR-1', 'helium_pressure_psi', m, 4.3)));
    engine.onSamples([at('MR-1', 'helium_pressure_psi', 10, 3.9)]);
    await engine.flush();
    const dir = tempDir();
    cleanup.push(() => dir.remove());
    const again = await memoryEngine(dir.path, { 'mr.yaml': pack('mr.yaml'), 'ct.yaml': pack('ct.yaml') }, { now: () => WALL, store });
    expect(alertOf(again.engine, 'tube-arcs-daily').message.en).toBe('CT-1 420 tube arcs within 1 day');
    again.engine.onSamples([at('MR-1', 'helium_pressure_psi', 11, 3.8)]);
    expect(alertOf(again.engine, 'helium-pressure-high').message.en).toBe('MR-1 helium pressure 4.3 psig, above 4 psig (as of 2026-11-01 08:09)');
  });
});

describe('readers that need no message do not render one', () => {
  it('/metrics counts alerts by state and grade without rendering their messages; list() renders them', async () => {
    const { Registry } = await import('prom-client');
    const { registerEngineMetrics } = await import('../../rules/engine-metrics.js');
    const { engine } = await shipped();
    engine.onSamples(minutes(0, 10).map((m) => at('MR-1', 'helium_pressure_psi', m, 4.1)));
    engine.onSamples(minutes(10, 10).map((m) => at('MR-1', 'helium_pressure_psi', m, 4.4 + m / 100)));
    // list() is the reader that renders every message; the scrape must not go through it.
    const rendered = vi.spyOn(engine, 'list');
    const registry = new Registry();
    registerEngineMetrics(registry, engine);
    expect(await registry.getSingleMetricAsString('guardian_alerts')).toMatch(/guardian_alerts\{state="firing",grade="general"\} 1/);
    expect(engine.states().some((a) => a.ruleId === 'helium-pressure-high')).toBe(true);
    expect(rendered).not.toHaveBeenCalled();
    expect(alertOf(engine, 'helium-pressure-high').message.en).toBe('MR-1 helium pressure 4.59 psig, above 4 psig');
    expect(rendered).toHaveBeenCalled();
  });
});
