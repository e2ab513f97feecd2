import fc from 'fast-check';
import { Temporal } from 'temporal-polyfill';
import { describe, expect, it } from 'vitest';
import {
  addMonths,
  dateOfEpochDay,
  daysInMonth,
  endOfLocalDay,
  endOfLocalMonth,
  epochDay,
  instantAtWallTime,
  instantOfLocal,
  isTimeZone,
  isValidDate,
  localDateTime,
  localEpochDay,
  localYearMonth,
  startOfLocalDay,
  startOfLocalMonth,
  utcOffsetMs,
  wallTime,
} from '../../src/kernel/time/zone.js';

/*
 * The zone module is checked against Temporal (temporal-polyfill, the reference behaviour of the
 * standard, a development dependency only): offsets, local parts, wall time → instant with its
 * gap and overlap rule, and day and month boundaries, in zones chosen for their oddities.
 */

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const ZONES = [
  'Asia/Shanghai', // the default: UTC+8, no daylight saving since 1991
  'UTC',
  'America/New_York', // DST at 02:00
  'Europe/Berlin', // DST at 01:00 UTC
  'Asia/Kathmandu', // +05:45
  'Pacific/Chatham', // +12:45 / +13:45, DST at 02:45 local
  'America/Santiago', // DST at midnight: the first Sunday of September starts at 01:00
  'Australia/Lord_Howe', // a 30-minute DST
  'America/St_Johns', // −03:30
  'Pacific/Apia', // skipped 2011-12-30 entirely
  'Africa/Casablanca', // DST suspended in Ramadan: several transitions a year
  'Asia/Kolkata',
  'Europe/Dublin', // "negative" DST in the rules
] as const;

const zone = fc.constantFrom(...ZONES);
/** Instants from 1850 (local mean times with seconds) to 2100. */
const instant = fc.integer({ min: Date.UTC(1850, 0, 1), max: Date.UTC(2100, 0, 1) });
/** Instants near today, where DST rules are busiest. */
const recent = fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2040, 0, 1) });

const zdt = (z: string, t: number) => Temporal.Instant.fromEpochMilliseconds(t).toZonedDateTimeISO(z);
const ms = (z: Temporal.ZonedDateTime) => z.epochMilliseconds;

/**
 * Temporal's start of the local day after `t`. Where the clock falls back across midnight (St.
 * John's until 2011: 00:01 → 23:01) the next midnight happens twice and the first can come
 * before `t`: the day of `t` ends at the later one.
 */
function nextDayStart(z: string, t: number): number {
  return dayStartAfter(z, zdt(z, t).toPlainDate().add({ days: 1 }), t);
}

function dayStartAfter(z: string, date: Temporal.PlainDate, t: number): number {
  const first = ms(date.toZonedDateTime(z));
  return first > t ? first : ms(date.toPlainDateTime().toZonedDateTime(z, { disambiguation: 'later' }));
}

/** A wall time within three hours of one of the zone's transitions (or of `t` when it has none). */
function nearTransition(z: string, t: number, shiftMin: number): { wall: number; pdt: Temporal.PlainDateTime } {
  const next = zdt(z, t).getTimeZoneTransition('next');
  const at = next ? ms(next) : t;
  const w = wallTime(z, at) + shiftMin * MINUTE;
  const pdt = Temporal.Instant.fromEpochMilliseconds(w).toZonedDateTimeISO('UTC').toPlainDateTime();
  return { wall: w, pdt };
}

