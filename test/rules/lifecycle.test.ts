import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deserialiseAlert,
  evaluate,
  fullEvaluation,
  isInTransitionTable,
  newAlertRecord,
  serialiseAlert,
  timingProblems,
  TRANSITION_TABLE,
  type AlertRecord,
  type ConditionResult,
  type EvaluationInput,
  type RuleTiming,
} from '../../rules/lifecycle.js';
import type { AlertTransition } from '../../src/kernel/alerts.js';
import { GRADES, type Grade } from '../../src/kernel/grades.js';

const timing: RuleTiming = { forMs: 60_000, clearForMs: 120_000, flap: { windowMs: 3_600_000, maxTransitions: 100 } };
const T0 = 1_700_000_000_000;
const MIN = 60_000;

const on = (grade: Grade = 'general', value?: number): ConditionResult => ({ active: true, grade, value });
const off: ConditionResult = { active: false };
/** An active/inactive condition without the optional fields it does not set (as the engine builds them). */
const withoutUndefinedFields = (c: { active: boolean; grade?: Grade | undefined; value?: number | undefined }): ConditionResult => ({
  active: c.active,
  ...(c.grade !== undefined && { grade: c.grade }),
  ...(c.value !== undefined && { value: c.value }),
});

/** Runs inputs given as [minutes after T0, condition] and collects every transition. */
function drive(steps: readonly [number, ConditionResult][], t: RuleTiming = timing, start: AlertRecord = newAlertRecord()) {
  let record = start;
  const transitions: AlertTransition[] = [];
  for (const [minutes, condition] of steps) {
    const result = evaluate(record, { ts: T0 + minutes * MIN, condition }, t);
    record = result.record;
    transitions.push(...result.transitions);
  }
  return { record, transitions, kinds: transitions.map((tr) => tr.kind) };
}

