import { z } from 'zod';
import { parseDuration } from '../kernel/time/duration.js';
import { IdSchema } from '../kernel/device.js';
import { IsoInstantSchema, parseIsoInstant } from '../kernel/time/instant.js';
import { DEFAULT_TIME_ZONE, dateOfEpochDay, daysInMonth, epochDay, instantAtWallTime, isTimeZone, localEpochDay } from '../kernel/time/zone.js';

/**
 * Silences (maintenance windows, 维护窗口 / 静默): while one is in force for a device, rules are
 * still evaluated and alerts still change state, but notifications and work orders are held.
 *
 * A silence has a scope (a site, a device, or a device at a site; optionally only some rules),
 * an author and a reason, an IANA time zone (Asia/Shanghai by default), and either
 *
 * - a one-off `window` — `{ startsAt, endsAt }`, ISO-8601 instants with a zone, in force on
 *   [startsAt, endsAt); or
 * - a recurring `schedule` in the local time of its zone, modelled on Alertmanager's
 *   time_intervals: `weekdays`, `daysOfMonth`, `months` select days (each list empty or absent =
 *   every day; all given lists must match), `times` the windows that start on a selected day,
 *   each `{ start: "HH:mm", end: "HH:mm" }` (local clock; an end at or before the start is on the
 *   next day, "24:00" is midnight) or `{ start: "HH:mm", duration: "2h" }` (elapsed time).
 *   `validFrom` / `validUntil` (local dates, inclusive) bound the days windows may start on.
 *
 * Windows that cross midnight belong to the day they start on: a Monday 22:00–02:00 window runs
 * into Tuesday. Local times are turned into instants by the kernel's time module
 * (`src/kernel/time/zone.ts`), so daylight saving time is followed by its rule: a local start that
 * does not exist (spring forward) moves forward by the gap, one that happens twice (fall back) is
 * taken the first time — on the day Europe/Berlin springs forward, 02:00–04:00 lasts one hour, on
 * the day it falls back three.
 *
 * Everything here is pure: no I/O, no clock. Times are epoch milliseconds.
 */

export const DEFAULT_SILENCE_TIME_ZONE = DEFAULT_TIME_ZONE;

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** The longest recurring window (`duration`, or an `end` on the next day). */
export const MAX_RECURRING_WINDOW_MS = 31 * DAY;
/** How far ahead the next window of a schedule is looked for (a 29 February needs up to 8 years). */
const MAX_SCAN_DAYS = 366 * 8 + 2;
/** Zones are at most 14 h ahead of UTC and 12 h behind; a day's windows start no earlier than this before its UTC midnight. */
const EARLIEST_LOCAL_MIDNIGHT_MS = 15 * HOUR;
/** Daylight saving time moves a local start forward by at most this much. */
const DST_SLACK_MS = 3 * HOUR;

const WEEKDAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;
const MONTH_NAMES = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'] as const;

// ── Schema ────────────────────────────────────────────────────────────────────────────────

const RULE_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const TIME_OF_DAY = /^(?:[01]\d|2[0-3]):[0-5]\d$/;
const END_OF_WINDOW = /^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$/;

export const SilenceScopeSchema = z
  .object({
    siteId: IdSchema.optional().describe('silence every device of this site (or, with deviceId, check the device is at it)'),
    deviceId: IdSchema.optional().describe('silence this device'),
    ruleIds: z
      .array(z.string().max(64).regex(RULE_ID, 'must be a rule id (kebab-case, e.g. helium-level-low)'))
      .max(100)
      .default([])
      .describe('only these rules; empty or absent: every rule'),
  })
  .strict()
  .refine((s) => s.siteId !== undefined || s.deviceId !== undefined, { message: 'give siteId, deviceId or both', path: ['siteId'] });
export type SilenceScope = z.infer<typeof SilenceScopeSchema>;

export const OneOffWindowSchema = z
  .object({
    startsAt: IsoInstantSchema.describe('start, included (ISO-8601 with a zone)'),
    endsAt: IsoInstantSchema.describe('end, excluded (ISO-8601 with a zone)'),
  })
  .strict()
  .refine((w) => !(parseIsoInstant(w.startsAt)! >= parseIsoInstant(w.endsAt)!), { message: 'endsAt must be after startsAt', path: ['endsAt'] });
export type OneOffWindow = z.infer<typeof OneOffWindowSchema>;