describe('calendar', () => {
  it('epoch days round-trip and agree with Date for every date from year 100 to 9999 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: epochDay(100, 1, 1), max: epochDay(9999, 12, 31) }), (days) => {
        const d = dateOfEpochDay(days);
        expect(epochDay(d.year, d.month, d.day)).toBe(days);
        const js = new Date(days * DAY);
        expect([d.year, d.month, d.day, d.weekday % 7]).toEqual([js.getUTCFullYear(), js.getUTCMonth() + 1, js.getUTCDate(), js.getUTCDay()]);
      }),
      { numRuns: 2_000 },
    );
    // Year 0 is a leap year on the proleptic Gregorian calendar (Date.UTC maps it to 1900).
    expect(dateOfEpochDay(epochDay(0, 2, 29))).toMatchObject({ year: 0, month: 2, day: 29 });
  });

  it('days in month number months 1–12, leap years included', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((m) => daysInMonth(2026, m))).toEqual([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]);
    expect([daysInMonth(2028, 2), daysInMonth(2100, 2), daysInMonth(2000, 2), daysInMonth(0, 2)]).toEqual([29, 28, 29, 29]);
    expect(() => daysInMonth(2026, 0)).toThrow(RangeError);
    expect(() => daysInMonth(2026, 13)).toThrow(RangeError);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 1, max: 12 }), (year, month) => {
        expect(daysInMonth(year, month)).toBe(Temporal.PlainYearMonth.from({ year, month }).daysInMonth);
        expect(isValidDate(year, month, daysInMonth(year, month))).toBe(true);
        expect(isValidDate(year, month, daysInMonth(year, month) + 1)).toBe(false);
      }),
    );
  });

  it('month arithmetic crosses years both ways (property)', () => {
    expect(addMonths({ year: 2026, month: 12 }, 1)).toEqual({ year: 2027, month: 1 });
    expect(addMonths({ year: 2026, month: 1 }, -1)).toEqual({ year: 2025, month: 12 });
    expect(addMonths({ year: 2026, month: 3 }, -27)).toEqual({ year: 2023, month: 12 });
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 9000 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: -1200, max: 1200 }), (year, month, n) => {
        const expected = Temporal.PlainYearMonth.from({ year, month }).add({ months: n });
        expect(addMonths({ year, month }, n)).toEqual({ year: expected.year, month: expected.month });
        expect(addMonths(addMonths({ year, month }, n), -n)).toEqual({ year, month });
      }),
    );
  });
});

