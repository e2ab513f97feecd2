import { z } from 'zod';
import { IdSchema } from '../kernel/device.js';
import { isSingleLineText, SINGLE_LINE_TEXT_MESSAGE } from '../kernel/text.js';
import { IsoInstantSchema, parseIsoInstant } from '../kernel/time/instant.js';
import { DEFAULT_TIME_ZONE, epochDay, isTimeZone, isValidDate } from '../kernel/time/zone.js';

/**
 * People and on-call rosters: the `people`, `siteGroups`, `rotations` and `overrides` keys of the
 * `notify:` section of the config file (design §7). The channels, links and escalation policies
 * of that section are described elsewhere; this module only knows channel ids as names.
 *
 * ```yaml
 * notify:
 *   people:
 *     zhang-wei: { name: 张伟, phone: "+8613800000000", email: "zhang.wei@example.cn", channels: [ops-wecom, mail, sms] }
 *     li-na:     { name: 李娜, channels: [ops-wecom], contacts: { ops-wecom: "LiNa" } }
 *   siteGroups:
 *     east: [yantai-central, weihai-municipal]
 *   rotations:
 *     - { id: east-primary, groups: [east], zone: Asia/Shanghai, handover: "08:30", every: 7d,
 *         start: "2026-01-05", members: [zhang-wei, li-na] }
 *   overrides:
 *     - { id: spring-festival, rotation: east-primary, kind: holiday, from: "2026-02-16T08:30:00+08:00",
 *         until: "2026-02-19T08:30:00+08:00", replacement: li-na, createdAt: "2026-01-20T10:00:00+08:00" }
 * ```
 *
 * A rotation hands over at `handover` (local clock of `zone`, Asia/Shanghai by default) every
 * `every` (daily, weekly, or a whole number of days or weeks: `3d`, `2w`); `members[0]` starts the
 * shift that begins on the local date `start` (default 1970-01-05, a Monday, so a weekly rotation
 * hands over on Mondays), and the members follow in order, round and round, before and after it.
 * A rotation covers the sites it names and the sites of the groups it names; `role` tells which
 * step of an escalation chain it staffs (primary by default).
 *
 * An override (swap, leave, holiday) puts `replacement` on call for one rotation on
 * [from, until) — for whoever is scheduled then, or, with `replaces`, only while that person is
 * scheduled. Where overrides overlap, the latest created wins (`createdAt`; one without it counts
 * as created before any with it; on a tie the later in the list wins).
 *
 * Cross references are checked: a rotation or override naming an unknown person, a rotation
 * naming an unknown site group, an override naming an unknown rotation are refused with their path.
 */

export const HANDOVER_PATTERN = /^(?:[01]\d|2[0-3]):[0-5]\d$/;
const LOCAL_DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const EVERY_PATTERN = /^(?:daily|weekly|(\d{1,3})([dw]))$/;
/** The longest rotation shift: a year. */
export const MAX_SHIFT_DAYS = 366;
/** The default first day of a rotation: a Monday. */
export const DEFAULT_ROTATION_START = '1970-01-05';
export const DEFAULT_HANDOVER = '08:30';

export const ONCALL_ROLES = ['primary', 'secondary', 'supervisor', 'manager'] as const;
export type OnCallRole = (typeof ONCALL_ROLES)[number];

export const OVERRIDE_KINDS = ['swap', 'leave', 'holiday'] as const;
export type OverrideKind = (typeof OVERRIDE_KINDS)[number];

const label = (max: number) => z.string().min(1).max(max).refine(isSingleLineText, SINGLE_LINE_TEXT_MESSAGE);

/** Days of a shift for `every`, or undefined when the text is not one. */
export function shiftDays(every: string): number | undefined {
  const m = EVERY_PATTERN.exec(every);
  if (m === null) return undefined;
  if (every === 'daily') return 1;
  if (every === 'weekly') return 7;
  const days = Number(m[1]) * (m[2] === 'w' ? 7 : 1);
  return days >= 1 && days <= MAX_SHIFT_DAYS ? days : undefined;
}

/** The epoch day of a local date `YYYY-MM-DD`, or undefined when the text is not a real date. */
export function parseLocalDate(text: string): number | undefined {
  const m = LOCAL_DATE_PATTERN.exec(text);
  if (m === null) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return isValidDate(year, month, day) ? epochDay(year, month, day) : undefined;
}

/** Minutes after local midnight of a handover time `HH:mm`, or undefined when the text is not one. */
export function parseHandover(text: string): number | undefined {
  if (!HANDOVER_PATTERN.test(text)) return undefined;
  return Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));
}

export const PersonSchema = z
  .object({
    name: label(100).describe('shown in messages and on the console, e.g. 张伟'),
    phone: z
      .string()
      .regex(/^\+?\d[\d -]{4,19}$/, 'must be a phone number, e.g. +8613800000000')
      .optional()
      .describe('for SMS'),
    email: z
      .string()
      .max(254)
      .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an e-mail address')
      .optional(),
    channels: z.array(IdSchema).max(20).default([]).describe('channel ids, in the order to try them'),
    contacts: z
      .record(IdSchema, label(200))
      .default({})
      .describe('per channel id, how the person is addressed there (e.g. the WeCom user id to mention)'),
  })
  .strict();
export type Person = z.infer<typeof PersonSchema>;