const dayListItem = z.union([z.string().max(24), z.number().int()]);

export const TimeRangeSchema = z
  .object({
    start: z.string().regex(TIME_OF_DAY, 'must be a local time HH:mm, 00:00–23:59'),
    end: z.string().regex(END_OF_WINDOW, 'must be a local time HH:mm (00:00–24:00); at or before start means the next day').optional(),
    duration: z.string().max(32).optional().describe('elapsed time from start: 90m, 2h, 1d12h'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.end === undefined) === (r.duration === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give either end or duration', path: [r.end === undefined ? 'end' : 'duration'] });
      return;
    }
    if (r.end !== undefined) {
      if (r.end === r.start) ctx.addIssue({ code: 'custom', message: 'end equals start; for a whole day use start 00:00, end 24:00', path: ['end'] });
      return;
    }
    const ms = parseDuration(r.duration!);
    if (ms === undefined || ms <= 0 || ms > MAX_RECURRING_WINDOW_MS) {
      ctx.addIssue({ code: 'custom', message: 'must be a positive duration up to 31d, e.g. 90m, 2h, 1d12h', path: ['duration'] });
    }
  });
export type TimeRange = z.infer<typeof TimeRangeSchema>;

export const ScheduleSchema = z
  .object({
    weekdays: z
      .array(z.string().max(24))
      .max(14)
      .optional()
      .describe('days of the week: monday … sunday (or mon … sun), or ranges such as monday:friday'),
    daysOfMonth: z
      .array(dayListItem)
      .max(62)
      .optional()
      .describe('days of the month: 1 … 31, negative from the month end (-1 = last day), ranges such as "1:7" or "-7:-1"'),
    months: z
      .array(dayListItem)
      .max(24)
      .optional()
      .describe('months: january … december (or jan … dec, or 1 … 12), ranges such as "1:3"'),
    times: z.array(TimeRangeSchema).min(1, 'give at least one window, e.g. { "start": "02:00", "end": "04:00" }').max(24).describe('windows starting on each selected day'),
    validFrom: z.iso.date('must be a date YYYY-MM-DD').optional().describe('first local date a window may start on'),
    validUntil: z.iso.date('must be a date YYYY-MM-DD').optional().describe('last local date a window may start on'),
  })
  .strict()
  .superRefine((s, ctx) => {
    const checks: Array<[keyof typeof s, readonly unknown[] | undefined, (item: unknown) => string | undefined]> = [
      ['weekdays', s.weekdays, (item) => parseWeekdayItem(String(item)).error],
      ['daysOfMonth', s.daysOfMonth, (item) => parseDayOfMonthItem(item).error],
      ['months', s.months, (item) => parseMonthItem(item).error],
    ];
    let listsOk = true;
    for (const [field, items, check] of checks) {
      items?.forEach((item, i) => {
        const error = check(item);
        if (error) {
          listsOk = false;
          ctx.addIssue({ code: 'custom', message: error, path: [field, i] });
        }
      });
    }
    if (s.validFrom && s.validUntil && s.validFrom > s.validUntil) ctx.addIssue({ code: 'custom', message: 'validUntil must not be before validFrom', path: ['validUntil'] });
    if (listsOk && !selectsSomeDay(s)) {
      ctx.addIssue({ code: 'custom', message: 'no day matches these daysOfMonth in these months', path: ['daysOfMonth'] });
    }
  });
export type Schedule = z.infer<typeof ScheduleSchema>;

const requiredText = (what: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `required: ${what}` : 'must be text') })
    .trim()
    .min(1, `required: ${what}`);

export const TimeZoneSchema = z.string().refine(isTimeZone, 'must be an IANA time zone such as Asia/Shanghai or Europe/Berlin');

/** The fields of a silence a person writes, before the exactly-one-of check (PATCH takes it partially). */
export const SilenceSpecFields = z
  .object({
    scope: SilenceScopeSchema,
    author: requiredText('who sets the silence (name or account)').max(100),
    reason: requiredText('why, e.g. 每周二 02:00–04:00 保养').max(2000),
    timezone: TimeZoneSchema.default(DEFAULT_SILENCE_TIME_ZONE),
    window: OneOffWindowSchema.optional().describe('a one-off window'),
    schedule: ScheduleSchema.optional().describe('a recurring schedule in the local time of `timezone`'),
  })
  .strict();

