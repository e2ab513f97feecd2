import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  covers,
  isActive,
  matches,
  nextChange,
  SilenceSet,
  silenceStatus,
  SilenceSpecSchema,
  toSilence,
  toSpec,
  windowAtOrAfter,
  type Silence,
  type SilenceSpecInput,
} from '../../src/silences/schedule.js';
import { instantAtWallTime } from '../../src/kernel/time/zone.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const SH = 8 * HOUR; // Asia/Shanghai: UTC+8 all year

const BASE = { scope: { deviceId: 'yt-mr-01' }, author: '张工', reason: '每周二 02:00–04:00 保养' };

function silence(spec: Partial<SilenceSpecInput> & Pick<SilenceSpecInput, never>, meta: { id?: string; expiredAt?: number } = {}): Silence {
  const parsed = SilenceSpecSchema.parse({ ...BASE, ...spec });
  return toSilence(parsed, { id: meta.id ?? 'sil-1', createdAt: 0, updatedAt: 0, ...(meta.expiredAt !== undefined && { expiredAt: meta.expiredAt }) });
}

function issues(spec: unknown): Array<{ path: string; message: string }> {
  const result = SilenceSpecSchema.safeParse(spec);
  return result.success ? [] : result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

/** Local wall-clock parts of an instant in a zone, through Intl (independent of the code under test). */
function wall(zone: string, ts: number): { weekday: string; hour: number; minute: number; day: number } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', weekday: 'long', hour: 'numeric', minute: 'numeric', day: 'numeric' })
      .formatToParts(ts)
      .map((p) => [p.type, p.value]),
  );
  return { weekday: parts.weekday!.toLowerCase(), hour: Number(parts.hour), minute: Number(parts.minute), day: Number(parts.day) };
}

/** Active milliseconds of a silence in [from, to), walking its change points. */
function activeMs(s: Silence, from: number, to: number): number {
  let total = 0;
  let t = from;
  while (t < to) {
    const change = Math.min(nextChange(s, t) ?? Infinity, to);
    if (isActive(s, t)) total += change - t;
    t = change;
  }
  return total;
}

// Instants between 2001 and 2099.
const instant = fc.integer({ min: Date.UTC(2001, 0, 1), max: Date.UTC(2099, 0, 1) });

