import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { compositeKind } from '../../rules/kinds/composite.js';
import { eventCountKind } from '../../rules/kinds/event-count.js';
import { RULE_KIND_PLUGINS } from '../../rules/kinds/index.js';
import type { KindTable, RuleKindPlugin } from '../../rules/kinds/kind.js';
import { nodataKind } from '../../rules/kinds/nodata.js';
import { stuckKind } from '../../rules/kinds/stuck.js';
import type { Rule } from '../../rules/pack-schema.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';
import { tempDir } from '../helpers.js';
import { memoryEngine } from './engine-support.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');
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
    levels: { general: { raise: 60, clear: 62 } }
    message: { zh: "{{device}} 液氦 {{value}}", en: "{{device}} helium {{value}}" }
  - id: helium-stuck
    kind: stuck
    metric: helium_level_pct
    after: 30m
    min_samples: 5
    grade: minor
    message: { zh: "{{device}} 液位计卡死", en: "{{device}} helium probe stuck" }
  - id: helium-stuck-broken
    kind: stuck
    metric: helium_level_pct
    after: 30m
    min_samples: 5
    grade: minor
    message: { zh: "{{device}} 液位计卡死", en: "{{device}} helium probe stuck" }
  - id: compressor-and-shield
    kind: composite
    mode: all
    conditions:
      - { metric: compressor_running, op: "==", value: 0 }
      - { metric: shield_temp_k, op: ">", value: 45 }
    grade: severe
    message: { zh: "{{device}} 压缩机停机且冷屏升温", en: "{{device}} compressor off and shield warming" }
  - id: compressor-and-shield-broken
    kind: composite
    mode: all
    conditions:
      - { metric: compressor_running, op: "==", value: 0 }
      - { metric: shield_temp_k, op: ">", value: 45 }
    grade: severe
    message: { zh: "{{device}} 压缩机停机且冷屏升温", en: "{{device}} compressor off and shield warming" }
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
    after: 1h
    grade: general
    treat_as: keep_state
    message: { zh: "{{device}} 无液氦数据", en: "{{device}} no helium data" }
  - id: helium-silent-broken
    kind: nodata
    metric: helium_level_pct
    after: 1h
    grade: general
    treat_as: keep_state
    message: { zh: "{{device}} 无液氦数据", en: "{{device}} no helium data" }
`;

const CT_PACK = `
pack: ct-test
modality: CT
rules:
  - id: aborts
    kind: event_count
    code: SCAN_ABORT
    window: 1h
    levels: { general: 3 }
    message: { zh: "{{device}} 扫描中断 {{count}} 次", en: "{{device}} {{count}} scan aborts" }
  - id: aborts-broken
    kind: event_count
    code: SCAN_ABORT
    window: 1h
    levels: { general: 3 }
    message: { zh: "{{device}} 扫描中断 {{count}} 次", en: "{{device}} {{count}} scan aborts" }