/** Refinement: a silence has a one-off window or a schedule, exactly one. */
export const exactlyOneWindow = (s: { window?: unknown; schedule?: unknown }, ctx: z.RefinementCtx) => {
  if (s.window !== undefined && s.schedule !== undefined) ctx.addIssue({ code: 'custom', message: 'give either window (one-off) or schedule (recurring), not both', path: ['schedule'] });
  if (s.window === undefined && s.schedule === undefined) ctx.addIssue({ code: 'custom', message: 'give window (one-off: startsAt, endsAt) or schedule (recurring)', path: ['window'] });
};

/** A silence as a person writes it. */
export const SilenceSpecSchema = SilenceSpecFields.superRefine(exactlyOneWindow);
export type SilenceSpec = z.infer<typeof SilenceSpecSchema>;
export type SilenceSpecInput = z.input<typeof SilenceSpecSchema>;

/** A silence as kept: its spec with the one-off window as instants, and its history. */
export interface Silence {
  readonly id: string;
  readonly scope: { readonly siteId?: string; readonly deviceId?: string; readonly ruleIds: readonly string[] };
  readonly author: string;
  readonly reason: string;
  readonly timezone: string;
  readonly window?: { readonly startsAt: number; readonly endsAt: number };
  readonly schedule?: Schedule;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Ended by hand (DELETE): not in force from this instant on, kept for history. */
  readonly expiredAt?: number;
}

/** Builds a silence from a validated spec. */
export function toSilence(spec: SilenceSpec, meta: { id: string; createdAt: number; updatedAt: number; expiredAt?: number }): Silence {
  return {
    id: meta.id,
    scope: {
      ...(spec.scope.siteId !== undefined && { siteId: spec.scope.siteId }),
      ...(spec.scope.deviceId !== undefined && { deviceId: spec.scope.deviceId }),
      ruleIds: [...new Set(spec.scope.ruleIds)],
    },
    author: spec.author,
    reason: spec.reason,
    timezone: spec.timezone,
    ...(spec.window && { window: { startsAt: parseIsoInstant(spec.window.startsAt)!, endsAt: parseIsoInstant(spec.window.endsAt)! } }),
    ...(spec.schedule && { schedule: spec.schedule }),
    createdAt: meta.createdAt,
    updatedAt: meta.updatedAt,
    ...(meta.expiredAt !== undefined && { expiredAt: meta.expiredAt }),
  };
}

/** The spec of a kept silence, in the request format (instants as ISO-8601 UTC), e.g. to apply a PATCH to. */
export function toSpec(silence: Silence): SilenceSpec {
  return {
    scope: { ...silence.scope, ruleIds: [...silence.scope.ruleIds] },
    author: silence.author,
    reason: silence.reason,
    timezone: silence.timezone,
    ...(silence.window && { window: { startsAt: new Date(silence.window.startsAt).toISOString(), endsAt: new Date(silence.window.endsAt).toISOString() } }),
    ...(silence.schedule && { schedule: silence.schedule }),
  };
}

// ── Day lists ─────────────────────────────────────────────────────────────────────────────

type Parsed<T> = { value: T; error?: undefined } | { value?: undefined; error: string };

function nameIndex(names: readonly string[], text: string): number | undefined {
  const t = text.trim().toLowerCase();
  const i = names.findIndex((n) => n === t || (t.length === 3 && n.startsWith(t)));
  return i < 0 ? undefined : i;
}

/** First and last of a one- or two-element list (a value or a range). */
const ends = (values: readonly number[]): [number, number] => [values[0]!, values[values.length - 1]!];

/** A weekday or range: bit mask with bit 0 = Sunday. */
function parseWeekdayItem(item: string): Parsed<number> {
  const parts = item.split(':');
  const bad = `"${item}" is not a weekday (monday … sunday, mon … sun) or a range such as monday:friday`;
  if (parts.length > 2) return { error: bad };
  // Ranges run Monday → Sunday, as the week does in China and ISO 8601.
  const iso = parts.map((p) => nameIndex(WEEKDAY_NAMES, p)).map((i) => (i === undefined ? undefined : ((i + 6) % 7) + 1));
  if (iso.some((i) => i === undefined)) return { error: bad };
  const [from, to] = ends(iso as number[]);
  if (from > to) return { error: `"${item}": a range runs from Monday to Sunday; list the days instead, e.g. ["saturday", "sunday", "monday"]` };
  let mask = 0;
  for (let d = from; d <= to; d++) mask |= 1 << d % 7;
  return { value: mask };
}