describe('silence format', () => {
  it('accepts a one-off window and a recurring schedule, defaulting the time zone to Asia/Shanghai', () => {
    const oneOff = SilenceSpecSchema.parse({ ...BASE, window: { startsAt: '2026-12-01T02:00:00+08:00', endsAt: '2026-12-01T04:00:00+08:00' } });
    expect(oneOff.timezone).toBe('Asia/Shanghai');
    expect(oneOff.scope.ruleIds).toEqual([]);
    const s = toSilence(oneOff, { id: 'a', createdAt: 1, updatedAt: 2 });
    expect(s.window).toEqual({ startsAt: Date.UTC(2026, 10, 30, 18), endsAt: Date.UTC(2026, 10, 30, 20) });
    expect(toSpec(s).window).toEqual({ startsAt: '2026-11-30T18:00:00.000Z', endsAt: '2026-11-30T20:00:00.000Z' });

    const weekly = SilenceSpecSchema.parse({
      scope: { siteId: 'yantai-hospital', ruleIds: ['helium-level-low'] },
      author: 'li.wei',
      reason: '冷头更换',
      timezone: 'Europe/Berlin',
      schedule: { weekdays: ['mon:fri', 'sunday'], daysOfMonth: ['1:7', -1, '15'], months: ['jan:mar', 12], times: [{ start: '22:00', duration: '6h' }], validFrom: '2026-12-01', validUntil: '2027-03-31' },
    });
    expect(weekly.schedule?.times[0]).toEqual({ start: '22:00', duration: '6h' });
  });

  it('names the field of each mistake', () => {
    expect(issues({ scope: {}, reason: ' ', timezone: 'Mars/Olympus', window: { startsAt: '2026-12-01T02:00:00', endsAt: 'soon' } })).toEqual([
      { path: 'scope.siteId', message: 'give siteId, deviceId or both' },
      { path: 'author', message: 'required: who sets the silence (name or account)' },
      { path: 'reason', message: 'required: why, e.g. 每周二 02:00–04:00 保养' },
      { path: 'timezone', message: expect.stringContaining('IANA time zone') },
      { path: 'window.startsAt', message: expect.stringContaining('with a zone') },
      { path: 'window.endsAt', message: expect.stringContaining('with a zone') },
    ]);
    expect(issues({ ...BASE, window: { startsAt: '2026-12-01T04:00:00+08:00', endsAt: '2026-12-01T02:00:00+08:00' } })).toEqual([
      { path: 'window.endsAt', message: 'endsAt must be after startsAt' },
    ]);
    expect(issues({ ...BASE, window: { startsAt: '2026-02-30T04:00:00Z', endsAt: '2026-03-02T02:00:00Z' } })[0]?.path).toBe('window.startsAt');
    expect(issues(BASE)).toEqual([{ path: 'window', message: expect.stringContaining('give window') }]);
    expect(
      issues({ ...BASE, window: { startsAt: '2026-12-01T02:00:00Z', endsAt: '2026-12-01T04:00:00Z' }, schedule: { times: [{ start: '02:00', end: '04:00' }] } }),
    ).toEqual([{ path: 'schedule', message: expect.stringContaining('not both') }]);
    expect(issues({ ...BASE, scope: { deviceId: 'yt-mr-01', ruleIds: ['Helium Low'] }, window: { startsAt: '2026-12-01T02:00:00Z', endsAt: '2026-12-01T04:00:00Z' } })[0]?.path).toBe('scope.ruleIds.0');
    expect(issues({ ...BASE, window: { startsAt: '2026-12-01T02:00:00Z', endsAt: '2026-12-01T04:00:00Z' }, starts_at: 'x' })[0]?.message).toMatch(/starts_at/);
  });

  it('refuses schedules that are malformed or can never match', () => {
    const sched = (schedule: unknown) => issues({ ...BASE, schedule });
    expect(sched({ weekdays: ['tuesday'], times: [] })).toEqual([{ path: 'schedule.times', message: expect.stringContaining('at least one window') }]);
    expect(sched({ weekdays: ['dienstag'], times: [{ start: '02:00', end: '04:00' }] })).toEqual([{ path: 'schedule.weekdays.0', message: expect.stringContaining('is not a weekday') }]);
    expect(sched({ weekdays: ['saturday:monday'], times: [{ start: '02:00', end: '04:00' }] })[0]?.message).toMatch(/Monday to Sunday/);
    expect(sched({ daysOfMonth: [0], times: [{ start: '02:00', end: '04:00' }] })[0]?.path).toBe('schedule.daysOfMonth.0');
    expect(sched({ daysOfMonth: ['25:-1'], times: [{ start: '02:00', end: '04:00' }] })[0]?.message).toMatch(/same side/);
    expect(sched({ months: ['13'], times: [{ start: '02:00', end: '04:00' }] })[0]?.path).toBe('schedule.months.0');
    expect(sched({ daysOfMonth: [30, 31], months: ['february'], times: [{ start: '02:00', end: '04:00' }] })).toEqual([
      { path: 'schedule.daysOfMonth', message: 'no day matches these daysOfMonth in these months' },
    ]);
    expect(sched({ times: [{ start: '25:00', end: '04:00' }] })[0]?.path).toBe('schedule.times.0.start');
    expect(sched({ times: [{ start: '02:00' }] })).toEqual([{ path: 'schedule.times.0.end', message: 'give either end or duration' }]);
    expect(sched({ times: [{ start: '02:00', end: '04:00', duration: '2h' }] })[0]?.message).toBe('give either end or duration');
    expect(sched({ times: [{ start: '02:00', end: '02:00' }] })[0]?.message).toMatch(/00:00, end 24:00/);
    expect(sched({ times: [{ start: '02:00', duration: '0m' }] })[0]?.path).toBe('schedule.times.0.duration');
    expect(sched({ times: [{ start: '02:00', duration: '40d' }] })[0]?.path).toBe('schedule.times.0.duration');
    expect(sched({ times: [{ start: '02:00', end: '04:00' }], validFrom: '2027-01-01', validUntil: '2026-12-01' })[0]?.path).toBe('schedule.validUntil');
    // 29 February and the last day of February are fine.
    expect(sched({ daysOfMonth: [29], months: [2], times: [{ start: '02:00', end: '04:00' }] })).toEqual([]);
    expect(sched({ daysOfMonth: [-1], months: [2], times: [{ start: '02:00', end: '04:00' }] })).toEqual([]);
  });
});