export const RotationSchema = z
  .object({
    id: IdSchema,
    role: z.enum(ONCALL_ROLES).default('primary').describe('the step of the escalation chain this rotation staffs'),
    sites: z.array(IdSchema).max(1_000).default([]).describe('site ids this rotation covers'),
    groups: z.array(IdSchema).max(100).default([]).describe('site groups (notify.siteGroups) this rotation covers'),
    zone: z
      .string()
      .max(64)
      .refine(isTimeZone, 'must be an IANA time zone, e.g. Asia/Shanghai')
      .default(DEFAULT_TIME_ZONE)
      .describe('the zone of the handover time'),
    handover: z.string().regex(HANDOVER_PATTERN, 'must be a local time HH:mm, 00:00–23:59').default(DEFAULT_HANDOVER),
    every: z
      .string()
      .max(16)
      .refine((v) => shiftDays(v) !== undefined, `must be daily, weekly, or whole days or weeks up to ${MAX_SHIFT_DAYS}d, e.g. 3d, 2w`)
      .default('weekly')
      .describe('the length of a shift'),
    start: z
      .string()
      .refine((v) => parseLocalDate(v) !== undefined, 'must be a local date YYYY-MM-DD')
      .default(DEFAULT_ROTATION_START)
      .describe('the local date on which members[0] takes the first shift'),
    members: z.array(IdSchema).min(1, 'must name at least one person').max(100).describe('people ids, in the order they take shifts'),
  })
  .strict()
  .refine((r) => r.sites.length > 0 || r.groups.length > 0, { message: 'give sites, groups or both', path: ['sites'] });
export type Rotation = z.infer<typeof RotationSchema>;

export const OverrideSchema = z
  .object({
    id: IdSchema,
    rotation: IdSchema.describe('the rotation whose shifts it changes'),
    kind: z.enum(OVERRIDE_KINDS),
    from: IsoInstantSchema.describe('start, included (ISO-8601 with a zone)'),
    until: IsoInstantSchema.describe('end, excluded (ISO-8601 with a zone)'),
    replaces: IdSchema.optional().describe('only while this person is scheduled; absent: whoever is'),
    replacement: IdSchema.describe('the person on call instead'),
    createdAt: IsoInstantSchema.optional().describe('when it was made; the latest made wins where overrides overlap'),
    reason: label(500).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const from = parseIsoInstant(o.from);
    const until = parseIsoInstant(o.until);
    if (from !== undefined && until !== undefined && until <= from) ctx.addIssue({ code: 'custom', message: 'until must be after from', path: ['until'] });
    if (o.replaces !== undefined && o.replaces === o.replacement) ctx.addIssue({ code: 'custom', message: 'replacement is the person it replaces', path: ['replacement'] });
  });
export type Override = z.infer<typeof OverrideSchema>;

export const RosterShape = z.object({
  people: z.record(IdSchema, PersonSchema).default({}),
  siteGroups: z.record(IdSchema, z.array(IdSchema).min(1, 'a site group must name at least one site').max(1_000)).default({}),
  rotations: z.array(RotationSchema).max(500).default([]),
  overrides: z.array(OverrideSchema).max(10_000).default([]),
});
export type Roster = z.infer<typeof RosterShape>;

/** The cross references of a roster: people, groups and rotations that are named must exist. */
export function checkRosterReferences(roster: Roster, ctx: z.RefinementCtx): void {
  const people = new Set(Object.keys(roster.people));
  const groups = new Set(Object.keys(roster.siteGroups));
  const rotationIds = new Map<string, number>();
  const unknownPerson = (id: string, path: (string | number)[]) => {
    if (!people.has(id)) ctx.addIssue({ code: 'custom', message: `unknown person "${id}" (not in notify.people)`, path });
  };
  roster.rotations.forEach((r, i) => {
    const earlier = rotationIds.get(r.id);
    if (earlier !== undefined) ctx.addIssue({ code: 'custom', message: `rotation id "${r.id}" is already used by rotations.${earlier}`, path: ['rotations', i, 'id'] });
    else rotationIds.set(r.id, i);
    r.members.forEach((m, j) => unknownPerson(m, ['rotations', i, 'members', j]));
    r.groups.forEach((g, j) => {
      if (!groups.has(g)) ctx.addIssue({ code: 'custom', message: `unknown site group "${g}" (not in notify.siteGroups)`, path: ['rotations', i, 'groups', j] });
    });
  });
  const overrideIds = new Set<string>();
  roster.overrides.forEach((o, i) => {
    if (overrideIds.has(o.id)) ctx.addIssue({ code: 'custom', message: `override id "${o.id}" is used twice`, path: ['overrides', i, 'id'] });
    overrideIds.add(o.id);
    if (!rotationIds.has(o.rotation)) ctx.addIssue({ code: 'custom', message: `unknown rotation "${o.rotation}" (not in notify.rotations)`, path: ['overrides', i, 'rotation'] });
    unknownPerson(o.replacement, ['overrides', i, 'replacement']);
    if (o.replaces !== undefined) unknownPerson(o.replaces, ['overrides', i, 'replaces']);
  });
}

/** People, site groups, rotations and overrides of the `notify:` section, with their cross references checked. */
export const RosterSchema = RosterShape.strict().superRefine(checkRosterReferences);

export type RosterParse = { ok: true; roster: Roster } | { ok: false; errors: string[] };

/**
 * Reads a roster, reporting each problem as `<prefix>.<path>: <message>`
 * (e.g. `notify.rotations.0.members.1: unknown person "wang-fang" (not in notify.people)`).
 */
export function parseRoster(input: unknown, prefix = 'notify'): RosterParse {
  const result = RosterSchema.safeParse(input);
  if (result.success) return { ok: true, roster: result.data };
  return {
    ok: false,
    errors: result.error.issues.map((issue) => `${[prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.')}: ${issue.message}`),
  };
}