/** A day of month or range: `[positive mask (bit d = day d), negative mask (bit d = d-th day from the end)]`. */
function parseDayOfMonthItem(item: unknown): Parsed<[number, number]> {
  const text = String(item).trim();
  const bad = `"${text}" is not a day of the month (1 … 31, -31 … -1 from the end) or a range such as "1:7"`;
  const parts = text.split(':');
  if (parts.length > 2 || parts.some((p) => !/^-?\d{1,2}$/.test(p.trim()))) return { error: bad };
  const nums = parts.map((p) => Number(p));
  if (nums.some((n) => n === 0 || n < -31 || n > 31)) return { error: bad };
  const [from, to] = ends(nums);
  if (Math.sign(from) !== Math.sign(to)) return { error: `"${text}": both ends of a range count from the same side (1:7 or -7:-1)` };
  if (from > to) return { error: `"${text}": a range runs from the earlier day to the later` };
  let positive = 0;
  let negative = 0;
  for (let d = from; d <= to; d++) {
    if (d > 0) positive |= 1 << d;
    else negative |= 1 << -d;
  }
  return { value: [positive, negative] };
}

/** A month or range: bit mask with bit 0 = January. */
function parseMonthItem(item: unknown): Parsed<number> {
  const text = String(item).trim();
  const bad = `"${text}" is not a month (january … december, jan … dec, 1 … 12) or a range such as "1:3"`;
  const parts = text.split(':');
  if (parts.length > 2) return { error: bad };
  const idx = parts.map((p) => (/^\d{1,2}$/.test(p.trim()) ? (Number(p) >= 1 && Number(p) <= 12 ? Number(p) - 1 : undefined) : nameIndex(MONTH_NAMES, p)));
  if (idx.some((i) => i === undefined)) return { error: bad };
  const [from, to] = ends(idx as number[]);
  if (from > to) return { error: `"${text}": a range runs from the earlier month to the later; list them instead` };
  let mask = 0;
  for (let m = from; m <= to; m++) mask |= 1 << m;
  return { value: mask };
}

function masks(s: Schedule): { weekdays: number; domPositive: number; domNegative: number; months: number } {
  const weekdays = s.weekdays?.length ? s.weekdays.reduce<number>((m, i) => m | (parseWeekdayItem(i).value ?? 0), 0) : 0x7f;
  let domPositive = 0;
  let domNegative = 0;
  if (s.daysOfMonth?.length) {
    for (const i of s.daysOfMonth) {
      const [p, n] = parseDayOfMonthItem(i).value ?? [0, 0];
      domPositive |= p;
      domNegative |= n;
    }
  } else {
    domPositive = ~0 & ~1; // every day 1 … 31
  }
  const months = s.months?.length ? s.months.reduce<number>((m, i) => m | (parseMonthItem(i).value ?? 0), 0) : 0xfff;
  return { weekdays, domPositive, domNegative, months };
}

/** Whether the day lists can ever select a day (30 February cannot). Any weekday falls on any date in some year. */
function selectsSomeDay(s: Schedule): boolean {
  const m = masks(s);
  for (let month = 0; month < 12; month++) {
    if (!(m.months & (1 << month))) continue;
    const length = month === 1 ? 29 : daysInMonth(2001, month + 1);
    for (let day = 1; day <= length; day++) if (m.domPositive & (1 << day) || m.domNegative & (1 << (length - day + 1))) return true;
    // 28 February counts as the last day in common years.
    if (month === 1 && m.domNegative & (1 << 1)) return true;
  }
  return false;
}

// ── Evaluation ────────────────────────────────────────────────────────────────────────────

interface CompiledRange {
  readonly startMin: number;
  /** Minutes after the start day's midnight the window ends (local clock), or… */
  readonly endMin?: number;
  /** …elapsed time from the start. */
  readonly durationMs?: number;
}

interface CompiledSchedule {
  readonly weekdays: number;
  readonly domPositive: number;
  readonly domNegative: number;
  readonly months: number;
  readonly ranges: readonly CompiledRange[];
  readonly fromDay: number;
  readonly untilDay: number;
  /** Days before an instant's local day whose windows can still reach it. */
  readonly lookbackDays: number;
}

