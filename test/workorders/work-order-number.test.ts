import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endOfLocalMonth, startOfLocalMonth } from '../../src/kernel/time/zone.js';
import { numberMonth } from '../../src/storage/sql/work-order-repository.js';

describe('work-order number month (WO-YYYYMM-NNNN)', () => {
  it('is the local month of the site at the report time', () => {
    // 00:30 on 1 December in Shanghai; still November in Berlin and New York, December in Chatham.
    const t = Date.parse('2026-11-30T16:30:00Z');
    expect(numberMonth(t, 'Asia/Shanghai')).toBe('202612');
    expect(numberMonth(t, 'Europe/Berlin')).toBe('202611');
    expect(numberMonth(t, 'America/New_York')).toBe('202611');
    expect(numberMonth(t, 'Pacific/Chatham')).toBe('202612');
    expect(numberMonth(Date.parse('2026-12-31T15:59:59.999Z'), 'Asia/Shanghai')).toBe('202612');
    expect(numberMonth(Date.parse('2026-12-31T16:00:00Z'), 'Asia/Shanghai')).toBe('202701');
    expect(numberMonth(Date.parse('2026-12-31T18:14:59Z'), 'Asia/Kathmandu')).toBe('202612');
    expect(numberMonth(Date.parse('2026-12-31T18:15:00Z'), 'Asia/Kathmandu')).toBe('202701');
  });

  it('keeps the seconds of an old local mean time (the copy here read the offset as 0 and put this in December 1899)', () => {
    // Shanghai was +08:05:43 until 1901: 16:02 UTC on 31 December 1899 was 00:07:43 on 1 January 1900.
    expect(numberMonth(Date.UTC(1899, 11, 31, 16, 2), 'Asia/Shanghai')).toBe('190001');
  });

  it('changes exactly at the local month boundaries (property)', () => {
    const zones = ['Asia/Shanghai', 'UTC', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham'];
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2060, 0, 1) }), (zone, t) => {
        const start = startOfLocalMonth(zone, t);
        const end = endOfLocalMonth(zone, t);
        expect(numberMonth(start, zone)).toBe(numberMonth(t, zone));
        expect(numberMonth(end - 1, zone)).toBe(numberMonth(t, zone));
        expect(numberMonth(start - 1, zone)).not.toBe(numberMonth(t, zone));
        expect(numberMonth(end, zone)).not.toBe(numberMonth(t, zone));
      }),
    );
  });
});
