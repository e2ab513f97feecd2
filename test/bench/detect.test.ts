import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CASES, runCase, scoreCase, type DetectionCase, type RunResult } from '../../bench/detect-harness.js';
import { RuleSet } from '../../rules/rule-set.js';
import { DAY, HOUR, MINUTE } from '../../simulators/time.js';

const PACKS = join(import.meta.dirname, '../../rules/packs');
let rules: RuleSet;

beforeAll(async () => {
  rules = new RuleSet(PACKS);
  const loaded = await rules.load();
  expect(loaded.ok).toBe(true);
});

/** A default case with a shorter history and tail, so the test stays fast. */
function shortCase(scenario: string, modality: 'MR' | 'CT', historyMs: number, afterMs: number): DetectionCase {
  const kase = DEFAULT_CASES.find((c) => c.scenario === scenario && c.modality === modality);
  if (!kase) throw new Error(`no case ${scenario} ${modality}`);
  return { ...kase, historyMs, afterMs };
}

const fired = (run: RunResult) => run.engine.filter((a) => a.kind === 'fired');

describe('detection benchmark harness (default packs, simulator in event time)', () => {
  it('raises a quench as an emergency within 2 minutes of onset, from telemetry; the static baseline never says emergency', async () => {
    const run = await runCase(shortCase('mr-quench', 'MR', 2 * DAY, 2 * HOUR), 1, { rules });
    const score = scoreCase([run]);
    expect(score.engine.detected).toBe(1);
    const emergency = run.engine.find((a) => a.kind === 'fired' && a.grade === 'emergency' && a.ts >= run.onsetAt);
    expect(emergency, 'an emergency after the onset').toBeDefined();
    expect(emergency!.relevant).toBe(true);
    expect(emergency!.ts - run.onsetAt).toBeLessThanOrEqual(2 * MINUTE);
    // Nothing before the quench: the two days before it are healthy.
    expect(fired(run).filter((a) => a.ts < run.faultStart)).toEqual([]);
    // The vendor-style limits see the quench too, but only as severe.
    expect(run.baseline.some((a) => a.relevant && a.ts >= run.onsetAt && a.ts - run.onsetAt <= 2 * MINUTE)).toBe(true);
    expect(run.baseline.some((a) => a.grade === 'emergency')).toBe(false);
  }, 60_000);

  it('raises a chiller failure as an emergency within 2 minutes, long before the compressor trips', async () => {
    const run = await runCase(shortCase('mr-chiller-failure', 'MR', 2 * DAY, HOUR), 2, { rules });
    const emergency = run.engine.find((a) => a.kind === 'fired' && a.grade === 'emergency' && a.ts >= run.onsetAt);
    expect(emergency).toBeDefined();
    expect(emergency!.ts - run.onsetAt).toBeLessThanOrEqual(2 * MINUTE);
    expect(emergency!.ts).toBeLessThan(run.criticalAt!);
    expect(fired(run).filter((a) => a.ts < run.faultStart)).toEqual([]);
  }, 60_000);

  it('raises nothing on a healthy MR and a healthy CT over four days each', async () => {
    for (const modality of ['MR', 'CT'] as const) {
      const run = await runCase(shortCase('healthy', modality, DAY, 3 * DAY), 3, { rules });
      expect(run.samples).toBeGreaterThan(4 * 1440 * 7);
      expect(fired(run).map((a) => `${a.rule} ${a.grade}`), `${modality} engine alerts`).toEqual([]);
      const score = scoreCase([run]);
      expect(score.engine.falseAlerts).toBe(0);
      expect(score.engine.deviceDays).toBeCloseTo(4, 5);
    }
  }, 60_000);

  it('counts rule evaluations and the engine time they took', async () => {
    const run = await runCase(shortCase('healthy', 'MR', HOUR, 5 * HOUR), 4, { rules, chunkSamples: 100 });
    expect(run.rulesInForce).toBe(rules.forDevice({ id: run.deviceId, modality: 'MR', model: 'Bench MR 1.5T' }).length);
    expect(run.ruleEvaluations).toBe(run.samples * run.rulesInForce);
    expect(run.engineCpuMicros).toBeGreaterThan(0);
  }, 60_000);
});
