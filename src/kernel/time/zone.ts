/**
 * Calendar and time-zone arithmetic: the one place where local dates and clock readings of a
 * site are turned into instants and back. Silences' schedules, the work-order clocks ("end of
 * the local day"), work-order numbers (the local month) and the API's bucket alignment all use it.
 *
 * Three representations:
 * - an **instant**: epoch milliseconds (UTC);
 * - a **wall time**: the local date and clock reading in a zone, encoded as epoch milliseconds as
 *   if the zone were UTC (`wall = instant + offset`), so `Math.floor(wall / DAY)` is the local
 *   epoch day and `wall % DAY` the time of day;
 * - **parts**: `{ year, month (1–12), day, hour, minute, second, millisecond, weekday }` on the
 *   proleptic Gregorian calendar.
 *
 * Zone rules come from the runtime's ICU data through `Intl` (no time-zone library ships with the
 * product). Offsets are cached per zone and quarter hour, so the common case costs a Map lookup.
 *
 * **Local times that do not exist or happen twice** (daylight saving time; China has none, but a
 * site may be configured in any zone) follow one rule, RFC 5545's and the default of Temporal and
 * java.time ("compatible"): a wall time in a spring-forward gap moves forward by the length of the
 * gap (Europe/Berlin 2026-03-29 02:30 → 03:30 CEST), one that happens twice (fall back) is taken
 * the first time (2026-10-25 02:30 → 02:30 CEST, not CET). A local day or month starts at the
 * first instant the clock reads its date: where midnight is skipped, when the clock jumps
 * (America/Santiago, first Sunday of September: 01:00). It ends where the next one starts, or at
 * the next day's second midnight where the clock falls back across midnight (St. John's until
 * 2011), so that start ≤ t < end always holds.
 *
 * The tests check all of this against Temporal (temporal-polyfill, a development dependency):
 * it is 10–50 times slower per call than these cached offsets, and not needed at run time.
 *
 * Everything here is pure: no I/O, no clock.
 */

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The zone of a site that does not name one. */
export const DEFAULT_TIME_ZONE = 'Asia/Shanghai';

export interface YearMonth {
  readonly year: number;
  /** 1 = January … 12 = December. */
  readonly month: number;
}

export interface LocalDate extends YearMonth {
  /** Day of the month, 1 … 31. */
  readonly day: number;
}

export interface LocalTime {
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly millisecond: number;
}

export interface LocalDateTime extends LocalDate, LocalTime {
  /** ISO day of the week: 1 = Monday … 7 = Sunday. */
  readonly weekday: number;
}

// ── Calendar (no zone) ─────────────────────────────────────────────────────────────────────

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Days in a month, with months numbered 1 = January … 12 = December. */
export function daysInMonth(year: number, month: number): number {
  if (!(month >= 1 && month <= 12)) throw new RangeError(`month ${month} is not 1 … 12`);
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  // 31 days in the odd months up to July and the even ones from August.
  return 30 + ((month + (month >> 3)) & 1);
}

