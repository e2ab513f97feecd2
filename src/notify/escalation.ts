/**
 * The escalation chain: which people a grade's policy calls, when, on which channels — pure
 * functions of the settings, the compiled roster and an instant.
 *
 * A step's `to` names roles or people. A role is whoever its rotation puts on call for the site
 * at the step's time (overrides applied). `secondary` without a rotation of its own is the next
 * member of the primary rotation (the person who takes the following shift), so a two-person
 * rotation escalates to the other person. A role nobody staffs is shown as missing, not guessed.
 */
import type { Grade } from '../kernel/grades.js';
import type { ChannelConfig } from './channels/schema.js';
import { onCallAt, rotationFor, shiftAt, type OnCallRoster } from './oncall.js';
import { ONCALL_ROLES, type OnCallRole, type Person } from './roster-schema.js';
import { policyFor, type ChannelSelector, type NotifySettings } from './settings.js';

export interface ChainTarget {
  /** The role or person id the step names. */
  readonly ref: string;
  readonly role?: OnCallRole;
  /** Who is called; absent when nobody staffs the role. */
  readonly person?: string;
  readonly rotation?: string;
  /** Who the rotation schedules, when an override put someone else on call. */
  readonly scheduled?: string;
  readonly override?: { readonly id: string; readonly kind: string };
  /** Why nobody is called for this target. */
  readonly missing?: string;
}

export interface ChainStep {
  /** 0 the first call, 1 the next level, … */
  readonly level: number;
  /** After the notice. */
  readonly afterMs: number;
  /** When it goes out (the notice's time + after). */
  readonly at: number;
  readonly channels: ChannelSelector;
  readonly to: readonly ChainTarget[];
}

export interface Chain {
  readonly grade: Grade;
  /** Minor faults: no call, the morning digest instead. */
  readonly digest: boolean;
  readonly steps: readonly ChainStep[];
  readonly repeat?: { readonly everyMs: number; readonly times: number };
}

const ROLES: ReadonlySet<string> = new Set(ONCALL_ROLES);

/** Resolves one target of a step at a site at `at`. */
export function resolveTarget(roster: OnCallRoster, people: Readonly<Record<string, Person>>, site: string, ref: string, at: number): ChainTarget {
  if (!ROLES.has(ref)) return people[ref] ? { ref, person: ref } : { ref, missing: `unknown person ${ref}` };
  const role = ref as OnCallRole;
  const onCall = onCallAt(roster, site, at, role);
  if (onCall) {
    return {
      ref,
      role,
      person: onCall.person,
      rotation: onCall.rotation,
      ...(onCall.override && { scheduled: onCall.scheduled, override: onCall.override }),
    };
  }
  if (role === 'secondary') {
    const primary = rotationFor(roster, site, 'primary');
    if (primary && primary.members.length > 1) {
      const now = onCallAt(roster, site, at, 'primary');
      const next = shiftAt(primary, shiftAt(primary, at).end);
      if (next.person !== now?.person) return { ref, role, person: next.person, rotation: primary.id };
      const other = primary.members.find((m) => m !== now?.person);
      if (other !== undefined) return { ref, role, person: other, rotation: primary.id };
    }
  }
  return { ref, role, missing: `no ${role} rotation covers site ${site}` };
}

/** The chain a grade's policy gives at a site for a notice made at `at`. */
export function chainFor(settings: Pick<NotifySettings, 'escalation' | 'people'>, roster: OnCallRoster, site: string, grade: Grade, at: number): Chain {
  const policy = policyFor(settings, grade);
  const steps = policy.steps.map((s, level): ChainStep => {
    const stepAt = at + s.after;
    return { level, afterMs: s.after, at: stepAt, channels: s.channels, to: s.to.map((ref) => resolveTarget(roster, settings.people, site, ref, stepAt)) };
  });
  return { grade, digest: policy.digest, steps, ...(policy.repeat && { repeat: { everyMs: policy.repeat.every, times: policy.repeat.times } }) };
}

/** The people a step calls, each once, in the order named. */
export function peopleOf(step: Pick<ChainStep, 'to'>): string[] {
  return [...new Set(step.to.flatMap((t) => (t.person === undefined ? [] : [t.person])))];
}

/**
 * The channel ids a step uses for a person, in the person's order: `all` — every channel that can
 * reach them; `first` — the first that can; a list — those whose id or type it names.
 */
export function channelsFor(person: Person, selector: ChannelSelector, channels: Readonly<Record<string, ChannelConfig>>, canReach: (channel: string) => boolean): string[] {
  const usable = person.channels.filter((id) => channels[id] !== undefined && canReach(id));
  if (selector === 'all') return usable;
  if (selector === 'first') return usable.slice(0, 1);
  const wanted = new Set<string>(selector);
  return usable.filter((id) => wanted.has(id) || wanted.has(channels[id]!.type));
}

/** The person's next channel after the ones tried (a permanent failure moves on to it). */
export function nextChannel(person: Person, tried: ReadonlySet<string>, channels: Readonly<Record<string, ChannelConfig>>, canReach: (channel: string) => boolean): string | undefined {
  return person.channels.find((id) => !tried.has(id) && channels[id] !== undefined && canReach(id));
}