describe('alert lifecycle transitions', () => {
  it('goes normal → pending → firing once the condition held for forMs', () => {
    const { record, transitions } = drive([
      [0, on()],
      [0.5, on()],
      [1, on('general', 42)],
    ]);
    expect(transitions.map((t) => [t.from, t.to, t.kind, t.notify])).toEqual([
      ['normal', 'pending', 'pending', false],
      ['pending', 'firing', 'fired', true],
    ]);
    expect(record).toMatchObject({ state: 'firing', grade: 'general', activeAt: T0, firedAt: T0 + MIN, lastValue: 42, triggerCount: 1 });
  });

  it('fires at once when forMs is 0', () => {
    const { record, kinds } = drive([[0, on()]], { ...timing, forMs: 0 });
    expect(kinds).toEqual(['fired']);
    expect(record.state).toBe('firing');
  });

  it('cancels a pending alert whose condition goes away early, without notifying', () => {
    const { record, transitions } = drive([
      [0, on()],
      [0.5, off],
    ]);
    expect(transitions.map((t) => [t.kind, t.notify])).toEqual([
      ['pending', false],
      ['cancelled', false],
    ]);
    expect(record).toMatchObject({ state: 'normal', triggerCount: 0 });
    expect(record.activeAt).toBeUndefined();
  });

  it('escalates and de-escalates while firing without firing again', () => {
    const { record, transitions } = drive([
      [0, on('minor')],
      [1, on('minor')],
      [2, on('severe')],
      [3, on('general')],
      [4, on('general')],
    ]);
    expect(transitions.map((t) => [t.from, t.to, t.kind, t.grade])).toEqual([
      ['normal', 'pending', 'pending', 'minor'],
      ['pending', 'firing', 'fired', 'minor'],
      ['firing', 'firing', 'escalated', 'severe'],
      ['firing', 'firing', 'deescalated', 'general'],
    ]);
    expect(record.triggerCount).toBe(1);
  });

  it('fires with the latest grade seen while pending', () => {
    const { transitions } = drive([
      [0, on('minor')],
      [1, on('severe')],
    ]);
    expect(transitions.at(-1)).toMatchObject({ kind: 'fired', grade: 'severe' });
  });

  it('recovers, then resolves after clearForMs, reports resolved once, then returns to normal', () => {
    const { record, transitions } = drive([
      [0, on()],
      [1, on()],
      [2, off],
      [3, off],
      [4, off],
      [5, off],
    ]);
    expect(transitions.map((t) => [t.from, t.to, t.kind, t.notify])).toEqual([
      ['normal', 'pending', 'pending', false],
      ['pending', 'firing', 'fired', true],
      ['firing', 'recovering', 'recovering', false],
      ['recovering', 'resolved', 'resolved', true],
      ['resolved', 'normal', 'cleared', false],
    ]);
    expect(record).toMatchObject({ state: 'normal', firedAt: T0 + MIN, resolvedAt: T0 + 4 * MIN, triggerCount: 1 });
  });

  it('resolves at once when clearForMs is 0', () => {
    const { kinds } = drive(
      [
        [0, on()],
        [1, on()],
        [2, off],
      ],
      { ...timing, clearForMs: 0 },
    );
    expect(kinds).toEqual(['pending', 'fired', 'resolved']);
  });

  it('a relapse during recovery is the same alert: back to firing, no new fire, count unchanged', () => {
    const { record, transitions } = drive([
      [0, on('general')],
      [1, on('general')],
      [2, off],
      [3, on('severe')],
    ]);
    expect(transitions.slice(2).map((t) => [t.from, t.to, t.kind, t.notify])).toEqual([
      ['firing', 'recovering', 'recovering', false],
      ['recovering', 'firing', 'relapsed', false],
      ['firing', 'firing', 'escalated', true],
    ]);
    expect(record).toMatchObject({ state: 'firing', firedAt: T0 + MIN, triggerCount: 1 });
    expect(record.recoveringAt).toBeUndefined();
  });

  it('counts a new activation after resolution as a re-trigger', () => {
    const { record, kinds } = drive([
      [0, on()],
      [1, on()],
      [2, off],
      [4, off],
      [5, on()],
      [6, on()],
    ]);
    expect(kinds).toEqual(['pending', 'fired', 'recovering', 'resolved', 'pending', 'fired']);
    expect(record).toMatchObject({ state: 'firing', activeAt: T0 + 5 * MIN, firedAt: T0 + 6 * MIN, triggerCount: 2 });
    expect(record.resolvedAt).toBeUndefined();
  });

  it('goes to nodata and error and reports each once', () => {
    const { record, transitions } = drive([
      [0, { nodata: true }],
      [1, { nodata: true }],
      [2, { error: 'query timeout' }],
      [3, { error: 'still failing' }],
    ]);
    expect(transitions.map((t) => [t.from, t.to, t.kind, t.notify])).toEqual([
      ['normal', 'nodata', 'nodata', true],
      ['nodata', 'error', 'error', true],
    ]);
    expect(record).toMatchObject({ state: 'error', lastError: 'still failing' });
  });

  it('a firing alert survives a data gap: it carries on without a second fire', () => {
    const { record, transitions } = drive([
      [0, on()],
      [1, on()],
      [2, { nodata: true }],
      [3, on()],
    ]);
    expect(transitions.slice(2).map((t) => [t.from, t.to, t.kind])).toEqual([
      ['firing', 'nodata', 'nodata'],
      ['nodata', 'firing', 'restored'],
    ]);
    expect(record).toMatchObject({ state: 'firing', firedAt: T0 + MIN, triggerCount: 1 });
  });

  it('an open alert whose condition is gone after a gap recovers from the moment data is back', () => {
    const { record, kinds } = drive([
      [0, on()],
      [1, on()],
      [2, { error: 'broker down' }],
      [10, off],
      [11, off],
      [12, off],
    ]);
    expect(kinds).toEqual(['pending', 'fired', 'error', 'recovering', 'resolved']);
    expect(record).toMatchObject({ state: 'resolved', resolvedAt: T0 + 12 * MIN });
    expect(record.lastError).toBeUndefined();
  });

  it('a pending activation restarts its hold after a gap', () => {
    const { record, kinds } = drive([
      [0, on()],
      [0.5, { nodata: true }],
      [0.8, on()],
      [1.2, on()],
    ]);
    expect(kinds).toEqual(['pending', 'nodata', 'pending']);
    expect(record).toMatchObject({ state: 'pending', activeAt: T0 + 0.8 * MIN });
  });

  it('returns from nodata to normal when nothing was open', () => {
    const { record, transitions } = drive([
      [0, { nodata: true }],
      [1, off],
    ]);
    expect(transitions.at(-1)).toMatchObject({ from: 'nodata', to: 'normal', kind: 'restored', notify: true });
    expect(record.state).toBe('normal');
  });

  it('ignores and reports an out-of-order evaluation', () => {
    const first = drive([
      [0, on()],
      [5, on()],
    ]);
    const late = evaluate(first.record, { ts: T0 + 2 * MIN, condition: off }, timing);
    expect(late.ignored).toBe('out_of_order');
    expect(late.transitions).toEqual([]);
    expect(late.record).toBe(first.record);
  });

  it('marks flapping, mutes notifications while it lasts, and ends after a quiet window', () => {
    const flappy: RuleTiming = { forMs: 0, clearForMs: 0, flap: { windowMs: 10 * MIN, maxTransitions: 3 } };
    const { record, transitions } = drive(
      [
        [0, on()], // normal → firing
        [1, off], // firing → resolved
        [2, on()], // resolved → firing (re-trigger)
        [3, off], // firing → resolved: 4th change within 10 min, flapping
        [4, off], // resolved → normal, muted
        [14, off], // quiet since minute 4 for a whole window
      ],
      flappy,
    );
    expect(transitions.map((t) => [t.kind, t.notify])).toEqual([
      ['fired', true],
      ['resolved', true],
      ['fired', true],
      ['resolved', false],
      ['flapping_started', true],
      ['cleared', false],
      ['flapping_ended', true],
    ]);
    expect(record.flapping).toBe(false);
  });

  it('counts only notable changes as flapping: a hold that keeps being cancelled is not a flap', () => {
    const flappy: RuleTiming = { forMs: 5 * MIN, clearForMs: 5 * MIN, flap: { windowMs: 60 * MIN, maxTransitions: 3 } };
    // pending → cancelled twenty times, then a fire whose recovery relapses ten times.
    const chatter: [number, ConditionResult][] = Array.from({ length: 40 }, (_, i) => [i, i % 2 === 0 ? on() : off]);
    const relapse: [number, ConditionResult][] = Array.from({ length: 20 }, (_, i) => [50 + i, i % 2 === 0 ? off : on()]);
    const { record, transitions } = drive([...chatter, [40, on()], [46, on()], ...relapse], flappy);
    expect(transitions.filter((t) => t.kind.startsWith('flapping'))).toEqual([]);
    expect(transitions.filter((t) => t.notify).map((t) => t.kind)).toEqual(['fired']);
    expect(record).toMatchObject({ state: 'firing', flapping: false, triggerCount: 1 });
  });

  it('takes the same steps with and without the steady-evaluation shortcut (property)', () => {
    const step = fc.record({
      dt: fc.integer({ min: 0, max: 20 * MIN }),
      condition: fc.oneof(
        // Mostly active at one grade, so long steady stretches (the shortcut's case) occur.
        {
          arbitrary: fc.record({
            active: fc.oneof({ arbitrary: fc.constant(true), weight: 6 }, { arbitrary: fc.constant(false), weight: 1 }),
            grade: fc.constantFrom<Grade | undefined>(undefined, 'general', 'general', 'general', 'general', 'severe'),
            value: fc.integer({ min: -5, max: 5 }),
          }),
          weight: 20,
        },
        { arbitrary: fc.constant<ConditionResult>({ nodata: true }), weight: 1 },
        { arbitrary: fc.constant<ConditionResult>({ error: 'x' }), weight: 1 },
      ),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 5 }), (steps, forMin, maxTransitions) => {
        const t: RuleTiming = { forMs: forMin * MIN, clearForMs: 5 * MIN, flap: { windowMs: 60 * MIN, maxTransitions } };
        let fast = newAlertRecord();
        let full = newAlertRecord();
        let ts = 0;
        for (const s of steps) {
          ts += s.dt;
          const condition = 'active' in s.condition ? withoutUndefinedFields(s.condition) : s.condition;
          const a = evaluate(fast, { ts, condition }, t);
          const b = fullEvaluation(full, { ts, condition }, t);
          expect(a.record).toEqual(b.record);
          expect(a.transitions).toEqual(b.transitions);
          fast = a.record;
          full = b.record;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the flap history bounded', () => {
    const flappy: RuleTiming = { forMs: 0, clearForMs: 0, flap: { windowMs: 1000 * MIN, maxTransitions: 3 } };
    const steps: [number, ConditionResult][] = Array.from({ length: 50 }, (_, i) => [i, i % 2 === 0 ? on() : off]);
    const { record } = drive(steps, flappy);
    expect(record.recentChanges.length).toBeLessThanOrEqual(4);
    expect(record.flapping).toBe(true);
  });

  it('keeps only JSON-safe values as lastValue', () => {
    const { record } = drive([
      [0, on('general', 7)],
      [1, on('general', Number.POSITIVE_INFINITY)],
      [2, on('general', Number.NaN)],
    ]);
    expect(record.lastValue).toBe(7);
    expect(deserialiseAlert(serialiseAlert(record))).toEqual(record);
  });

  it('validates timing', () => {
    expect(timingProblems(timing)).toEqual([]);
    expect(timingProblems({ forMs: -1, clearForMs: Number.NaN, flap: { windowMs: 0, maxTransitions: -1 } })).toHaveLength(4);
  });

  it('round-trips a record through JSON and rejects garbage', () => {
    const { record } = drive([
      [0, on('severe', 3.5)],
      [1, on('severe')],
      [2, off],
    ]);
    expect(deserialiseAlert(serialiseAlert(record))).toEqual(record);
    expect(() => deserialiseAlert('{"v":1,"record":{"state":"exploded"}}')).toThrow();
    expect(() => deserialiseAlert('{"v":2,"record":{}}')).toThrow();
  });
});

// Property tests: random input sequences over random timings.
const conditionArb: fc.Arbitrary<ConditionResult> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ active: fc.boolean(), grade: fc.option(fc.constantFrom(...GRADES), { nil: undefined }), value: fc.option(fc.double(), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.constant({ nodata: true as const }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 5 }).map((error) => ({ error })) },
);
// Mostly forward steps, some zero and some backwards, to exercise the out-of-order path.
const inputsArb: fc.Arbitrary<EvaluationInput[]> = fc
  .array(fc.tuple(fc.integer({ min: -3, max: 10 }), conditionArb), { maxLength: 60 })
  .map((steps) => {
    let ts = T0;
    return steps.map(([delta, condition]) => {
      ts += delta * 10_000;
      return { ts, condition };
    });
  });