describe('zones', () => {
  it('knows IANA names, not offsets or nonsense', () => {
    for (const z of [...ZONES, 'asia/shanghai', 'Etc/GMT-8', 'GMT']) expect(isTimeZone(z)).toBe(true);
    // Newer runtimes accept "+08:00" in Intl; Node 20 does not. It is never a site's zone.
    for (const z of ['+08:00', '-0500', 'Z', '', 'Mars/Olympus', 'Asia/Shanghai ']) expect(isTimeZone(z)).toBe(false);
  });

  it('offsets: +8 h in Shanghai, +5:45 in Kathmandu, DST in New York and Chatham', () => {
    expect(utcOffsetMs('Asia/Shanghai', Date.UTC(2026, 6, 1))).toBe(8 * HOUR);
    expect(utcOffsetMs('Asia/Kathmandu', Date.UTC(2026, 6, 1))).toBe(5 * HOUR + 45 * MINUTE);
    expect(utcOffsetMs('America/New_York', Date.UTC(2026, 0, 1))).toBe(-5 * HOUR);
    expect(utcOffsetMs('America/New_York', Date.UTC(2026, 6, 1))).toBe(-4 * HOUR);
    expect(utcOffsetMs('Pacific/Chatham', Date.UTC(2026, 0, 1))).toBe(13 * HOUR + 45 * MINUTE);
    expect(utcOffsetMs('Pacific/Chatham', Date.UTC(2026, 6, 1))).toBe(12 * HOUR + 45 * MINUTE);
    expect(() => utcOffsetMs('Mars/Olympus', 0)).toThrow(RangeError);
  });

  it('offsets keep their seconds: local mean time before 1901 (the old zone.ts read them as 0)', () => {
    expect(utcOffsetMs('Asia/Shanghai', Date.UTC(1890, 0, 1))).toBe(8 * HOUR + 5 * MINUTE + 43_000);
    expect(utcOffsetMs('Asia/Kolkata', Date.UTC(1890, 0, 1))).toBe(5 * HOUR + 21 * MINUTE + 10_000);
  });

  it('offsets and local parts agree with Temporal (property)', () => {
    fc.assert(
      fc.property(zone, instant, (z, t) => {
        const ref = zdt(z, t);
        expect(utcOffsetMs(z, t)).toBe(ref.offsetNanoseconds / 1e6);
        expect(localDateTime(z, t)).toEqual({
          year: ref.year,
          month: ref.month,
          day: ref.day,
          hour: ref.hour,
          minute: ref.minute,
          second: ref.second,
          millisecond: ref.millisecond,
          weekday: ref.dayOfWeek,
        });
        expect(localEpochDay(z, t)).toBe(epochDay(ref.year, ref.month, ref.day));
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('local time → instant', () => {
  it('a wall time in a gap moves forward by the gap; one that happens twice is taken the first time', () => {
    const berlin = (y: number, mo: number, d: number, h: number, mi: number) => instantOfLocal('Europe/Berlin', { year: y, month: mo, day: d, hour: h, minute: mi });
    expect(berlin(2026, 3, 29, 2, 30)).toBe(Date.parse('2026-03-29T03:30:00+02:00'));
    expect(berlin(2026, 10, 25, 2, 30)).toBe(Date.parse('2026-10-25T02:30:00+02:00'));
    expect(instantOfLocal('America/New_York', { year: 2026, month: 3, day: 8, hour: 2, minute: 15 })).toBe(Date.parse('2026-03-08T03:15:00-04:00'));
    expect(instantOfLocal('America/New_York', { year: 2026, month: 11, day: 1, hour: 1, minute: 30 })).toBe(Date.parse('2026-11-01T01:30:00-04:00'));
    expect(instantOfLocal('Asia/Shanghai', { year: 2026, month: 10, day: 25, hour: 2, minute: 30 })).toBe(Date.parse('2026-10-25T02:30:00+08:00'));
    expect(() => instantOfLocal('Asia/Shanghai', { year: 2026, month: 2, day: 30 })).toThrow(RangeError);
    expect(() => instantOfLocal('Asia/Shanghai', { year: 2026, month: 2, day: 1, hour: 24 })).toThrow(RangeError);
  });

  it('local parts round-trip through the instant (property)', () => {
    fc.assert(
      fc.property(zone, instant, (z, t) => {
        const parts = localDateTime(z, t);
        const back = instantOfLocal(z, parts);
        // Exact, unless `t` is the second pass of a repeated hour: then the first pass, same parts.
        if (back !== t) {
          expect(back).toBeLessThan(t);
          expect(localDateTime(z, back)).toEqual(parts);
        }
        expect(instantAtWallTime(z, wallTime(z, t))).toBe(back);
      }),
      { numRuns: 3_000 },
    );
  });

  it('agrees with Temporal\'s "compatible" disambiguation around every kind of transition (property)', () => {
    fc.assert(
      fc.property(zone, recent, fc.integer({ min: -180, max: 180 }), (z, t, shift) => {
        const { wall, pdt } = nearTransition(z, t, shift);
        expect(instantAtWallTime(z, wall)).toBe(ms(pdt.toZonedDateTime(z, { disambiguation: 'compatible' })));
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('local days', () => {
  it('end at the next local midnight; in Shanghai at 16:00 UTC', () => {
    expect(endOfLocalDay('Asia/Shanghai', Date.parse('2026-11-25T15:59:00Z'))).toBe(Date.parse('2026-11-25T16:00:00Z'));
    expect(endOfLocalDay('Asia/Shanghai', Date.parse('2026-11-25T16:00:00Z'))).toBe(Date.parse('2026-11-26T16:00:00Z'));
    expect(startOfLocalDay('Asia/Shanghai', Date.parse('2026-11-25T16:00:00Z'))).toBe(Date.parse('2026-11-25T16:00:00Z'));
    // Berlin, the day summer time ends, is 25 hours long.
    expect(endOfLocalDay('Europe/Berlin', Date.parse('2026-10-25T10:00:00Z')) - startOfLocalDay('Europe/Berlin', Date.parse('2026-10-25T10:00:00Z'))).toBe(25 * HOUR);
  });

  it('a day that ends in a repeated hour across midnight ends at the second midnight', () => {
    // St. John's, 1995-10-29: at 00:01 NDT the clock went back to 23:01 NST on the 28th.
    const repeated = Date.parse('1995-10-29T02:45:00Z'); // 23:15 NST on the 28th, the second time
    expect(localDateTime('America/St_Johns', repeated)).toMatchObject({ day: 28, hour: 23, minute: 15 });
    expect(endOfLocalDay('America/St_Johns', repeated)).toBe(Date.parse('1995-10-29T00:00:00-03:30'));
  });

  it('a day whose midnight is skipped starts when the clock jumps (the old clocks.ts ended the day before an hour early)', () => {
    // Santiago: Saturday 2026-09-05 24:00 -04 became Sunday 01:00 -03, at 04:00 UTC.
    const saturday = Date.parse('2026-09-05T12:00:00-04:00');
    expect(endOfLocalDay('America/Santiago', saturday)).toBe(Date.parse('2026-09-06T04:00:00Z'));
    expect(startOfLocalDay('America/Santiago', Date.parse('2026-09-06T12:00:00-03:00'))).toBe(Date.parse('2026-09-06T04:00:00Z'));
    // Apia skipped 30 December 2011: the 29th ended when the 31st began.
    expect(endOfLocalDay('Pacific/Apia', Date.parse('2011-12-29T12:00:00-10:00'))).toBe(Date.parse('2011-12-31T00:00:00+14:00'));
  });

  it('start ≤ t < end, and they agree with Temporal\'s start of day (property)', () => {
    fc.assert(
      fc.property(zone, instant, (z, t) => {
        const start = startOfLocalDay(z, t);
        const end = endOfLocalDay(z, t);
        expect(start).toBeLessThanOrEqual(t);
        expect(t).toBeLessThan(end);
        const ref = zdt(z, t);
        expect(start).toBe(ms(ref.startOfDay()));
        expect(end).toBe(nextDayStart(z, t));
        expect(localEpochDay(z, start)).toBe(localEpochDay(z, t));
        expect(localEpochDay(z, end)).toBeGreaterThan(localEpochDay(z, t));
        expect(startOfLocalDay(z, end)).toBe(end);
        // The last millisecond of the day is still the same day.
        expect(localEpochDay(z, end - 1)).toBe(localEpochDay(z, t));
      }),
      { numRuns: 3_000 },
    );
  });

  it('near transitions too (property)', () => {
    fc.assert(
      fc.property(zone, recent, fc.integer({ min: -26 * 60, max: 26 * 60 }), (z, t, shift) => {
        const next = zdt(z, t).getTimeZoneTransition('next');
        const at = (next ? ms(next) : t) + shift * MINUTE;
        const ref = zdt(z, at);
        expect(startOfLocalDay(z, at)).toBe(ms(ref.startOfDay()));
        expect(endOfLocalDay(z, at)).toBe(nextDayStart(z, at));
        expect(endOfLocalDay(z, at)).toBeGreaterThan(at);
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('local months', () => {
  it('start on the 1st at local midnight: Shanghai 16:00 UTC the day before, New York across DST, Kathmandu, Chatham', () => {
    const dec = Date.parse('2026-12-15T00:00:00Z');
    expect(startOfLocalMonth('Asia/Shanghai', dec)).toBe(Date.parse('2026-11-30T16:00:00Z'));
    expect(endOfLocalMonth('Asia/Shanghai', dec)).toBe(Date.parse('2026-12-31T16:00:00Z'));
    expect(startOfLocalMonth('UTC', dec)).toBe(Date.parse('2026-12-01T00:00:00Z'));
    // March 2026 in New York: starts in EST, ends in EDT, one hour short.
    const march = Date.parse('2026-03-15T12:00:00Z');
    expect(startOfLocalMonth('America/New_York', march)).toBe(Date.parse('2026-03-01T05:00:00Z'));
    expect(endOfLocalMonth('America/New_York', march)).toBe(Date.parse('2026-04-01T04:00:00Z'));
    expect(startOfLocalMonth('Asia/Kathmandu', dec)).toBe(Date.parse('2026-11-30T18:15:00Z'));
    expect(startOfLocalMonth('Pacific/Chatham', dec)).toBe(Date.parse('2026-11-30T10:15:00Z'));
    // Half past midnight on 1 December in Shanghai is still November in Berlin: numbers count per local month.
    expect(localYearMonth('Asia/Shanghai', Date.parse('2026-11-30T16:30:00Z'))).toEqual({ year: 2026, month: 12 });
    expect(localYearMonth('Europe/Berlin', Date.parse('2026-11-30T16:30:00Z'))).toEqual({ year: 2026, month: 11 });
  });

  it('start ≤ t < end, one month apart, agreeing with Temporal (property)', () => {
    fc.assert(
      fc.property(zone, instant, (z, t) => {
        const start = startOfLocalMonth(z, t);
        const end = endOfLocalMonth(z, t);
        expect(start).toBeLessThanOrEqual(t);
        expect(t).toBeLessThan(end);
        const ref = zdt(z, t);
        const first = ref.toPlainDate().with({ day: 1 });
        expect(start).toBe(ms(first.toZonedDateTime(z)));
        expect(end).toBe(dayStartAfter(z, first.add({ months: 1 }), t));
        const ym = localYearMonth(z, t);
        expect(localYearMonth(z, start)).toEqual(ym);
        expect(localYearMonth(z, end - 1)).toEqual(ym);
        expect(localYearMonth(z, end)).toEqual(addMonths(ym, 1));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('cost', () => {
  it('local parts and day boundaries are cheap once a zone is warm', () => {
    const zones = ['Asia/Shanghai', 'America/New_York'];
    const base = Date.UTC(2026, 10, 25);
    for (const z of zones) for (let i = 0; i < 2_000; i++) startOfLocalDay(z, base + i * 20 * MINUTE);
    const started = performance.now();
    let sink = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const z = zones[i & 1]!;
      const t = base + (i % 2_000) * 20 * MINUTE;
      sink += localDateTime(z, t).day + endOfLocalDay(z, t) - startOfLocalDay(z, t);
    }
    const perCall = (performance.now() - started) / n;
    expect(sink).toBeGreaterThan(0);
    // Tens of microseconds per call would mean Intl is formatting on every call.
    expect(perCall).toBeLessThan(0.02);
  });
});
