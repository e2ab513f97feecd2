import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRulePacks, parseRulePack, resolveRules, type PackError } from '../../rules/pack-loader.js';
import type { RulePack } from '../../rules/pack-schema.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PACKS = join(ROOT, 'rules/packs');

const MSG = `    message: { zh: "{{device}} 测试", en: "{{device}} test" }`;

/** A pack with the given rules block (indented list items). */
function pack(rules: string, modality = 'MR', extra = ''): string {
  return `pack: test-pack\nmodality: ${modality}\nrules:\n${rules}${extra}`;
}

function errorsOf(text: string): PackError[] {
  const result = parseRulePack(text, 'p.yaml');
  if (result.ok) throw new Error('expected the pack to be refused');
  return result.errors;
}

function okPack(text: string): RulePack {
  const result = parseRulePack(text, 'p.yaml');
  if (!result.ok) throw new Error(result.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`).join('\n'));
  return result.pack;
}

const heliumRule = `  - id: helium-low
    kind: threshold
    metric: helium_level_pct
    direction: below
    levels:
      general: { raise: 65, clear: 67 }
      severe: { raise: 50, clear: 52 }
    for: 10m
${MSG}
`;

describe('default rule packs', () => {
  it('load together, one per modality, with bilingual messages', async () => {
    const result = await loadRulePacks(PACKS);
    if (!result.ok) throw new Error(result.errors.map((e) => `${e.file}:${e.line} ${e.message}`).join('\n'));
    const byModality = new Map(result.packs.map((p) => [p.modality, p]));
    expect([...byModality.keys()].sort()).toEqual(['CT', 'MR']);
    for (const p of result.packs) {
      expect(p.rules.length).toBeGreaterThan(8);
      for (const r of p.rules) {
        expect(r.message.zh).toContain('{{device}}');
        expect(r.message.en).toContain('{{device}}');
      }
    }
    const mr = byModality.get('MR')!;
    const helium = mr.rules.find((r) => r.id === 'helium-level-low');
    expect(helium).toMatchObject({ kind: 'threshold', levels: { general: { raise: 65 }, severe: { raise: 50 }, emergency: { raise: 40 } } });
    const forecast = mr.rules.find((r) => r.kind === 'trend');
    expect(forecast).toMatchObject({ metric: 'helium_level_pct', threshold: 50, grades: { general: 14 * 86_400_000, severe: 7 * 86_400_000, emergency: 2 * 86_400_000 } });
    const kinds = new Set([...result.packs.flatMap((p) => p.rules.map((r) => r.kind))]);
    expect([...kinds].sort()).toEqual(['anomaly', 'composite', 'event_count', 'nodata', 'rate', 'stuck', 'threshold', 'trend']);
  });
});

describe('parseRulePack', () => {
  it('accepts a valid pack and turns durations into milliseconds', () => {
    const p = okPack(pack(heliumRule));
    expect(p.rules[0]).toMatchObject({ id: 'helium-low', enabled: true, for: 600_000 });
  });

  it('refuses clear on the wrong side of raise, at the clear value', () => {
    const text = pack(heliumRule.replace('{ raise: 50, clear: 52 }', '{ raise: 50, clear: 48 }'));
    const errors = errorsOf(text);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ line: 10, column: 35, path: 'rules[0].levels.severe.clear' });
    expect(errors[0]!.message).toMatch(/clear \(48\) must be above raise \(50\)/);
  });

  it('refuses levels not ordered by grade', () => {
    const text = pack(heliumRule.replace('{ raise: 50, clear: 52 }', '{ raise: 70, clear: 72 }'));
    const errors = errorsOf(text);
    expect(errors[0]).toMatchObject({ line: 10, path: 'rules[0].levels.severe.raise' });
    expect(errors[0]!.message).toMatch(/raise of severe \(70\) must be below raise of general \(65\)/);
  });

  it('refuses a metric the modality does not have, naming metric and modality', () => {
    const errors = errorsOf(pack(heliumRule, 'CT'));
    expect(errors).toEqual([
      expect.objectContaining({ line: 6, column: 13, path: 'rules[0].metric', message: "unknown metric 'helium_level_pct' for modality CT" }),
    ]);
  });

  it('refuses duplicate rule ids at the second one', () => {
    const errors = errorsOf(pack(heliumRule + heliumRule));
    expect(errors).toEqual([expect.objectContaining({ line: 13, column: 9, path: 'rules[1].id' })]);
    expect(errors[0]!.message).toMatch(/duplicate rule id 'helium-low'/);
  });

  it('refuses n_of_m with n > m', () => {
    const text = pack(heliumRule.replace('    for: 10m\n', '    for: 10m\n    n_of_m: { n: 5, m: 3 }\n'));
    const errors = errorsOf(text);
    expect(errors).toEqual([expect.objectContaining({ line: 12, column: 18, path: 'rules[0].n_of_m.n', message: 'n must not exceed m' })]);
  });

  it('refuses a bad duration', () => {
    const errors = errorsOf(pack(heliumRule.replace('for: 10m', 'for: 10 minutes')));
    expect(errors).toEqual([expect.objectContaining({ line: 11, column: 10, path: 'rules[0].for' })]);
    expect(errors[0]!.message).toMatch(/'10 minutes' is not a duration/);
  });

  it('points at an unknown field and an unknown kind', () => {
    const unknownField = errorsOf(pack(heliumRule.replace('    for: 10m\n', '    for: 10m\n    raise_after: 3\n')));
    expect(unknownField).toEqual([expect.objectContaining({ line: 12, column: 5, path: 'rules[0].raise_after', message: 'unknown field raise_after' })]);
    const unknownKind = errorsOf(pack(heliumRule.replace('kind: threshold', 'kind: thresold')));
    expect(unknownKind[0]).toMatchObject({ line: 5, column: 11, path: 'rules[0].kind' });
    expect(unknownKind[0]!.message).toMatch(/kind must be one of threshold, rate/);
  });

  it('validates the other kinds', () => {
    const rules = `  - id: trend-bad
    kind: trend
    metric: helium_level_pct
    window: 7d
    direction: below
    threshold: 50
    horizon: 10d
    grades: { general: 14d, severe: 7d }
${MSG}
  - id: spike
    kind: anomaly
    metric: shield_temp_k
    method: mad
    window: 7d
    k: 4
    persist: 0s
    grade: minor
${MSG}
  - id: both
    kind: composite
    mode: all
    conditions:
      - { metric: compressor_running, op: "==", value: 0 }
      - { rule: missing-rule, state: firing }
    grade: severe
${MSG}
  - id: arcs
    kind: event_count
    metric: helium_level_pct
    window: 1d
    levels: { general: 10, severe: 5 }
${MSG}
`;
    const errors = errorsOf(pack(rules));
    const summary = errors.map((e) => `${e.line} ${e.path}: ${e.message}`);
    expect(summary).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^11 rules\[0\]\.grades\.general: time of general must not exceed horizon/),
        expect.stringMatching(/^19 rules\[1\]\.persist: '0s' must be longer than zero/),
        expect.stringMatching(/^34 rules\[3\]\.levels\.severe: count of severe \(5\) must be above count of general \(10\)/),
      ]),
    );
    // Reference checks run once every rule is well-formed on its own.
    const fixed = rules.replace('horizon: 10d', 'horizon: 21d').replace('persist: 0s', 'persist: 1h').replace('{ general: 10, severe: 5 }', '{ general: 5, severe: 10 }');
    const refs = errorsOf(pack(fixed)).map((e) => `${e.line} ${e.path}: ${e.message}`);
    expect(refs).toEqual([
      "27 rules[2].conditions[1].rule: no rule 'missing-rule' in this pack",
      "32 rules[3].metric: metric 'helium_level_pct' is a gauge, event_count needs a counter",
    ]);
  });

  it('refuses level, rate, trend and anomaly rules on a counter, whose values depend on the reporting interval', () => {
    const rules = ['threshold', 'rate', 'trend', 'anomaly']
      .map(
        (kind, i) => `  - id: arcs-${kind}
    kind: ${kind}
    metric: tube_arc_count
${
  [
    '    direction: above\n    levels: { minor: { raise: 5, clear: 4 } }',
    '    window: 1h\n    direction: rise\n    per_hour: { minor: 5 }',
    '    window: 7d\n    direction: above\n    threshold: 50\n    horizon: 21d\n    grades: { general: 14d }',
    '    method: mad\n    window: 7d\n    k: 4\n    persist: 1h\n    grade: minor',
  ][i]
}
${MSG}
`,
      )
      .join('');
    const messages = errorsOf(pack(rules, 'CT')).map((e) => `${e.path}: ${e.message}`);
    expect(messages).toEqual(
      [0, 1, 2, 3].map((i) => `rules[${i}].metric: metric 'tube_arc_count' is a counter (events since the last report); ${['threshold', 'rate', 'trend', 'anomaly'][i]} rules need a gauge — count its events with an event_count rule`),
    );
  });

  it('checks stuck rules: a gauge to watch, a tolerance of zero or more, at least two readings', () => {
    const stuck = (metric: string, extra: string) => `  - id: stuck-${metric.replace(/_/g, '-')}
    kind: stuck
    metric: ${metric}
    after: 6h
${extra}    grade: minor
${MSG}
`;
    const shape = errorsOf(pack(stuck('helium_level_pct', '    tolerance: -1\n    min_samples: 1\n'))).map((e) => `${e.path}: ${e.message}`);
    expect(shape).toEqual(['rules[0].tolerance: must be zero or more', 'rules[0].min_samples: must be at least 2']);
    const refs = errorsOf(pack(stuck('compressor_running', ''))).map((e) => `${e.path}: ${e.message}`);
    expect(refs).toEqual(["rules[0].metric: metric 'compressor_running' is a state: it stays unchanged when healthy, stuck rules need a gauge"]);
    expect(parseRulePack(pack(stuck('helium_level_pct', '')), 'p.yaml')).toMatchObject({ ok: true });
  });

  it('reports YAML syntax errors with a line', () => {
    const errors = errorsOf('pack: x\nmodality: MR\nrules:\n  - id: a\n    kind: [threshold\n');
    expect(errors[0]!.line).toBeGreaterThanOrEqual(5);
    expect(errors[0]!.path).toBe('');
  });

  it('refuses overrides of unknown rules and patches that break a rule', () => {
    const extra = `overrides:
  models:
    Big Magnet:
      no-such-rule: { enabled: false }
      helium-low:
        levels: { general: { clear: 60 } }
`;
    const errors = errorsOf(pack(heliumRule, 'MR', extra)).map((e) => `${e.line} ${e.path}: ${e.message}`);
    expect(errors).toEqual([
      "16 overrides.models.Big Magnet.no-such-rule: no rule 'no-such-rule' in pack 'test-pack'",
      '18 overrides.models.Big Magnet.helium-low.levels.general.clear: clear (60) must be above raise (65) for direction \'below\'',
    ]);
  });
});

describe('resolveRules', () => {
  const extra = `  - id: shield-anomaly
    kind: anomaly
    metric: shield_temp_k
    method: mad
    window: 7d
    k: 4
    persist: 1h
    grade: minor
${MSG}
overrides:
  models:
    Big Magnet:
      helium-low:
        levels: { general: { raise: 60, clear: 62 } }
        for: 20m
  devices:
    mr-01:
      helium-low: { for: 30m }
      shield-anomaly: { enabled: false }
`;
  const p = okPack(pack(heliumRule + extra));

  it('returns the pack rules when nothing is overridden', () => {
    expect(resolveRules(p, { model: 'Other', deviceId: 'mr-02' }).map((r) => r.id)).toEqual(['helium-low', 'shield-anomaly']);
  });

  it('applies the model, then the device, and drops disabled rules', () => {
    const model = resolveRules(p, { model: 'Big Magnet' });
    expect(model[0]).toMatchObject({ for: 1_200_000, levels: { general: { raise: 60, clear: 62 }, severe: { raise: 50, clear: 52 } } });
    const both = resolveRules(p, { model: 'Big Magnet', deviceId: 'mr-01' });
    expect(both.map((r) => r.id)).toEqual(['helium-low']);
    expect(both[0]).toMatchObject({ for: 1_800_000, levels: { general: { raise: 60 } } });
    // The pack itself is not changed by resolving.
    expect(p.rules[0]).toMatchObject({ for: 600_000, levels: { general: { raise: 65 } } });
  });
});

describe('loadRulePacks', () => {
  it('refuses two packs for one modality', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'packs-'));
    writeFileSync(join(dir, 'a.yaml'), pack(heliumRule));
    writeFileSync(join(dir, 'b.yaml'), pack(heliumRule).replace('pack: test-pack', 'pack: other-pack'));
    const result = await loadRulePacks(dir);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toEqual([expect.objectContaining({ file: join(dir, 'b.yaml'), line: 2, path: 'modality' })]);
  });
});

describe('guardian rules check', () => {
  function check(...files: string[]) {
    return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/guardian.ts'), 'rules', 'check', ...files], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  }

  it('passes the default packs', () => {
    const run = check('rules/packs/ct.yaml', 'rules/packs/mr.yaml');
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^ok: rules\/packs\/ct\.yaml \(\d+ rules\)\nok: rules\/packs\/mr\.yaml \(\d+ rules\)\n$/);
    expect(run.status).toBe(0);
  });

  it('prints file:line:col for a bad pack and exits 1 without a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'packs-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, pack(heliumRule.replace('for: 10m', 'for: soon')));
    const run = check(bad);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`${bad}:11:10: rules[0].for: 'soon' is not a duration (use e.g. 30s, 10m, 2h, 14d)\n`);
  });
});