const timingArb: fc.Arbitrary<RuleTiming> = fc.record({
  forMs: fc.integer({ min: 0, max: 4 }).map((n) => n * 10_000),
  clearForMs: fc.integer({ min: 0, max: 4 }).map((n) => n * 10_000),
  flap: fc.record({ windowMs: fc.integer({ min: 1, max: 20 }).map((n) => n * 10_000), maxTransitions: fc.integer({ min: 0, max: 6 }) }),
});

function runAll(record: AlertRecord, inputs: readonly EvaluationInput[], t: RuleTiming) {
  const results = [];
  for (const input of inputs) {
    const result = evaluate(record, input, t);
    record = result.record;
    results.push(result);
  }
  return { record, results };
}

describe('alert lifecycle properties', () => {
  it('no sequence of inputs escapes the transition table', () => {
    fc.assert(
      fc.property(inputsArb, timingArb, (inputs, t) => {
        const { results } = runAll(newAlertRecord(), inputs, t);
        for (const { transitions } of results) {
          for (const tr of transitions) expect(isInTransitionTable(tr.from, tr.to, tr.kind), `${tr.from} -> ${tr.to} (${tr.kind})`).toBe(true);
          // At most one real state change per evaluation, and transitions chain.
          expect(transitions.filter((tr) => tr.from !== tr.to).length).toBeLessThanOrEqual(1);
          for (let i = 1; i < transitions.length; i++) expect(transitions[i]?.from).toBe(transitions[i - 1]?.to);
        }
      }),
    );
  });

  it('time is monotonic: firedAt ≥ activeAt, resolvedAt ≥ firedAt, evaluations never go back', () => {
    fc.assert(
      fc.property(inputsArb, timingArb, (inputs, t) => {
        let record = newAlertRecord();
        for (const input of inputs) {
          const before = record.lastEvalAt;
          record = evaluate(record, input, t).record;
          if (before !== undefined) expect(record.lastEvalAt).toBeGreaterThanOrEqual(before);
          if (record.firedAt !== undefined && record.activeAt !== undefined) expect(record.firedAt).toBeGreaterThanOrEqual(record.activeAt);
          if (record.resolvedAt !== undefined && record.firedAt !== undefined) expect(record.resolvedAt).toBeGreaterThanOrEqual(record.firedAt);
          if (record.state === 'firing' || record.state === 'recovering') expect(record.firedAt).toBeDefined();
          if (record.state === 'resolved') expect(record.resolvedAt).toBeDefined();
        }
      }),
    );
  });

  it('a JSON round-trip of the record gives the same future behaviour', () => {
    fc.assert(
      fc.property(inputsArb, inputsArb, timingArb, (prefix, suffix, t) => {
        const head = runAll(newAlertRecord(), prefix, t);
        const restored = deserialiseAlert(serialiseAlert(head.record));
        expect(restored).toEqual(head.record);
        const lastTs = prefix.at(-1)?.ts ?? T0;
        const later = suffix.map((input) => ({ ...input, ts: input.ts - T0 + lastTs }));
        expect(runAll(restored, later, t)).toEqual(runAll(head.record, later, t));
      }),
    );
  });

  it('the table has no duplicate rows', () => {
    const keys = TRANSITION_TABLE.map((r) => `${r.from}|${r.to}|${r.kind}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