`;

type Hook = 'onSample' | 'onEvent' | 'onTick' | 'afterBatch';

/** The kind's plugin, its `hook` throwing for rules whose id ends in -broken. */
function breaking<R extends Rule, P>(plugin: RuleKindPlugin<R, P>, hook: Hook): RuleKindPlugin<R, P> {
  const original = plugin[hook] as ((...args: unknown[]) => void) | undefined;
  return {
    ...plugin,
    [hook]: (...args: unknown[]) => {
      const target = args[2] as { rule: Rule };
      if (target.rule.id.endsWith('-broken')) throw new Error(`${hook} broke`);
      original!(...args);
    },
  };
}

/** A logger whose records are kept, to see what was logged instead of thrown. */
function recordingLogger() {
  const records: Array<{ level: number; msg: string; err?: { message: string }; rule?: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line) as (typeof records)[number]);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records };
}

async function setup(kinds: Partial<KindTable> = {}) {
  const dir = tempDir();
  cleanup.push(() => dir.remove());
  const { logger, records } = recordingLogger();
  const made = await memoryEngine(dir.path, { 'mr.yaml': MR_PACK, 'ct.yaml': CT_PACK }, { logger, kinds: { ...RULE_KIND_PLUGINS, ...kinds } });
  // Log records are written asynchronously by the stream: read them after a turn.
  const logged = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return records;
  };
  return { ...made, logged };
}

const state = (engine: Awaited<ReturnType<typeof setup>>['engine'], rule: string) => engine.list().find((a) => a.ruleId === rule)?.record;
const series = (metric: string, from: number, count: number, value: (i: number) => number): Sample[] =>
  Array.from({ length: count }, (_, i) => ({ deviceId: 'MR-1', metric, ts: from + i * MIN, value: value(i) }));

describe('a rule step that throws records a rule error for that rule only', () => {
  it('on samples (a value step): the other rules of the metric, of its kind too, still run', async () => {
    const { engine, transitions } = await setup({ stuck: breaking(stuckKind, 'onSample') });
    expect(() => engine.onSamples(series('helium_level_pct', T0, 40, () => 55))).not.toThrow();
    expect(state(engine, 'helium-stuck-broken')).toMatchObject({ state: 'error', lastError: 'onSample broke' });
    expect(transitions.filter((t) => t.rule === 'helium-stuck-broken').map((t) => t.kind)).toEqual(['error']);
    expect(state(engine, 'helium-low')?.state).toBe('firing');
    expect(state(engine, 'helium-stuck')?.state).toBe('firing');
  });

  it('on samples (a state step: composite), after the value steps', async () => {
    const { engine, transitions } = await setup({ composite: breaking(compositeKind, 'onSample') });
    engine.onSamples([...series('compressor_running', T0, 5, () => 0), ...series('shield_temp_k', T0, 5, () => 50)]);
    expect(state(engine, 'compressor-and-shield-broken')).toMatchObject({ state: 'error', lastError: 'onSample broke' });
    expect(transitions.filter((t) => t.rule === 'compressor-and-shield-broken').map((t) => t.kind)).toEqual(['error']);
    expect(state(engine, 'compressor-and-shield')?.state).toBe('firing');
  });

  it('at the end of a batch (a composite on another rule’s state)', async () => {
    const { engine } = await setup({
      // The composite on helium-low reads rule states at the end of the batch: it breaks there.
      composite: {
        ...compositeKind,
        afterBatch: (...args: Parameters<NonNullable<typeof compositeKind.afterBatch>>) => {
          if (args[2].rule.id === 'helium-low-and-compressor') throw new Error('afterBatch broke');
          compositeKind.afterBatch!(...args);
        },
      },
    });
    engine.onSamples([...series('compressor_running', T0, 3, () => 0), ...series('helium_level_pct', T0, 3, () => 55)]);
    expect(state(engine, 'helium-low-and-compressor')).toMatchObject({ state: 'error', lastError: 'afterBatch broke' });
    expect(state(engine, 'helium-low')?.state).toBe('firing');
  });

  it('on device events: the other rule counting the same code still counts', async () => {
    const { engine, transitions } = await setup({ event_count: breaking(eventCountKind, 'onEvent') });
    const abort = (minute: number) => ({ deviceId: 'CT-1', ts: T0 + minute * MIN, code: 'SCAN_ABORT' });
    expect(() => engine.onEvents([abort(0), abort(1), abort(2)])).not.toThrow();
    expect(state(engine, 'aborts-broken')).toMatchObject({ state: 'error', lastError: 'onEvent broke' });
    expect(transitions.filter((t) => t.rule === 'aborts-broken').map((t) => t.kind)).toEqual(['error']);
    expect(state(engine, 'aborts')).toMatchObject({ state: 'firing', lastValue: 3 });
  });

  it('on the tick: the other no-data rule still fires, and the tick does not throw', async () => {
    const { engine, transitions } = await setup({ nodata: breaking(nodataKind, 'onTick') });
    engine.onSamples(series('helium_level_pct', T0, 3, () => 80));
    expect(() => engine.tick(T0 + 2 * HOUR)).not.toThrow();
    expect(() => engine.tick(T0 + 2 * HOUR + 1000)).not.toThrow();
    expect(state(engine, 'helium-silent-broken')).toMatchObject({ state: 'error', lastError: 'onTick broke' });
    // Once per failure, not once per tick.
    expect(transitions.filter((t) => t.rule === 'helium-silent-broken').map((t) => t.kind)).toEqual(['error']);
    expect(state(engine, 'helium-silent')?.state).toBe('firing');
  });

  it('no entry point throws when the engine’s own path fails; the fault is logged', async () => {
    const { engine, registry, logged } = await setup();
    registry.list = () => {
      throw new Error('directory unavailable');
    };
    registry.get = () => {
      throw new Error('directory unavailable');
    };
    expect(() => engine.tick(T0)).not.toThrow();
    expect(() => engine.onSamples(series('helium_level_pct', T0, 3, () => 55))).not.toThrow();
    expect(() => engine.onEvents([{ deviceId: 'CT-1', ts: T0, code: 'SCAN_ABORT' }])).not.toThrow();
    const errors = (await logged()).filter((r) => r.level >= 50).map((r) => r.err?.message);
    expect(errors).toEqual(['directory unavailable', 'directory unavailable', 'directory unavailable']);
    expect(engine.list()).toEqual([]);
  });
});

describe('listeners are isolated from the rules', () => {
  it('a throwing listener is logged, is no rule error, and the others still hear the transition', async () => {
    const { engine, store, logged } = await setup();
    const heard: string[] = [];
    engine.onTransition(() => {
      throw new Error('listener broke');
    });
    engine.onTransition((alert, transitions) => heard.push(...transitions.map((t) => `${alert.ruleId}:${t.kind}`)));
    engine.onSamples(series('helium_level_pct', T0, 3, () => 55));
    expect(state(engine, 'helium-low')?.state).toBe('firing');
    expect(engine.list().filter((a) => a.record.state === 'error')).toEqual([]);
    expect(heard).toContain('helium-low:fired');
    const failures = (await logged()).filter((r) => r.err?.message === 'listener broke');
    expect(failures.map((r) => [r.msg, r.rule])).toEqual([['alert transition listener failed', 'helium-low']]);
    // The change still goes to the outbox with the alert.
    await engine.flush();
    expect(store.changes.map((c) => `${c.ruleId}:${c.transitions.map((t) => t.kind).join()}`)).toEqual(['helium-low:fired']);
  });
});