interface Compiled {
  readonly schedule?: CompiledSchedule;
  /** Nothing is in force from here on (expired by hand, one-off end, or the schedule's last possible end); Infinity if open. */
  readonly finishedAt: number;
}

const compiledCache = new WeakMap<Silence, Compiled>();

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
/** The epoch day of a local date `YYYY-MM-DD`. */
const dateDay = (date: string) => epochDay(Number(date.slice(0, 4)), Number(date.slice(5, 7)), Number(date.slice(8, 10)));

function compile(silence: Silence): Compiled {
  let compiled = compiledCache.get(silence);
  if (compiled) return compiled;
  const expired = silence.expiredAt ?? Infinity;
  if (silence.window) {
    compiled = { finishedAt: Math.min(silence.window.endsAt, expired) };
  } else if (silence.schedule) {
    const s = silence.schedule;
    const ranges = s.times.map((t): CompiledRange => {
      const startMin = minutesOf(t.start);
      if (t.end !== undefined) {
        const end = minutesOf(t.end);
        return { startMin, endMin: end > startMin ? end : end + 24 * 60 };
      }
      return { startMin, durationMs: parseDuration(t.duration!)! };
    });
    const longest = Math.max(...ranges.map((r) => r.startMin * MINUTE + (r.durationMs ?? (r.endMin! - r.startMin) * MINUTE)));
    const lookbackDays = Math.ceil((longest + DST_SLACK_MS) / DAY) + 1;
    const untilDay = s.validUntil ? dateDay(s.validUntil) : Infinity;
    const scheduleEnd = untilDay === Infinity ? Infinity : (untilDay + lookbackDays + 1) * DAY + EARLIEST_LOCAL_MIDNIGHT_MS;
    compiled = {
      schedule: { ...masks(s), ranges, fromDay: s.validFrom ? dateDay(s.validFrom) : -Infinity, untilDay, lookbackDays },
      finishedAt: Math.min(expired, scheduleEnd),
    };
  } else {
    compiled = { finishedAt: -Infinity };
  }
  compiledCache.set(silence, compiled);
  return compiled;
}

function daySelected(c: CompiledSchedule, day: number): boolean {
  if (day < c.fromDay || day > c.untilDay) return false;
  const date = dateOfEpochDay(day);
  if (!(c.weekdays & (1 << date.weekday % 7))) return false; // bit 0 = Sunday
  if (!(c.months & (1 << (date.month - 1)))) return false;
  const fromEnd = daysInMonth(date.year, date.month) - date.day + 1;
  return (c.domPositive & (1 << date.day)) !== 0 || (c.domNegative & (1 << fromEnd)) !== 0;
}

interface Interval {
  start: number;
  /** Excluded; Infinity when no end was found within the look-ahead. */
  end: number;
}

/** Windows starting on a local day, in start order, cut at the silence's finish. */
function dayWindows(zone: string, c: CompiledSchedule, finishedAt: number, day: number): Interval[] {
  if (!daySelected(c, day)) return [];
  const out: Interval[] = [];
  const midnight = day * DAY;
  for (const r of c.ranges) {
    const start = instantAtWallTime(zone, midnight + r.startMin * MINUTE);
    const end = Math.min(r.durationMs !== undefined ? start + r.durationMs : instantAtWallTime(zone, midnight + r.endMin! * MINUTE), finishedAt);
    if (end > start) out.push({ start, end });
  }
  return out.sort((a, b) => a.start - b.start);
}

/**
 * dayWindows for long scans: on a day whose zone offset stays the same until the latest local end
 * (two days on), local times map to instants by one offset; other days go the exact way. (An end
 * given as a duration is elapsed time in both.)
 */
