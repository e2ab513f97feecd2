import { parseIsoInstant } from '../kernel/time/instant.js';
import { instantAtWallTime, wallTime } from '../kernel/time/zone.js';
import type { OnCallRole, OverrideKind, Roster, Rotation } from './roster-schema.js';
import { parseHandover, parseLocalDate, shiftDays } from './roster-schema.js';

/**
 * Who is on call: rotation arithmetic over a validated roster (`roster-schema.ts`).
 *
 * Shift k of a rotation starts when the local clock of its zone reads `handover` on the date
 * `start + k × every` (k any integer, so shifts run before the start date too) and is taken by
 * `members[k mod n]`. The local start becomes an instant by the kernel's rule
 * (`src/kernel/time/zone.ts`): a handover in a spring-forward gap moves forward by the gap
 * (Europe/Berlin 2026-03-29 02:30 → 03:30 CEST), one that happens twice is taken the first time.
 * So a daily rotation's shift lasts 24 h of elapsed time except across a change of offset
 * (23 h or 25 h in Berlin), and the handover always happens at the local handover time.
 *
 * Overrides replace the scheduled person on [from, until); where several apply, the latest
 * created wins. Everything here is pure: no I/O, no clock. Times are epoch milliseconds.
 */

const MINUTE = 60_000;
const DAY = 86_400_000;

/** A rotation ready for arithmetic. */
export interface CompiledRotation {
  readonly id: string;
  readonly role: OnCallRole;
  readonly zone: string;
  readonly sites: ReadonlySet<string>;
  readonly members: readonly string[];
  /** Local wall time (see zone.ts) at which shift 0 starts. */
  readonly firstWall: number;
  readonly shiftMs: number;
  /** Order in the roster, for choosing among rotations that cover a site. */
  readonly index: number;
  /** Sites named directly (not through a group): these win over group coverage. */
  readonly direct: ReadonlySet<string>;
}

export interface CompiledOverride {
  readonly id: string;
  readonly rotation: string;
  readonly kind: OverrideKind;
  readonly from: number;
  readonly until: number;
  readonly replaces?: string;
  readonly replacement: string;
  /** -Infinity when not given: made before any override that says when it was made. */
  readonly createdAt: number;
  /** Order among overrides, breaking ties of createdAt (the later wins). */
  readonly seq: number;
}

export interface OnCallRoster {
  readonly rotations: readonly CompiledRotation[];
  /** Per rotation id, its overrides. */
  readonly overrides: ReadonlyMap<string, readonly CompiledOverride[]>;
}

export interface Shift {
  /** The shift number (0 = the one starting on the rotation's start date). */
  readonly index: number;
  readonly person: string;
  readonly start: number;
  /** The next handover: the end, excluded, of the shift. */
  readonly end: number;
}

export interface OnCall {
  readonly rotation: string;
  readonly role: OnCallRole;
  /** Who is on call: the override's replacement, or the scheduled person. */
  readonly person: string;
  /** Who the rotation schedules. */
  readonly scheduled: string;
  /** The override in force, if any. */
  readonly override?: { readonly id: string; readonly kind: OverrideKind };
  readonly shift: Shift;
}

/** Turns a rotation into its arithmetic. */
export function compileRotation(rotation: Rotation, index = 0, siteGroups: Readonly<Record<string, readonly string[]>> = {}): CompiledRotation {
  const days = shiftDays(rotation.every);
  const start = parseLocalDate(rotation.start);
  const handover = parseHandover(rotation.handover);
  if (days === undefined || start === undefined || handover === undefined) throw new RangeError(`rotation ${rotation.id} is not valid; check it with RotationSchema first`);
  if (rotation.members.length === 0) throw new RangeError(`rotation ${rotation.id} has no members`);
  const sites = new Set(rotation.sites);
  for (const group of rotation.groups) for (const site of siteGroups[group] ?? []) sites.add(site);
  return {
    id: rotation.id,
    role: rotation.role,
    zone: rotation.zone,
    sites,
    direct: new Set(rotation.sites),
    members: [...rotation.members],
    firstWall: start * DAY + handover * MINUTE,
    shiftMs: days * DAY,
    index,
  };
}

