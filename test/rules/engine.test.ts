import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuleEngine } from '../../rules/engine.js';
import type { AlertTransition } from '../../src/kernel/alerts.js';
import { RuleSet } from '../../rules/rule-set.js';
import { silentLogger } from '../../src/app/log.js';
import { MemoryAlertStore, MemoryDirectory } from './engine-support.js';

const PACKS = join(import.meta.dirname, '../../rules/packs');
const T0 = Date.parse('2026-11-20T00:00:00Z');
const logger = silentLogger();

/** An engine on the shipped packs, its ports in memory; pass the `store` of an earlier engine to restart on its alerts. */
async function setup(store = new MemoryAlertStore()): Promise<{ store: MemoryAlertStore; engine: RuleEngine; transitions: AlertTransition[] }> {
  const registry = new MemoryDirectory([{ id: 'h1', name: 'h1', timezone: 'Asia/Shanghai' }], [{ id: 'MR-9', site: 'h1', modality: 'MR', vendor: 'GE', model: 'SIGNA' }]);
  const rules = new RuleSet(PACKS, logger);
  const loaded = await rules.load();
  expect(loaded.ok).toBe(true);
  const engine = new RuleEngine({ rules, registry, repository: store, logger });
  await engine.warm();
  const transitions: AlertTransition[] = [];
  engine.onTransition((_alert, t) => transitions.push(...t));
  return { store, engine, transitions };
}

const helium = (minute: number, value: number) => ({ deviceId: 'MR-9', metric: 'helium_level_pct', ts: T0 + minute * 60_000, value });

describe('rule engine (threshold rules)', () => {
  it('fires once on a sustained breach, escalates without re-firing, and a restart resumes instead of firing again', async () => {
    const first = await setup();
    // One noisy sample below 65 does not fire (3 of 4 needed); three do.
    first.engine.onSamples([helium(0, 70), helium(1, 64), helium(2, 70), helium(3, 70)]);
    expect(first.transitions.filter((t) => t.kind === 'fired')).toEqual([]);
    first.engine.onSamples([helium(4, 64), helium(5, 63.5), helium(6, 63)]);
    expect(first.transitions.filter((t) => t.kind === 'fired').map((t) => t.grade)).toEqual(['general']);
    first.engine.onSamples([helium(7, 49), helium(8, 48), helium(9, 47)]);
    expect(first.transitions.filter((t) => t.kind === 'escalated').map((t) => t.grade)).toEqual(['severe']);
    await first.engine.flush();

    const second = await setup(first.store);
    const [alert] = second.engine.list().filter((a) => a.ruleId === 'helium-level-low');
    expect(alert?.record).toMatchObject({ state: 'firing', grade: 'severe', triggerCount: 1 });
    second.engine.onSamples([helium(10, 46)]);
    expect(second.transitions.filter((t) => t.kind === 'fired')).toEqual([]);
    // Back above the clear levels (52 for severe, 67 for general): resolves once.
    second.engine.onSamples([helium(11, 80), helium(12, 80), helium(13, 80), helium(14, 80)]);
    expect(second.transitions.some((t) => t.kind === 'resolved')).toBe(true);
  });

  it('warns before helium reaches 50 %: a forecast with its time to crossing, graded by how near it is', async () => {
    const { engine } = await setup();
    // Compressor stopped: helium falls 3 %/day from 80 %, sampled every 15 min with probe noise.
    const samples = Array.from({ length: 4 * 24 * 4 }, (_, i) => ({
      deviceId: 'MR-9',
      metric: 'helium_level_pct',
      ts: T0 + i * 15 * 60_000,
      value: 80 - (3 * i) / 96 + 0.8 * Math.sin(i * 1.7),
    }));
    engine.onSamples(samples);
    const forecast = engine.list().find((a) => a.ruleId === 'helium-level-forecast');
    expect(forecast?.record.state).toBe('firing');
    // After 4 days: ≈ 68 %, so 50 % is ≈ 6 days away — general or severe by the shipped grades (severe ≤ 7 d).
    expect(['general', 'severe']).toContain(forecast?.record.grade);
    const days = (forecast!.condition.forecast!.crossingAt - samples[samples.length - 1]!.ts) / 86_400_000;
    expect(days).toBeGreaterThan(5);
    expect(days).toBeLessThan(8);
    expect(forecast!.condition.forecast!.slopePerDay).toBeCloseTo(-3, 0);
    expect(forecast!.message.zh).toMatch(/预计约 [5-7]\.\d 天后降至 50%/);
    expect(forecast!.message.en).toMatch(/reach 50% in about [5-7]\.\d days/);
  });
});