/** Whether year, month and day name a date of the calendar (no 30 February). */
export function isValidDate(year: number, month: number, day: number): boolean {
  return Number.isInteger(year) && Number.isInteger(month) && Number.isInteger(day) && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

/** The month `months` after (or, negative, before) `ym`. */
export function addMonths(ym: YearMonth, months: number): YearMonth {
  const index = ym.year * 12 + ym.month - 1 + months;
  const year = Math.floor(index / 12);
  return { year, month: index - year * 12 + 1 };
}

/** Days from 1970-01-01 to a date (negative before it). H. Hinnant's days_from_civil: no Date, any year. */
export function epochDay(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1; // from 1 March
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The date of an epoch day, with its ISO weekday (1 = Monday … 7 = Sunday). */
export function dateOfEpochDay(days: number): LocalDate & { readonly weekday: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1_460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  // 1970-01-01 was a Thursday (4).
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day, weekday: ((((days % 7) + 7 + 3) % 7) + 1) };
}

// ── Zones and offsets ──────────────────────────────────────────────────────────────────────

const knownZones = new Set<string>();

/**
 * Whether `zone` is an IANA time-zone name this runtime knows (Asia/Shanghai, UTC, Etc/GMT-8;
 * case-insensitive, as Intl reads them). A bare offset such as "+08:00" is not a zone: newer
 * runtimes accept one in Intl, Node 20 does not, and a fixed offset would silently ignore the
 * zone's rules.
 */
export function isTimeZone(zone: string): boolean {
  if (knownZones.has(zone)) return true;
  if (!/^[A-Za-z]/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return false;
  }
  if (knownZones.size < 1_000) knownZones.add(zone);
  return true;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, Map<number, number>>();
/** Offsets change on quarter hours (in UTC) in every zone today; one is cached per quarter hour. */
const QUARTER = 15 * MINUTE;
const MAX_CACHED_QUARTERS = 100_000;

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    // Throws RangeError for a zone the runtime does not know.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The offset at `ts` read from the zone's rules, to the second (local mean times had seconds: Asia/Shanghai was +08:05:43 until 1901). */
function computeOffset(zone: string, ts: number): number {
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let bc = false;
  for (const p of formatter(zone).formatToParts(ts)) {
    switch (p.type) {
      case 'year':
        year = Number(p.value);
        break;
      case 'month':
        month = Number(p.value);
        break;
      case 'day':
        day = Number(p.value);
        break;
      case 'hour':
        hour = Number(p.value);
        break;
      case 'minute':
        minute = Number(p.value);
        break;
      case 'second':
        second = Number(p.value);
        break;
      case 'era':
        bc = p.value.startsWith('B');
        break;
    }
  }
  if (bc) year = 1 - year;
  const wall = epochDay(year, month, day) * DAY + hour * HOUR + minute * MINUTE + second * 1_000;
  return wall - (ts - (((ts % 1_000) + 1_000) % 1_000));
}

/** The zone's offset from UTC at instant `at`, in ms (Asia/Shanghai: +8 h; Asia/Kathmandu: +5 h 45 min). Throws RangeError for an unknown zone. */
export function utcOffsetMs(zone: string, at: number): number {
  let cache = offsetCache.get(zone);
  if (!cache) {
    formatter(zone);
    offsetCache.set(zone, (cache = new Map()));
  }
  const bucket = Math.floor(at / QUARTER);
  const hit = cache.get(bucket);
  if (hit !== undefined) return hit;
  const first = computeOffset(zone, bucket * QUARTER);
  // A quarter hour in which the offset changes is computed exactly each time, never cached.
  if (computeOffset(zone, bucket * QUARTER + QUARTER - 1) !== first) return computeOffset(zone, at);
  if (cache.size >= MAX_CACHED_QUARTERS) cache.clear();
  cache.set(bucket, first);
  return first;
}

// ── Instants ⇄ local time ──────────────────────────────────────────────────────────────────

/** The local wall time of an instant in a zone (see the module comment). */
export function wallTime(zone: string, at: number): number {
  return at + utcOffsetMs(zone, at);
}

interface Occurrences {
  /** The first instant the wall time happens (in a gap: read with the offset before it, so as far past the gap's end as it is into the gap). */
  readonly early: number;
  /** The last instant it happens (= early unless the clock fell back over it). */
  readonly late: number;
  /** False in a spring-forward gap. */
  readonly exists: boolean;
  readonly offsetBefore: number;
  readonly offsetAfter: number;
}

function occurrences(zone: string, wall: number): Occurrences {
  // Offsets a day either side bracket any transition near the wall time (zones are within ±14 h
  // of UTC), as Temporal's algorithm does.
  const offsetBefore = utcOffsetMs(zone, wall - DAY);
  const offsetAfter = utcOffsetMs(zone, wall + DAY);
  const withBefore = wall - offsetBefore;
  const withAfter = wall - offsetAfter;
  const beforeOk = utcOffsetMs(zone, withBefore) === offsetBefore;
  const afterOk = utcOffsetMs(zone, withAfter) === offsetAfter;
  const one = (t: number, exists: boolean): Occurrences => ({ early: t, late: t, exists, offsetBefore, offsetAfter });
  if (beforeOk && afterOk) return { early: Math.min(withBefore, withAfter), late: Math.max(withBefore, withAfter), exists: true, offsetBefore, offsetAfter };
  if (beforeOk) return one(withBefore, true);
  if (afterOk) return one(withAfter, true);
  return one(withBefore, false);
}

/**
 * The instant a local wall time happens in a zone. In a spring-forward gap it moves forward by the
 * gap; a wall time that happens twice is taken the first time.
 */
export function instantAtWallTime(zone: string, wall: number): number {
  return occurrences(zone, wall).early;
}

/**
 * The first instant after `after` at which the local clock reads `wall` or later: the start of a
 * local day or month. In a gap that is the instant the gap ends (the clock jumps past `wall`).
 */
function firstInstantReading(zone: string, wall: number, after = -Infinity): number {
  const o = occurrences(zone, wall);
  if (o.exists) return o.early > after ? o.early : o.late;
  // The clock reads less than `wall` at `lo` and more at `hi`; the jump lies between (whole ms).
  let lo = wall - o.offsetAfter;
  let hi = wall - o.offsetBefore;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (wallTime(zone, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The local date, clock reading and weekday of an instant in a zone. */
export function localDateTime(zone: string, at: number): LocalDateTime {
  const wall = wallTime(zone, at);
  const days = Math.floor(wall / DAY);
  let rest = wall - days * DAY;
  const hour = Math.floor(rest / HOUR);
  rest -= hour * HOUR;
  const minute = Math.floor(rest / MINUTE);
  rest -= minute * MINUTE;
  const second = Math.floor(rest / 1_000);
  const { year, month, day, weekday } = dateOfEpochDay(days);
  // One literal: spreading the date into it costs several times the rest of the call.
  return { year, month, day, hour, minute, second, millisecond: rest - second * 1_000, weekday };
}

/** The local epoch day (days since 1970-01-01 on the zone's calendar) of an instant. */
export function localEpochDay(zone: string, at: number): number {
  return Math.floor(wallTime(zone, at) / DAY);
}

/**
 * The instant of a local date and time in a zone (time fields default to 0), by the gap and
 * overlap rule of `instantAtWallTime`. Throws RangeError for a date or time that is not one
 * (30 February, 24:00).
 */
export function instantOfLocal(zone: string, local: LocalDate & Partial<LocalTime>): number {
  const { year, month, day, hour = 0, minute = 0, second = 0, millisecond = 0 } = local;
  if (!isValidDate(year, month, day)) throw new RangeError(`${year}-${month}-${day} is not a date`);
  const timeOk = [hour, minute, second, millisecond].every(Number.isInteger) && hour >= 0 && hour < 24 && minute >= 0 && minute < 60 && second >= 0 && second < 60 && millisecond >= 0 && millisecond < 1_000;
  if (!timeOk) throw new RangeError(`${hour}:${minute}:${second}.${millisecond} is not a time of day`);
  return instantAtWallTime(zone, epochDay(year, month, day) * DAY + hour * HOUR + minute * MINUTE + second * 1_000 + millisecond);
}

/** The first instant of the local day of `at`: its midnight, or the end of the gap when midnight is skipped. */
export function startOfLocalDay(zone: string, at: number): number {
  return firstInstantReading(zone, localEpochDay(zone, at) * DAY);
}

/** The first instant of the next local day after `at` (the end, excluded, of `at`'s local day). */
export function endOfLocalDay(zone: string, at: number): number {
  // Where the clock falls back across midnight, the next midnight happens twice: take the one after `at`.
  return firstInstantReading(zone, (localEpochDay(zone, at) + 1) * DAY, at);
}

/** The local month of an instant. */
export function localYearMonth(zone: string, at: number): YearMonth {
  const { year, month } = localDateTime(zone, at);
  return { year, month };
}

/** The first instant of the local month of `at`. */
export function startOfLocalMonth(zone: string, at: number): number {
  const { year, month } = localYearMonth(zone, at);
  return firstInstantReading(zone, epochDay(year, month, 1) * DAY);
}

/** The first instant of the next local month after `at` (the end, excluded, of `at`'s local month). */
export function endOfLocalMonth(zone: string, at: number): number {
  const next = addMonths(localYearMonth(zone, at), 1);
  return firstInstantReading(zone, epochDay(next.year, next.month, 1) * DAY, at);
}