function dayWindowsScanned(zone: string, c: CompiledSchedule, finishedAt: number, day: number): Interval[] {
  if (!daySelected(c, day)) return [];
  const midnight = day * DAY;
  const offset = instantAtWallTime(zone, midnight) - midnight;
  if (instantAtWallTime(zone, midnight + 2 * DAY) - (midnight + 2 * DAY) !== offset) {
    return dayWindows(zone, c, finishedAt, day);
  }
  const out: Interval[] = [];
  for (const r of c.ranges) {
    const start = midnight + r.startMin * MINUTE + offset;
    const end = Math.min(r.durationMs !== undefined ? start + r.durationMs : midnight + r.endMin! * MINUTE + offset, finishedAt);
    if (end > start) out.push({ start, end });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Whether the silence is in force at `ts` (its scope aside). */
export function isActive(silence: Silence, ts: number): boolean {
  const c = compile(silence);
  if (ts >= c.finishedAt) return false;
  if (silence.window) return ts >= silence.window.startsAt && ts < silence.window.endsAt;
  const sc = c.schedule;
  if (!sc) return false;
  const today = localEpochDay(silence.timezone, ts);
  for (let day = today - sc.lookbackDays; day <= today + 1; day++) {
    for (const w of dayWindows(silence.timezone, sc, c.finishedAt, day)) if (w.start <= ts && ts < w.end) return true;
  }
  return false;
}

/** What a silence is matched against: the device, its site and the rule being notified. */
export interface SilenceTarget {
  readonly siteId: string;
  readonly deviceId: string;
  readonly ruleId: string;
}

/** Whether the silence's scope covers the target. */
export function covers(silence: Silence, target: SilenceTarget): boolean {
  const { siteId, deviceId, ruleIds } = silence.scope;
  if (siteId !== undefined && siteId !== target.siteId) return false;
  if (deviceId !== undefined && deviceId !== target.deviceId) return false;
  return ruleIds.length === 0 || ruleIds.includes(target.ruleId);
}

/** Whether the silence holds notifications for the target at `ts`. */
export function matches(silence: Silence, target: SilenceTarget, ts: number): boolean {
  return covers(silence, target) && isActive(silence, ts);
}

/**
 * The window in force at `ts`, or else the next one; overlapping and touching windows are one.
 * `end` is Infinity when windows follow each other without a gap for the next eight years.
 * Undefined when no window is in force at or after `ts`.
 */
export function windowAtOrAfter(silence: Silence, ts: number): { start: number; end: number } | undefined {
  const c = compile(silence);
  if (ts >= c.finishedAt) return undefined;
  if (silence.window) return silence.window.startsAt < c.finishedAt ? { start: silence.window.startsAt, end: c.finishedAt } : undefined;
  const sc = c.schedule;
  if (!sc) return undefined;
  const zone = silence.timezone;
  const today = localEpochDay(zone, ts);
  let current: Interval | undefined;
  const lastDay = Math.min(today + MAX_SCAN_DAYS, sc.untilDay);
  for (let day = today - sc.lookbackDays; day <= lastDay; day++) {
    // Windows of this day and later start after `current` ends: it is complete.
    if (current && day * DAY - EARLIEST_LOCAL_MIDNIGHT_MS > current.end) {
      if (current.end > ts) return current;
      current = undefined;
    }
    if (day * DAY - EARLIEST_LOCAL_MIDNIGHT_MS >= c.finishedAt) break;
    for (const w of dayWindows(zone, sc, c.finishedAt, day)) {
      if (current && w.start <= current.end) {
        current.end = Math.max(current.end, w.end);
      } else {
        if (current && current.end > ts) return current;
        current = { ...w };
      }
    }
  }
  if (!current || current.end <= ts) return undefined;
  // Still running at the end of the look-ahead (and not bounded by validUntil or an expiry).
  if (lastDay === today + MAX_SCAN_DAYS && current.end >= (lastDay - 1) * DAY) current.end = Infinity;
  return current;
}

/**
 * The longest stretch in which the silence is in force without a gap, among those reaching past
 * `from` and starting before `until`; overlapping and touching windows are one, and a stretch that
 * starts before `until` is followed past it to its real end (as far as `windowAtOrAfter` looks).
 * Stops at the first stretch longer than `stopAbove`. Undefined when no window falls in that span.
 */
export function longestStretch(silence: Silence, from: number, until: number, stopAbove = Infinity): { start: number; end: number } | undefined {
  const c = compile(silence);
  if (silence.window) return silence.window.startsAt < until && c.finishedAt > from ? { start: silence.window.startsAt, end: c.finishedAt } : undefined;
  const sc = c.schedule;
  if (!sc) return undefined;
  const zone = silence.timezone;
  let best: Interval | undefined;
  let current: Interval | undefined;
  const keep = (stretch: Interval | undefined) => {
    if (stretch && stretch.end > from && (!best || stretch.end - stretch.start > best.end - best.start)) best = stretch;
  };
  const untilDay = localEpochDay(zone, until);
  const lastDay = Math.min(untilDay + MAX_SCAN_DAYS, sc.untilDay);
  // Windows come in start order, day by day; each either extends the stretch or starts the next.
  for (let day = Math.max(localEpochDay(zone, from) - sc.lookbackDays, sc.fromDay); day <= lastDay; day++) {
    for (const w of dayWindowsScanned(zone, sc, c.finishedAt, day)) {
      if (current && w.start <= current.end) current.end = Math.max(current.end, w.end);
      else {
        keep(current);
        // A window starting at or after `until` only counts as part of a stretch begun before it.
        if (w.start >= until) return best;
        current = { ...w };
      }
      if (current.end > from && current.end - current.start > stopAbove) return current;
    }
    // Past `until`, the stretch is complete once no later day's window can reach it.
    if (day > untilDay && current && (day + 1) * DAY - EARLIEST_LOCAL_MIDNIGHT_MS > current.end) break;
  }
  keep(current);
  return best;
}

/** The next instant after `ts` at which the silence comes into or goes out of force; undefined if none is known. */
export function nextChange(silence: Silence, ts: number): number | undefined {
  const w = windowAtOrAfter(silence, ts);
  if (!w) return undefined;
  const change = w.start > ts ? w.start : w.end;
  return change === Infinity ? undefined : change;
}

export type SilenceStatus = 'active' | 'pending' | 'expired';

export const SILENCE_STATUS_LABELS: Record<SilenceStatus, { zh: string; en: string }> = {
  active: { zh: '生效中', en: 'active' },
  pending: { zh: '待生效', en: 'pending' },
  expired: { zh: '已过期', en: 'expired' },
};

/** active: in force now; pending: a window is still to come; expired: ended by hand, or no window from now on. */
export function silenceStatus(silence: Silence, now: number): SilenceStatus {
  if (silence.expiredAt !== undefined && silence.expiredAt <= now) return 'expired';
  if (isActive(silence, now)) return 'active';
  return windowAtOrAfter(silence, now) ? 'pending' : 'expired';
}

/** The instant after which the silence is never in force again (Infinity for an open-ended schedule). */
export function finishedAt(silence: Silence): number {
  return compile(silence).finishedAt;
}

// ── A set of silences, indexed for the rule engine ─────────────────────────────────────────

/**
 * Silences indexed by device and by site, so the question the rule engine asks on every
 * notifying transition — "is this rule on this device silenced at this instant?" — looks at the
 * few silences of that device and site only.
 */
export class SilenceSet {
  private readonly byId = new Map<string, Silence>();
  private readonly byDevice = new Map<string, Silence[]>();
  private readonly bySite = new Map<string, Silence[]>();

  constructor(silences: Iterable<Silence> = []) {
    for (const s of silences) this.put(s);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Silence | undefined {
    return this.byId.get(id);
  }

  values(): Silence[] {
    return [...this.byId.values()];
  }

  /** Adds a silence or replaces the one with its id. */
  put(silence: Silence): void {
    this.remove(silence.id);
    this.byId.set(silence.id, silence);
    const [index, key] = silence.scope.deviceId !== undefined ? [this.byDevice, silence.scope.deviceId] : [this.bySite, silence.scope.siteId!];
    const list = index.get(key);
    if (list) list.push(silence);
    else index.set(key, [silence]);
  }

  remove(id: string): boolean {
    const old = this.byId.get(id);
    if (!old) return false;
    this.byId.delete(id);
    const [index, key] = old.scope.deviceId !== undefined ? [this.byDevice, old.scope.deviceId] : [this.bySite, old.scope.siteId!];
    const rest = index.get(key)?.filter((s) => s.id !== id) ?? [];
    if (rest.length) index.set(key, rest);
    else index.delete(key);
    return true;
  }

  /** The first silence holding notifications for the target at `ts`: device silences before site ones, older before newer. */
  activeFor(target: SilenceTarget, ts: number): Silence | undefined {
    for (const list of [this.byDevice.get(target.deviceId), this.bySite.get(target.siteId)]) {
      if (list) for (const s of list) if (matches(s, target, ts)) return s;
    }
    return undefined;
  }

  /** Every silence holding notifications for the target at `ts`. */
  allActiveFor(target: SilenceTarget, ts: number): Silence[] {
    return [...(this.byDevice.get(target.deviceId) ?? []), ...(this.bySite.get(target.siteId) ?? [])].filter((s) => matches(s, target, ts));
  }
}
