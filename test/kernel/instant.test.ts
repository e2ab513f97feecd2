import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IsoInstantSchema, parseInstant, parseIsoInstant } from '../../src/kernel/time/instant.js';
import { daysInMonth } from '../../src/kernel/time/zone.js';

const NOW = Date.UTC(2026, 10, 25, 8);
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

describe('ISO-8601 instants', () => {
  it('reads Z and offsets, with or without seconds, fractions cut to the millisecond', () => {
    expect(parseIsoInstant('2026-11-25T08:00:00Z')).toBe(NOW);
    expect(parseIsoInstant('2026-11-25T16:00:00.000+08:00')).toBe(NOW);
    expect(parseIsoInstant('2026-11-25T16:00+08:00')).toBe(NOW);
    expect(parseIsoInstant('2026-11-25T16:00:00+0800')).toBe(NOW);
    expect(parseIsoInstant('2026-11-25T02:15:00-05:45')).toBe(NOW);
    expect(parseIsoInstant('2026-11-25T08:00:00.5Z')).toBe(NOW + 500);
    expect(parseIsoInstant('2026-11-25T08:00:00.123456789Z')).toBe(NOW + 123);
    expect(parseIsoInstant('2026-11-25T08:00:00-00:00')).toBe(NOW);
    expect(parseIsoInstant('2028-02-29T08:00:00Z')).toBe(Date.UTC(2028, 1, 29, 8));
  });

  it('accepts a lower-case t and z, as RFC 3339 does (the collectors refused them, silences accepted them)', () => {
    expect(parseIsoInstant('2026-11-25t08:00:00z')).toBe(NOW);
    expect(parseInstant('2026-11-25t08:00:00z')).toEqual({ ok: true, ts: NOW });
  });

  it('refuses times without a zone, dates that do not exist and times past 23:59 (24:00 used to roll over into the next day)', () => {
    for (const text of [
      '2026-11-25T08:00:00', // no zone
      '2026-11-25 08:00Z', // no T
      '2026-11-25T08Z',
      '2026-11-25',
      '2026-02-29T08:00:00Z',
      '2026-04-31T08:00:00Z',
      '2026-13-01T08:00:00Z',
      '2026-00-10T08:00:00Z',
      '2026-11-25T24:00:00Z',
      '2026-11-25T23:60:00Z',
      '2026-11-25T23:59:60Z', // leap second
      '2026-11-25T08:00:00+24:00',
      '2026-11-25T08:00:00+08:60',
      '2026-11-25T08:00:00+08',
      '2026-11-25T08:00:00.Z',
      '2026-11-25T08:00:00,5Z',
      '2026-11-25T08:00:00.1234567890Z',
      '+012026-11-25T08:00:00Z',
      ' 2026-11-25T08:00:00Z',
    ]) {
      expect(parseIsoInstant(text), text).toBeUndefined();
    }
    expect(parseInstant('2026-02-30T08:00:00Z')).toEqual({ ok: false, detail: '"2026-02-30T08:00:00Z" is not a real date' });
    expect(parseInstant('2026-11-25T24:00:00Z')).toMatchObject({ ok: false, detail: expect.stringContaining('not a real time') });
    expect(parseInstant('2026-11-25T08:00:00')).toMatchObject({ ok: false, detail: expect.stringContaining('not ISO-8601 with a zone') });
  });

  it('agrees with Date.parse on every well-formed instant (property)', () => {
    const text = fc
      .record({
        year: fc.integer({ min: 1000, max: 9999 }),
        month: fc.integer({ min: 1, max: 12 }),
        day: fc.integer({ min: 1, max: 31 }),
        hour: fc.integer({ min: 0, max: 23 }),
        minute: fc.integer({ min: 0, max: 59 }),
        second: fc.option(fc.integer({ min: 0, max: 59 })),
        fraction: fc.option(fc.stringMatching(/^\d{1,9}$/)),
        zone: fc.oneof(fc.constant('Z'), fc.record({ sign: fc.constantFrom('+', '-'), h: fc.integer({ min: 0, max: 23 }), m: fc.integer({ min: 0, max: 59 }), colon: fc.boolean() })),
      })
      .filter((p) => p.day <= daysInMonth(p.year, p.month));
    fc.assert(
      fc.property(text, (p) => {
        const seconds = p.second === null ? '' : `:${pad(p.second)}${p.fraction === null ? '' : `.${p.fraction}`}`;
        const zone = p.zone === 'Z' ? 'Z' : `${p.zone.sign}${pad(p.zone.h)}${p.zone.colon ? ':' : ''}${pad(p.zone.m)}`;
        const iso = `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}${seconds}${zone}`;
        expect(parseIsoInstant(iso)).toBe(Date.parse(iso));
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('instants as epoch ms or text', () => {
  it('takes epoch milliseconds, refusing epoch seconds and what is not a time', () => {
    expect(parseInstant(NOW)).toEqual({ ok: true, ts: NOW });
    expect(parseInstant(NOW + 0.4)).toEqual({ ok: true, ts: NOW });
    expect(parseInstant(1764057600)).toEqual({ ok: false, detail: '1764057600 looks like epoch seconds; send epoch milliseconds' });
    expect(parseInstant(0)).toMatchObject({ ok: false, detail: expect.stringContaining('not a plausible epoch-ms value') });
    expect(parseInstant(1e17)).toMatchObject({ ok: false });
    expect(parseInstant(Number.NaN)).toMatchObject({ ok: false, detail: 'NaN is not finite' });
  });

  it('validates request fields with the same parser', () => {
    expect(IsoInstantSchema.safeParse('2026-12-01T02:00:00+08:00').success).toBe(true);
    expect(IsoInstantSchema.safeParse('2026-12-01t02:00:00z').success).toBe(true);
    const refused = IsoInstantSchema.safeParse('2026-12-01T02:00:00');
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toContain('with a zone');
  });
});
