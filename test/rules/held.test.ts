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
});