describe('one-off windows', () => {
  it('are active exactly inside [startsAt, endsAt)', () => {
    fc.assert(
      fc.property(instant, fc.integer({ min: 1, max: 30 * DAY }), fc.integer({ min: -40 * DAY, max: 40 * DAY }), (start, length, delta) => {
        const s = silence({ window: { startsAt: new Date(start).toISOString(), endsAt: new Date(start + length).toISOString() } });
        const ts = start + delta;
        expect(isActive(s, ts)).toBe(ts >= start && ts < start + length);
        expect(nextChange(s, ts)).toBe(ts < start ? start : ts < start + length ? start + length : undefined);
        expect(silenceStatus(s, ts)).toBe(ts < start ? 'pending' : ts < start + length ? 'active' : 'expired');
      }),
    );
  });

  it('end when expired by hand, and stay in force before that for history', () => {
    const start = Date.UTC(2026, 11, 1);
    const s = silence({ window: { startsAt: new Date(start).toISOString(), endsAt: new Date(start + DAY).toISOString() } }, { expiredAt: start + HOUR });
    expect(isActive(s, start + 30 * MIN)).toBe(true);
    expect(isActive(s, start + HOUR)).toBe(false);
    expect(windowAtOrAfter(s, start)).toEqual({ start, end: start + HOUR });
    expect(silenceStatus(s, start + 30 * MIN)).toBe('active');
    expect(silenceStatus(s, start + 2 * HOUR)).toBe('expired');
    // Expired before it began: never in force.
    const never = silence({ window: { startsAt: new Date(start).toISOString(), endsAt: new Date(start + DAY).toISOString() } }, { expiredAt: start - HOUR });
    expect(isActive(never, start + MIN)).toBe(false);
    expect(windowAtOrAfter(never, start - 2 * HOUR)).toBeUndefined();
  });
});

