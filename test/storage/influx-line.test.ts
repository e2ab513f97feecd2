import { Point } from '@influxdata/influxdb-client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyBuilder, TelemetryLines } from '../../src/storage/influx-telemetry-store.js';

/** Names with what line protocol must escape: spaces, commas, equals signs, quotes, backslashes, non-ASCII. */
// `__proto__` left out: the client keeps fields in a plain object, where that name sets the
// prototype instead of a field (metric names start with a letter, so it never reaches the store).
const name = fc
  .stringMatching(/^[a-zA-Z0-9_ ,="\\液氦-]{1,12}$/)
  .filter((s) => !s.endsWith('\\') && s !== '__proto__');

describe('telemetry line protocol', () => {
  it('is the same text as the client library’s Point.toLineProtocol, a repeated field keeping its later value (property)', () => {
    const builder = new TelemetryLines();
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('device', 'site', 'modality', 'model'), fc.oneof(name, fc.constant(''))),
        // Fields in any order, names possibly repeated; the samples sit among others in the batch.
        fc.array(fc.record({ metric: name, value: fc.double({ noNaN: true, noDefaultInfinity: true }) }), { minLength: 1, maxLength: 12 }),
        fc.nat({ max: 3 }),
        fc.integer({ min: 0, max: 2 ** 42 }),
        (tags, fields, before, ts) => {
          const point = new Point('telemetry').timestamp(ts);
          for (const [k, v] of Object.entries(tags)) point.tag(k, v);
          for (const { metric, value } of fields) point.floatField(metric, value);
          const expected = point.toLineProtocol({ convertTime: (t) => String(t) });
          const others = Array.from({ length: before }, () => ({ metric: 'other', value: 1 }));
          const batch = [...others, ...fields, ...others];
          expect(builder.line(builder.prefix('telemetry', tags), batch, before, before + fields.length, ts)).toBe(expected);
          // Lines appended one after another are the request body: newline-separated, no trailing newline.
          const body = new BodyBuilder(8);
          for (let i = 0; i < 3; i++) builder.append(body, builder.prefix('telemetry', tags), batch, before, before + fields.length, ts);
          expect(body.lines).toBe(3);
          expect(body.take().toString('utf8')).toBe([expected, expected, expected].join('\n'));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses what the client refuses: no fields, or a value that is not finite', () => {
    const builder = new TelemetryLines();
    const prefix = builder.prefix('telemetry', {});
    expect(() => builder.line(prefix, [], 0, 0, 1)).toThrow(/without fields/);
    expect(() => builder.line(prefix, [{ metric: 'a', value: Number.NaN }], 0, 1, 1)).toThrow(/invalid float value/);
  });
});
