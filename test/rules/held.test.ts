import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeldSamples } from '../../rules/held.js';

const contents = (held: HeldSamples) => Array.from({ length: held.length }, (_, i) => [held.metricAt(i), held.tsAt(i), held.valueAt(i)]);

describe('reorder buffer columns', () => {
  it('hold samples in time order, arrival order among equal times, and release a due prefix (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 50 })), { maxLength: 300 }), fc.integer({ min: -1, max: 51 }), (arrivals, upTo) => {
        const held = new HeldSamples();
        arrivals.forEach(([metric, ts], i) => held.add(metric, ts, i));
        // A stable sort by time of what arrived is the order to hold.
        const expected = arrivals.map(([metric, ts], i) => [metric, ts, i] as const).sort((x, y) => x[1] - y[1]);
        expect(contents(held)).toEqual(expected);
        const due = held.dueCount(upTo);
        expect(due).toBe(expected.filter((e) => e[1] <= upTo).length);
        held.drop(due);
        expect(contents(held)).toEqual(expected.slice(due));
        held.add('z', 1000, -1);
        expect(contents(held).at(-1)).toEqual(['z', 1000, -1]);
      }),
      { numRuns: 300 },
    );
  });

  it('stay in order through any interleaving of arrivals and releases, across compaction and growth (property)', () => {
    // Mostly arrivals, and times that rise as a live stream's do, so that the columns fill up.
    const op = fc.oneof(
      { arbitrary: fc.record({ add: fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer({ min: 0, max: 400 })) }), weight: 12 },
      { arbitrary: fc.record({ release: fc.integer({ min: -1, max: 100 }) }), weight: 2 },
      { arbitrary: fc.constant({ clear: true as const }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 100, maxLength: 600 }), (ops) => {
        const held = new HeldSamples();
        let model: Array<readonly [string, number, number]> = [];
        ops.forEach((o, i) => {
          if ('add' in o) {
            const [metric, late] = o.add;
            const ts = Math.floor(i / 2) - (late % 50);
            held.add(metric, ts, i);
            // After everything with the same or an earlier time.
            let at = model.length;
            while (at > 0 && model[at - 1]![1] > ts) at--;
            model.splice(at, 0, [metric, ts, i]);
          } else if ('release' in o) {
            const upTo = Math.floor(i / 2) - o.release;
            const due = held.dueCount(upTo);
            expect(due).toBe(model.filter((m) => m[1] <= upTo).length);
            held.drop(due);
            model = model.slice(due);
          } else {
            held.clear();
            model = [];
          }
          expect(held.length).toBe(model.length);
        });
        expect(contents(held)).toEqual(model);
      }),
      { numRuns: 300 },
    );
  });
});