describe('recurring schedules in Asia/Shanghai', () => {
  const daily = silence({ schedule: { times: [{ start: '02:00', end: '04:00' }] } });

  it('a daily 02:00–04:00 window is active exactly when the local clock reads 02:00–03:59', () => {
    fc.assert(
      fc.property(instant, (ts) => {
        const localMs = (((ts + SH) % DAY) + DAY) % DAY;
        expect(isActive(daily, ts)).toBe(localMs >= 2 * HOUR && localMs < 4 * HOUR);
      }),
      { numRuns: 2000 },
    );
  });

  it('a daily 02:00–04:00 window is active exactly 2 h of every local day, from 02:00 to 04:00', () => {
    fc.assert(
      fc.property(fc.integer({ min: 11_000, max: 47_000 }), (day) => {
        const midnight = day * DAY - SH;
        expect(activeMs(daily, midnight, midnight + DAY)).toBe(2 * HOUR);
        expect(windowAtOrAfter(daily, midnight)).toEqual({ start: midnight + 2 * HOUR, end: midnight + 4 * HOUR });
      }),
      { numRuns: 300 },
    );
  });

  it('a window crossing midnight belongs to the day it starts on', () => {
    const night = silence({ schedule: { weekdays: ['monday'], times: [{ start: '22:00', end: '02:00' }] } });
    fc.assert(
      fc.property(instant, (ts) => {
        const w = wall('Asia/Shanghai', ts);
        const expected = (w.weekday === 'monday' && w.hour >= 22) || (w.weekday === 'tuesday' && w.hour < 2);
        expect(isActive(night, ts)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
    // Monday 2026-11-30 22:00 → Tuesday 02:00, then next Monday.
    const monday = Date.parse('2026-11-30T22:00:00+08:00');
    expect(windowAtOrAfter(night, monday - HOUR)).toEqual({ start: monday, end: monday + 4 * HOUR });
    expect(nextChange(night, monday + HOUR)).toBe(monday + 4 * HOUR);
    expect(nextChange(night, monday + 4 * HOUR)).toBe(monday + 7 * DAY);
  });

  it('a duration runs past midnight and over several days', () => {
    const weekend = silence({ schedule: { weekdays: ['friday'], times: [{ start: '20:00', duration: '2d12h' }] } });
    const friday = Date.parse('2026-12-04T20:00:00+08:00');
    expect(windowAtOrAfter(weekend, friday - DAY)).toEqual({ start: friday, end: friday + 60 * HOUR });
    expect(isActive(weekend, friday + 59 * HOUR)).toBe(true);
    expect(isActive(weekend, friday + 60 * HOUR)).toBe(false);
    expect(activeMs(weekend, friday - DAY, friday + 6 * DAY)).toBe(60 * HOUR);
  });

  it('weekday ranges, days of the month (from the end too) and months select the start days', () => {
    const workdays = silence({ schedule: { weekdays: ['monday:friday'], times: [{ start: '08:00', end: '18:00' }] } });
    fc.assert(
      fc.property(instant, (ts) => {
        const w = wall('Asia/Shanghai', ts);
        const expected = !['saturday', 'sunday'].includes(w.weekday) && w.hour >= 8 && w.hour < 18;
        expect(isActive(workdays, ts)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
    const lastDay = silence({ schedule: { daysOfMonth: [-1], months: ['february'], times: [{ start: '00:00', end: '24:00' }] } });
    expect(isActive(lastDay, Date.parse('2028-02-29T12:00:00+08:00'))).toBe(true);
    expect(isActive(lastDay, Date.parse('2028-02-28T12:00:00+08:00'))).toBe(false);
    expect(isActive(lastDay, Date.parse('2027-02-28T12:00:00+08:00'))).toBe(true);
    expect(isActive(lastDay, Date.parse('2027-03-31T12:00:00+08:00'))).toBe(false);
    // 29 February comes round once in four years.
    const leap = silence({ schedule: { daysOfMonth: [29], months: [2], times: [{ start: '02:00', end: '04:00' }] } });
    expect(nextChange(leap, Date.parse('2026-03-01T00:00:00+08:00'))).toBe(Date.parse('2028-02-29T02:00:00+08:00'));
    // All lists must match: the first Tuesday of each month.
    const firstTuesday = silence({ schedule: { weekdays: ['tue'], daysOfMonth: ['1:7'], times: [{ start: '02:00', end: '04:00' }] } });
    expect(nextChange(firstTuesday, Date.parse('2026-12-02T00:00:00+08:00'))).toBe(Date.parse('2027-01-05T02:00:00+08:00'));
  });

  it('validFrom and validUntil bound the days windows may start on (a window started on the last day runs to its end)', () => {
    const bounded = silence({ schedule: { times: [{ start: '23:00', end: '01:00' }], validFrom: '2026-12-01', validUntil: '2026-12-03' } });
    expect(isActive(bounded, Date.parse('2026-12-01T00:30:00+08:00'))).toBe(false);
    expect(windowAtOrAfter(bounded, Date.parse('2026-11-20T00:00:00+08:00'))?.start).toBe(Date.parse('2026-12-01T23:00:00+08:00'));
    expect(isActive(bounded, Date.parse('2026-12-04T00:30:00+08:00'))).toBe(true);
    expect(isActive(bounded, Date.parse('2026-12-04T23:30:00+08:00'))).toBe(false);
    expect(activeMs(bounded, Date.parse('2026-11-01T00:00:00+08:00'), Date.parse('2027-01-01T00:00:00+08:00'))).toBe(6 * HOUR);
    expect(silenceStatus(bounded, Date.parse('2026-12-04T00:30:00+08:00'))).toBe('active');
    expect(silenceStatus(bounded, Date.parse('2026-12-04T02:00:00+08:00'))).toBe('expired');
    expect(silenceStatus(bounded, Date.parse('2026-11-04T02:00:00+08:00'))).toBe('pending');
  });

  it('overlapping and touching windows make one window; a schedule that never pauses has no next change', () => {
    const chained = silence({ schedule: { times: [{ start: '22:00', end: '24:00' }, { start: '00:00', end: '01:00' }, { start: '00:30', end: '02:00' }] } });
    const t = Date.parse('2026-12-01T23:00:00+08:00');
    expect(windowAtOrAfter(chained, t)).toEqual({ start: Date.parse('2026-12-01T22:00:00+08:00'), end: Date.parse('2026-12-02T02:00:00+08:00') });
    const always = silence({ schedule: { times: [{ start: '00:00', end: '24:00' }] } });
    expect(isActive(always, t)).toBe(true);
    expect(nextChange(always, t)).toBeUndefined();
    expect(silenceStatus(always, t)).toBe('active');
  });

  it('nextChange is where the state flips, and the state holds until then', () => {
    const schedules: SilenceSpecInput['schedule'][] = [
      { weekdays: ['tuesday'], times: [{ start: '02:00', end: '04:00' }] },
      { weekdays: ['saturday', 'sunday'], times: [{ start: '22:00', duration: '5h' }] },
      { daysOfMonth: ['-3:-1'], times: [{ start: '12:00', end: '13:30' }, { start: '13:00', end: '12:00' }] },
      { months: ['jul:aug'], weekdays: ['wed'], times: [{ start: '00:00', end: '24:00' }] },
    ];
    fc.assert(
      fc.property(fc.constantFrom(...schedules), fc.constantFrom('Asia/Shanghai', 'Europe/Berlin', 'America/New_York'), instant, fc.double({ min: 0, max: 1, noNaN: true }), (schedule, timezone, ts, fraction) => {
        const s = silence({ timezone, schedule });
        const change = nextChange(s, ts);
        expect(change).toBeDefined();
        expect(change!).toBeGreaterThan(ts);
        const before = isActive(s, ts);
        expect(isActive(s, ts + Math.floor((change! - 1 - ts) * fraction))).toBe(before);
        expect(isActive(s, change! - 1)).toBe(before);
        expect(isActive(s, change!)).toBe(!before);
      }),
      { numRuns: 500 },
    );
  });
});

describe('daylight saving time (Europe/Berlin)', () => {
  const berlin = silence({ timezone: 'Europe/Berlin', schedule: { times: [{ start: '02:00', end: '04:00' }] } });

  it('follows the local clock: 02:00–04:00 lasts 1 h on the spring-forward day, 3 h on the fall-back day, 2 h otherwise', () => {
    // 2026-03-29: 02:00 CET → 03:00 CEST. 2026-10-25: 03:00 CEST → 02:00 CET.
    expect(windowAtOrAfter(berlin, Date.UTC(2026, 2, 28, 23))).toEqual({ start: Date.UTC(2026, 2, 29, 1), end: Date.UTC(2026, 2, 29, 2) });
    expect(windowAtOrAfter(berlin, Date.UTC(2026, 9, 24, 22))).toEqual({ start: Date.UTC(2026, 9, 25, 0), end: Date.UTC(2026, 9, 25, 3) });
    expect(windowAtOrAfter(berlin, Date.UTC(2026, 2, 27, 23))).toEqual({ start: Date.UTC(2026, 2, 28, 1), end: Date.UTC(2026, 2, 28, 3) });
    expect(windowAtOrAfter(berlin, Date.UTC(2026, 2, 29, 23))).toEqual({ start: Date.UTC(2026, 2, 30, 0), end: Date.UTC(2026, 2, 30, 2) });
    expect(activeMs(berlin, Date.UTC(2026, 2, 1), Date.UTC(2026, 3, 1))).toBe(30 * 2 * HOUR + HOUR);
    expect(activeMs(berlin, Date.UTC(2026, 9, 1), Date.UTC(2026, 10, 1))).toBe(30 * 2 * HOUR + 3 * HOUR);
  });

  it('is active exactly when the Berlin clock reads 02:00–03:59, on any day', () => {
    fc.assert(
      fc.property(instant, (ts) => {
        const w = wall('Europe/Berlin', ts);
        expect(isActive(berlin, ts)).toBe(w.hour >= 2 && w.hour < 4);
      }),
      { numRuns: 3000 },
    );
    // Every instant of the two changeover days, minute by minute.
    for (const day of [Date.UTC(2026, 2, 28, 20), Date.UTC(2026, 9, 24, 20)]) {
      for (let ts = day; ts < day + 12 * HOUR; ts += MIN) {
        const w = wall('Europe/Berlin', ts);
        expect(isActive(berlin, ts), new Date(ts).toISOString()).toBe(w.hour >= 2 && w.hour < 4);
      }
    }
  });

  it('moves a start in the spring gap forward by the gap; a duration is elapsed time', () => {
    const gap = silence({ timezone: 'Europe/Berlin', schedule: { times: [{ start: '02:30', duration: '1h' }] } });
    // 02:30 does not exist on 2026-03-29: the window starts at 03:30 CEST (01:30 UTC).
    expect(windowAtOrAfter(gap, Date.UTC(2026, 2, 28, 23))).toEqual({ start: Date.UTC(2026, 2, 29, 1, 30), end: Date.UTC(2026, 2, 29, 2, 30) });
    // 02:30 happens twice on 2026-10-25: the first (CEST, 00:30 UTC).
    expect(windowAtOrAfter(gap, Date.UTC(2026, 9, 24, 22))).toEqual({ start: Date.UTC(2026, 9, 25, 0, 30), end: Date.UTC(2026, 9, 25, 1, 30) });
    expect(instantAtWallTime('Europe/Berlin', Date.UTC(2026, 2, 29, 2, 30))).toBe(Date.UTC(2026, 2, 29, 1, 30));
    expect(instantAtWallTime('Europe/Berlin', Date.UTC(2026, 9, 25, 2, 30))).toBe(Date.UTC(2026, 9, 25, 0, 30));
    expect(instantAtWallTime('Asia/Shanghai', Date.UTC(2026, 9, 25, 2, 30))).toBe(Date.UTC(2026, 9, 24, 18, 30));
  });
});

describe('other zones', () => {
  it('the last day of the month in Pacific/Chatham (+13:45) and Asia/Kathmandu (+05:45), across the new year', () => {
    for (const [zone, offset] of [
      ['Pacific/Chatham', 13 * HOUR + 45 * MIN],
      ['Asia/Kathmandu', 5 * HOUR + 45 * MIN],
    ] as const) {
      const s = silence({ timezone: zone, schedule: { daysOfMonth: [-1], times: [{ start: '23:00', end: '01:00' }] } });
      const local = (y: number, mo: number, d: number, h: number, mi = 0) => Date.UTC(y, mo - 1, d, h, mi) - offset;
      expect(isActive(s, local(2026, 12, 31, 23, 30)), zone).toBe(true);
      expect(isActive(s, local(2027, 1, 1, 0, 30)), zone).toBe(true);
      expect(isActive(s, local(2027, 1, 1, 1, 0)), zone).toBe(false);
      expect(isActive(s, local(2026, 12, 30, 23, 30)), zone).toBe(false);
      expect(windowAtOrAfter(s, local(2026, 12, 15, 12))).toEqual({ start: local(2026, 12, 31, 23), end: local(2027, 1, 1, 1) });
    }
  });

  it('a weekly window in America/New_York keeps its local hours across DST', () => {
    const s = silence({ timezone: 'America/New_York', schedule: { weekdays: ['sunday'], times: [{ start: '01:00', end: '05:00' }] } });
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT, so the window lasts 3 h; 2026-11-01: 01:00–02:00 repeats, 5 h.
    expect(windowAtOrAfter(s, Date.UTC(2026, 2, 7))).toEqual({ start: Date.parse('2026-03-08T01:00:00-05:00'), end: Date.parse('2026-03-08T05:00:00-04:00') });
    expect(windowAtOrAfter(s, Date.UTC(2026, 9, 31))).toEqual({ start: Date.parse('2026-11-01T01:00:00-04:00'), end: Date.parse('2026-11-01T05:00:00-05:00') });
    expect(Date.parse('2026-03-08T05:00:00-04:00') - Date.parse('2026-03-08T01:00:00-05:00')).toBe(3 * HOUR);
  });

  it('one-off windows read instants as every other part does: 24:00 refused (it used to roll into the next day), a lower-case t accepted', () => {
    expect(issues({ ...BASE, window: { startsAt: '2026-12-01T24:00:00+08:00', endsAt: '2026-12-02T04:00:00+08:00' } })[0]?.path).toBe('window.startsAt');
    expect(silence({ window: { startsAt: '2026-12-01t02:00:00+08:00', endsAt: '2026-12-01T04:00:00+0800' } }).window).toEqual({
      startsAt: Date.UTC(2026, 10, 30, 18),
      endsAt: Date.UTC(2026, 10, 30, 20),
    });
  });
});

describe('scope and the silence set', () => {
  const at = Date.parse('2026-12-01T03:00:00+08:00');
  const window = { startsAt: '2026-12-01T02:00:00+08:00', endsAt: '2026-12-01T04:00:00+08:00' };
  const target = { siteId: 'yantai', deviceId: 'yt-mr-01', ruleId: 'helium-level-low' };

  it('matches by site, device and rule list', () => {
    expect(covers(silence({ scope: { siteId: 'yantai' }, window }), target)).toBe(true);
    expect(covers(silence({ scope: { siteId: 'other' }, window }), target)).toBe(false);
    expect(covers(silence({ scope: { deviceId: 'yt-mr-01' }, window }), target)).toBe(true);
    expect(covers(silence({ scope: { deviceId: 'yt-mr-02' }, window }), target)).toBe(false);
    expect(covers(silence({ scope: { siteId: 'other', deviceId: 'yt-mr-01' }, window }), target)).toBe(false);
    expect(covers(silence({ scope: { deviceId: 'yt-mr-01', ruleIds: ['helium-level-low', 'cold-head-warm'] }, window }), target)).toBe(true);
    expect(covers(silence({ scope: { deviceId: 'yt-mr-01', ruleIds: ['cold-head-warm'] }, window }), target)).toBe(false);
    expect(matches(silence({ scope: { siteId: 'yantai' }, window }), target, at)).toBe(true);
    expect(matches(silence({ scope: { siteId: 'yantai' }, window }), target, at + 2 * HOUR)).toBe(false);
  });

  it('answers activeFor from the device and site silences, device ones first, and follows changes', () => {
    const set = new SilenceSet([
      silence({ scope: { siteId: 'yantai' }, window }, { id: 'site-wide' }),
      silence({ scope: { deviceId: 'yt-mr-01', ruleIds: ['cold-head-warm'] }, window }, { id: 'other-rule' }),
      silence({ scope: { deviceId: 'yt-mr-01' }, window }, { id: 'device' }),
      silence({ scope: { siteId: 'sp' }, window }, { id: 'other-site' }),
    ]);
    expect(set.activeFor(target, at)?.id).toBe('device');
    expect(set.allActiveFor(target, at).map((s) => s.id)).toEqual(['device', 'site-wide']);
    expect(set.activeFor(target, at + 2 * HOUR)).toBeUndefined();
    expect(set.activeFor({ ...target, deviceId: 'yt-ct-01' }, at)?.id).toBe('site-wide');
    set.put(silence({ scope: { deviceId: 'yt-mr-01' }, window }, { id: 'device', expiredAt: at - MIN }));
    expect(set.activeFor(target, at)?.id).toBe('site-wide');
    // Moving a silence to another scope re-indexes it.
    set.put(silence({ scope: { siteId: 'sp' }, window }, { id: 'site-wide' }));
    expect(set.activeFor(target, at)).toBeUndefined();
    expect(set.remove('site-wide')).toBe(true);
    expect(set.remove('site-wide')).toBe(false);
    expect(set.size).toBe(3);
  });

  it('is cheap enough to ask on every evaluation', () => {
    const set = new SilenceSet(
      Array.from({ length: 200 }, (_, i) =>
        silence({ scope: { deviceId: `dev-${i % 50}` }, timezone: i % 2 ? 'Europe/Berlin' : 'Asia/Shanghai', schedule: { weekdays: ['tuesday'], times: [{ start: '02:00', end: '04:00' }] } }, { id: `s-${i}` }),
      ),
    );
    const start = performance.now();
    let hits = 0;
    for (let i = 0; i < 20_000; i++) if (set.activeFor({ siteId: 'x', deviceId: `dev-${i % 60}`, ruleId: 'r' }, at + i * 17 * MIN)) hits++;
    const perCall = (performance.now() - start) / 20_000;
    expect(hits).toBeGreaterThan(0);
    expect(perCall).toBeLessThan(0.5); // ms, with a wide margin for a busy machine
  });
});
