import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SampleQueue } from '../../collectors/sample-queue.js';
import type { Sample } from '../../src/kernel/ports/telemetry-store.js';

const sample = fc.record({
  deviceId: fc.constantFrom('CT-1', 'MR-2', '设备-3'),
  metric: fc.constantFrom('gantry_temp_c', 'helium_level_pct', 'x'),
  ts: fc.integer({ min: 0, max: 2 ** 45 }),
  value: fc.double({ noNaN: true }),
});

describe('sample queue', () => {
  it('gives back what was pushed, in order, whatever the pushes and takes (property)', () => {
    const op = fc.oneof({ arbitrary: fc.record({ push: fc.array(sample, { maxLength: 700, size: 'max' }) }), weight: 3 }, { arbitrary: fc.record({ take: fc.nat({ max: 1500 }) }), weight: 2 });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40, size: 'max' }), (ops) => {
        const queue = new SampleQueue();
        let model: Sample[] = [];
        for (const o of ops) {
          if ('push' in o) {
            queue.push(o.push);
            model.push(...o.push);
          } else {
            const taken = queue.take(o.take);
            expect(taken.length).toBe(Math.min(o.take, model.length));
            expect(taken.toSamples()).toEqual(model.slice(0, o.take));
            model = model.slice(o.take);
          }
          expect(queue.length).toBe(model.length);
        }
        expect(queue.take(Number.MAX_SAFE_INTEGER).toSamples()).toEqual(model);
      }),
      { numRuns: 100 },
    );
  });
});