/** Turns a validated roster into its arithmetic. */
export function compileRoster(roster: Roster): OnCallRoster {
  const rotations = roster.rotations.map((r, i) => compileRotation(r, i, roster.siteGroups));
  const overrides = new Map<string, CompiledOverride[]>();
  roster.overrides.forEach((o, seq) => {
    const from = parseIsoInstant(o.from);
    const until = parseIsoInstant(o.until);
    if (from === undefined || until === undefined) throw new RangeError(`override ${o.id} is not valid; check it with OverrideSchema first`);
    const createdAt = o.createdAt === undefined ? undefined : parseIsoInstant(o.createdAt);
    const compiled: CompiledOverride = {
      id: o.id,
      rotation: o.rotation,
      kind: o.kind,
      from,
      until,
      ...(o.replaces === undefined ? {} : { replaces: o.replaces }),
      replacement: o.replacement,
      createdAt: createdAt ?? -Infinity,
      seq,
    };
    const list = overrides.get(o.rotation);
    if (list) list.push(compiled);
    else overrides.set(o.rotation, [compiled]);
  });
  return { rotations, overrides };
}

/** The instant shift `k` of a rotation starts. */
export function shiftStart(rotation: CompiledRotation, k: number): number {
  return instantAtWallTime(rotation.zone, rotation.firstWall + k * rotation.shiftMs);
}

/** The shift of a rotation in force at `at`: start ≤ at < end. */
export function shiftAt(rotation: CompiledRotation, at: number): Shift {
  // The local clock gives the shift to within one; a handover moved by daylight saving settles it.
  let k = Math.floor((wallTime(rotation.zone, at) - rotation.firstWall) / rotation.shiftMs);
  let start = shiftStart(rotation, k);
  while (start > at) start = shiftStart(rotation, --k);
  let end = shiftStart(rotation, k + 1);
  while (end <= at) {
    start = end;
    end = shiftStart(rotation, ++k + 1);
  }
  const n = rotation.members.length;
  return { index: k, person: rotation.members[((k % n) + n) % n]!, start, end };
}

/** The next handover of a rotation after `at` (strictly after). */
export function nextHandover(rotation: CompiledRotation, at: number): number {
  return shiftAt(rotation, at).end;
}

/** The override of a rotation in force at `at` for the scheduled person, if any: the latest created. */
export function overrideAt(overrides: readonly CompiledOverride[], scheduled: string, at: number): CompiledOverride | undefined {
  let best: CompiledOverride | undefined;
  for (const o of overrides) {
    if (!(o.from <= at && at < o.until)) continue;
    if (o.replaces !== undefined && o.replaces !== scheduled) continue;
    if (best === undefined || o.createdAt > best.createdAt || (o.createdAt === best.createdAt && o.seq > best.seq)) best = o;
  }
  return best;
}

/** Who a rotation puts on call at `at`, overrides applied. */
export function rotationOnCall(roster: OnCallRoster, rotation: CompiledRotation, at: number): OnCall {
  const shift = shiftAt(rotation, at);
  const o = overrideAt(roster.overrides.get(rotation.id) ?? [], shift.person, at);
  return {
    rotation: rotation.id,
    role: rotation.role,
    person: o?.replacement ?? shift.person,
    scheduled: shift.person,
    ...(o === undefined ? {} : { override: { id: o.id, kind: o.kind } }),
    shift,
  };
}

/**
 * The rotation that staffs `role` for a site: one naming the site directly before one covering it
 * through a group, then the first in the roster. Undefined when none does.
 */
export function rotationFor(roster: OnCallRoster, site: string, role: OnCallRole = 'primary'): CompiledRotation | undefined {
  let best: CompiledRotation | undefined;
  for (const r of roster.rotations) {
    if (r.role !== role || !r.sites.has(site)) continue;
    if (best === undefined || (r.direct.has(site) && !best.direct.has(site))) best = r;
  }
  return best;
}

/** Who is on call for `role` (primary by default) at a site at instant `at`; undefined when no rotation covers the site. */
export function onCallAt(roster: OnCallRoster, site: string, at: number, role: OnCallRole = 'primary'): OnCall | undefined {
  const rotation = rotationFor(roster, site, role);
  return rotation === undefined ? undefined : rotationOnCall(roster, rotation, at);
}

/** The next handover after `at` of the rotation that staffs `role` at a site; undefined when none does. */
export function nextHandoverFor(roster: OnCallRoster, site: string, at: number, role: OnCallRole = 'primary'): number | undefined {
  const rotation = rotationFor(roster, site, role);
  return rotation === undefined ? undefined : nextHandover(rotation, at);
}
