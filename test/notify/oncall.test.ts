import fc from 'fast-check';
import { Temporal } from 'temporal-polyfill';
import { describe, expect, it } from 'vitest';
import { dateOfEpochDay, epochDay } from '../../src/kernel/time/zone.js';
import { compileRoster, nextHandover, nextHandoverFor, onCallAt, overrideAt, rotationFor, shiftAt, shiftStart, type CompiledOverride } from '../../src/notify/oncall.js';
import { parseRoster, RosterSchema, RotationSchema, type Roster } from '../../src/notify/roster-schema.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);

const PEOPLE = {
  'zhang-wei': { name: '张伟', phone: '+8613800000000', email: 'zhang.wei@example.cn', channels: ['ops-wecom', 'mail', 'sms'] },
  'li-na': { name: '李娜', channels: ['ops-wecom'], contacts: { 'ops-wecom': 'LiNa' } },
  'wang-fang': { name: '王芳' },
  'chen-jie': { name: '陈杰' },
};

function roster(input: Record<string, unknown>): Roster {
  return RosterSchema.parse({ people: PEOPLE, ...input });
}

function single(rotation: Record<string, unknown>, overrides: unknown[] = []) {
  const r = roster({ rotations: [{ id: 'r', sites: ['site-a'], ...rotation }], overrides });
  const compiled = compileRoster(r);
  return { compiled, rotation: compiled.rotations[0]! };
}

// ── Schema ─────────────────────────────────────────────────────────────────────────────────

describe('roster schema', () => {
  it('fills the defaults: Asia/Shanghai, handover 08:30, weekly, from a Monday, primary', () => {
    const r = RotationSchema.parse({ id: 'east', sites: ['yantai-central'], members: ['zhang-wei'] });
    expect(r).toMatchObject({ zone: 'Asia/Shanghai', handover: '08:30', every: 'weekly', start: '1970-01-05', role: 'primary', groups: [] });
  });

  it('accepts the example of design §7 and keeps contacts per channel', () => {
    const parsed = parseRoster({
      people: PEOPLE,
      rotations: [{ id: 'east-primary', sites: ['yantai-central'], zone: 'Asia/Shanghai', handover: '08:30', every: '7d', members: ['zhang-wei', 'li-na'] }],
    });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.roster.people['li-na']!.contacts).toEqual({ 'ops-wecom': 'LiNa' });
  });

  const refused = (input: Record<string, unknown>): string[] => {
    const parsed = parseRoster({ people: PEOPLE, ...input });
    expect(parsed.ok).toBe(false);
    return parsed.ok ? [] : parsed.errors;
  };
  const rotation = (extra: Record<string, unknown>) => ({ rotations: [{ id: 'r', sites: ['site-a'], members: ['zhang-wei'], ...extra }] });

  it('refuses a rotation naming an unknown person, with the path', () => {
    expect(refused(rotation({ members: ['zhang-wei', 'nobody'] }))).toEqual(['notify.rotations.0.members.1: unknown person "nobody" (not in notify.people)']);
  });

  it('refuses a bad zone, a bad handover time, an empty member list, a bad length, a bad start date, with their paths', () => {
    expect(refused(rotation({ zone: 'Mars/Olympus' }))).toEqual(['notify.rotations.0.zone: must be an IANA time zone, e.g. Asia/Shanghai']);
    expect(refused(rotation({ zone: '+08:00' }))[0]).toMatch(/^notify\.rotations\.0\.zone: /);
    expect(refused(rotation({ handover: '24:00' }))).toEqual(['notify.rotations.0.handover: must be a local time HH:mm, 00:00–23:59']);
    expect(refused(rotation({ handover: '8:30' }))[0]).toMatch(/^notify\.rotations\.0\.handover: /);
    expect(refused(rotation({ members: [] }))).toEqual(['notify.rotations.0.members: must name at least one person']);
    expect(refused(rotation({ every: '12h' }))[0]).toMatch(/^notify\.rotations\.0\.every: must be daily, weekly/);
    expect(refused(rotation({ every: '0d' }))[0]).toMatch(/^notify\.rotations\.0\.every: /);
    expect(refused(rotation({ every: '53w' }))[0]).toMatch(/^notify\.rotations\.0\.every: /);
    expect(refused(rotation({ start: '2026-02-30' }))).toEqual(['notify.rotations.0.start: must be a local date YYYY-MM-DD']);
  });

  it('refuses a rotation covering nothing, an unknown site group, a duplicate id, an unknown key', () => {
    expect(refused(rotation({ sites: [] }))).toEqual(['notify.rotations.0.sites: give sites, groups or both']);
    expect(refused(rotation({ groups: ['west'] }))).toEqual(['notify.rotations.0.groups.0: unknown site group "west" (not in notify.siteGroups)']);
    const twice = { rotations: [0, 1].map(() => ({ id: 'r', sites: ['site-a'], members: ['li-na'] })) };
    expect(refused(twice)).toEqual(['notify.rotations.1.id: rotation id "r" is already used by rotations.0']);
    expect(refused(rotation({ member: ['li-na'] }))[0]).toMatch(/^notify\.rotations\.0: /);
  });

  it('refuses overrides naming unknown rotations or people, or with an empty range', () => {
    const base = rotation({});
    const override = (extra: Record<string, unknown>) => ({
      ...base,
      overrides: [{ id: 'o', rotation: 'r', kind: 'leave', from: '2026-02-16T08:30:00+08:00', until: '2026-02-19T08:30:00+08:00', replacement: 'li-na', ...extra }],
    });
    expect(parseRoster({ people: PEOPLE, ...override({}) }).ok).toBe(true);
    expect(refused(override({ rotation: 'west' }))).toEqual(['notify.overrides.0.rotation: unknown rotation "west" (not in notify.rotations)']);
    expect(refused(override({ replacement: 'nobody' }))).toEqual(['notify.overrides.0.replacement: unknown person "nobody" (not in notify.people)']);
    expect(refused(override({ replaces: 'nobody' }))).toEqual(['notify.overrides.0.replaces: unknown person "nobody" (not in notify.people)']);
    expect(refused(override({ until: '2026-02-16T08:30:00+08:00' }))).toEqual(['notify.overrides.0.until: until must be after from']);
    expect(refused(override({ from: '2026-02-16 08:30' }))[0]).toMatch(/^notify\.overrides\.0\.from: must be an ISO-8601 time with a zone/);
    expect(refused(override({ kind: 'sick' }))[0]).toMatch(/^notify\.overrides\.0\.kind: /);
    expect(refused(override({ replaces: 'li-na' }))).toEqual(['notify.overrides.0.replacement: replacement is the person it replaces']);
  });

  it('refuses a person with a malformed phone or e-mail', () => {
    expect(parseRoster({ people: { x: { name: 'X', phone: 'call me' } } })).toEqual({ ok: false, errors: ['notify.people.x.phone: must be a phone number, e.g. +8613800000000'] });
    expect(parseRoster({ people: { x: { name: 'X', email: 'nobody' } } })).toEqual({ ok: false, errors: ['notify.people.x.email: must be an e-mail address'] });
  });
});

// ── Examples ───────────────────────────────────────────────────────────────────────────────

describe('on call in Asia/Shanghai', () => {
  const { compiled, rotation } = single({ every: 'daily', handover: '08:30', start: '2026-01-05', members: ['zhang-wei', 'li-na', 'wang-fang'] });

  it('hands over at 08:30 local time, members in order, before and after the start date', () => {
    expect(onCallAt(compiled, 'site-a', at('2026-01-05T08:29:59.999+08:00'))?.person).toBe('wang-fang');
    expect(onCallAt(compiled, 'site-a', at('2026-01-05T08:30:00+08:00'))?.person).toBe('zhang-wei');
    expect(onCallAt(compiled, 'site-a', at('2026-01-06T08:29:00+08:00'))?.person).toBe('zhang-wei');
    expect(onCallAt(compiled, 'site-a', at('2026-01-06T08:30:00+08:00'))?.person).toBe('li-na');
    expect(onCallAt(compiled, 'site-a', at('2026-01-07T23:00:00+08:00'))?.person).toBe('wang-fang');
    expect(onCallAt(compiled, 'site-a', at('2026-01-08T09:00:00+08:00'))?.person).toBe('zhang-wei');
    expect(onCallAt(compiled, 'site-a', at('2025-12-31T09:00:00+08:00'))?.person).toBe('li-na'); // shift -5: members[1]
  });

  it('gives the shift and the next handover', () => {
    const now = at('2026-11-25T03:00:00+08:00');
    const oc = onCallAt(compiled, 'site-a', now)!;
    expect(oc.shift.start).toBe(at('2026-11-24T08:30:00+08:00'));
    expect(oc.shift.end).toBe(at('2026-11-25T08:30:00+08:00'));
    expect(nextHandover(rotation, now)).toBe(at('2026-11-25T08:30:00+08:00'));
    expect(nextHandover(rotation, at('2026-11-25T08:30:00+08:00'))).toBe(at('2026-11-26T08:30:00+08:00'));
    expect(nextHandoverFor(compiled, 'site-a', now)).toBe(at('2026-11-25T08:30:00+08:00'));
    expect(nextHandoverFor(compiled, 'site-b', now)).toBeUndefined();
    expect(onCallAt(compiled, 'site-b', now)).toBeUndefined();
  });

  it('a weekly rotation with the default start hands over on Mondays', () => {
    const weekly = single({ members: ['zhang-wei', 'li-na'] });
    const wednesday = at('2026-11-25T10:00:00+08:00');
    const shift = shiftAt(weekly.rotation, wednesday);
    expect(shift.start).toBe(at('2026-11-23T08:30:00+08:00'));
    expect(shift.end).toBe(at('2026-11-30T08:30:00+08:00'));
    expect(shiftAt(weekly.rotation, shift.end).person).not.toBe(shift.person);
  });

  it('a custom length of 3 days', () => {
    const three = single({ every: '3d', handover: '20:00', start: '2026-03-01', members: ['zhang-wei', 'li-na'] });
    expect(shiftAt(three.rotation, at('2026-03-01T20:00:00+08:00'))).toMatchObject({ index: 0, person: 'zhang-wei', end: at('2026-03-04T20:00:00+08:00') });
    expect(shiftAt(three.rotation, at('2026-03-04T19:59:59+08:00')).person).toBe('zhang-wei');
    expect(shiftAt(three.rotation, at('2026-03-04T20:00:00+08:00')).person).toBe('li-na');
    expect(shiftAt(three.rotation, at('2026-03-07T20:00:00+08:00')).person).toBe('zhang-wei');
  });
});

describe('on call across daylight saving time (Europe/Berlin)', () => {
  const berlin = (handover: string) => single({ zone: 'Europe/Berlin', every: 'daily', handover, start: '2026-03-01', members: ['zhang-wei', 'li-na'] }).rotation;

  it('a morning handover stays at 08:30 local: 23 h shift in spring, 25 h in autumn', () => {
    const r = berlin('08:30');
    const spring = shiftAt(r, at('2026-03-28T12:00:00+01:00'));
    expect(spring.start).toBe(at('2026-03-28T08:30:00+01:00'));
    expect(spring.end).toBe(at('2026-03-29T08:30:00+02:00'));
    expect(spring.end - spring.start).toBe(23 * HOUR);
    const autumn = shiftAt(r, at('2026-10-24T12:00:00+02:00'));
    expect(autumn.end).toBe(at('2026-10-25T08:30:00+01:00'));
    expect(autumn.end - autumn.start).toBe(25 * HOUR);
    // The person still alternates day by day.
    expect(shiftAt(r, autumn.end).person).not.toBe(autumn.person);
  });

  it('a handover in the spring-forward gap moves forward by the gap', () => {
    const r = berlin('02:30');
    const shift = shiftAt(r, at('2026-03-29T12:00:00+02:00'));
    expect(shift.start).toBe(at('2026-03-29T03:30:00+02:00'));
    // At 03:00 CEST (just after the jump) the previous shift still runs.
    const before = shiftAt(r, at('2026-03-29T03:00:00+02:00'));
    expect(before.index).toBe(shift.index - 1);
    expect(before.end).toBe(shift.start);
    expect(shift.end).toBe(at('2026-03-30T02:30:00+02:00'));
  });

  it('a handover that happens twice (fall back) is taken the first time', () => {
    const r = berlin('02:30');
    const shift = shiftAt(r, at('2026-10-25T12:00:00+01:00'));
    expect(shift.start).toBe(at('2026-10-25T02:30:00+02:00'));
    // The second 02:30 (CET) is inside that shift, not a new handover.
    expect(shiftAt(r, at('2026-10-25T02:30:00+01:00')).index).toBe(shift.index);
    expect(shift.end - shift.start).toBe(25 * HOUR);
  });
});

describe('overrides', () => {
  const rot = { zone: 'Asia/Shanghai', every: 'weekly', handover: '08:30', start: '2026-01-05', members: ['zhang-wei', 'li-na'] };
  const o = (id: string, extra: Record<string, unknown>) => ({ id, rotation: 'r', kind: 'holiday', from: '2026-02-16T08:30:00+08:00', until: '2026-02-19T08:30:00+08:00', replacement: 'wang-fang', ...extra });

  // Weeks from Monday 2026-01-05 08:30: zhang-wei, li-na, … so li-na has the week of 9 February, zhang-wei that of 16 February.
  it('a holiday puts the replacement on call for exactly its range', () => {
    const { compiled } = single(rot, [o('spring-festival', {})]);
    expect(onCallAt(compiled, 'site-a', at('2026-02-16T08:29:59.999+08:00'))).toMatchObject({ person: 'li-na', scheduled: 'li-na' });
    expect(onCallAt(compiled, 'site-a', at('2026-02-16T08:30:00+08:00'))).toMatchObject({ person: 'wang-fang', scheduled: 'zhang-wei', override: { id: 'spring-festival', kind: 'holiday' } });
    expect(onCallAt(compiled, 'site-a', at('2026-02-19T08:29:59.999+08:00'))?.person).toBe('wang-fang');
    const after = onCallAt(compiled, 'site-a', at('2026-02-19T08:30:00+08:00'))!;
    expect(after.person).toBe('zhang-wei');
    expect(after.override).toBeUndefined();
  });

  it('a leave with replaces applies only while that person is scheduled', () => {
    const leave = o('leave', { kind: 'leave', replaces: 'zhang-wei', from: '2026-02-01T00:00:00+08:00', until: '2026-03-01T00:00:00+08:00' });
    const { compiled } = single(rot, [leave]);
    expect(onCallAt(compiled, 'site-a', at('2026-02-17T12:00:00+08:00'))).toMatchObject({ scheduled: 'zhang-wei', person: 'wang-fang' });
    expect(onCallAt(compiled, 'site-a', at('2026-02-10T12:00:00+08:00'))).toMatchObject({ scheduled: 'li-na', person: 'li-na' });
    expect(onCallAt(compiled, 'site-a', at('2026-03-02T12:00:00+08:00'))).toMatchObject({ scheduled: 'zhang-wei', person: 'zhang-wei' });
  });

  it('where overrides overlap the latest created wins, whatever their order in the list', () => {
    const older = o('older', { replacement: 'wang-fang', createdAt: '2026-01-10T09:00:00+08:00', from: '2026-02-15T00:00:00+08:00', until: '2026-02-25T00:00:00+08:00' });
    const newer = o('newer', { kind: 'swap', replacement: 'chen-jie', createdAt: '2026-01-20T09:00:00+08:00' });
    for (const list of [[older, newer], [newer, older]]) {
      const { compiled } = single(rot, list);
      expect(onCallAt(compiled, 'site-a', at('2026-02-17T12:00:00+08:00'))?.person).toBe('chen-jie');
      expect(onCallAt(compiled, 'site-a', at('2026-02-15T12:00:00+08:00'))?.person).toBe('wang-fang');
      expect(onCallAt(compiled, 'site-a', at('2026-02-20T12:00:00+08:00'))?.person).toBe('wang-fang');
    }
    // Without createdAt, the later in the list wins, and any dated one beats an undated one.
    const a = o('a', {});
    const b = o('b', { replacement: 'chen-jie' });
    expect(onCallAt(single(rot, [a, b]).compiled, 'site-a', at('2026-02-17T12:00:00+08:00'))?.person).toBe('chen-jie');
    expect(onCallAt(single(rot, [b, a]).compiled, 'site-a', at('2026-02-17T12:00:00+08:00'))?.person).toBe('wang-fang');
    const dated = o('dated', { createdAt: '2026-01-01T00:00:00Z' });
    expect(onCallAt(single(rot, [dated, b]).compiled, 'site-a', at('2026-02-17T12:00:00+08:00'))?.person).toBe('wang-fang');
  });
});

describe('which rotation covers a site', () => {
  const r = compileRoster(
    roster({
      siteGroups: { east: ['yantai-central', 'weihai-municipal'] },
      rotations: [
        { id: 'east-primary', groups: ['east'], members: ['zhang-wei'] },
        { id: 'east-secondary', role: 'secondary', groups: ['east'], members: ['chen-jie'] },
        { id: 'weihai-primary', sites: ['weihai-municipal'], members: ['li-na'] },
      ],
    }),
  );
  const now = at('2026-11-25T10:00:00+08:00');

  it('covers the sites of its groups, per role; a rotation naming the site wins over a group', () => {
    expect(onCallAt(r, 'yantai-central', now)?.rotation).toBe('east-primary');
    expect(onCallAt(r, 'weihai-municipal', now)).toMatchObject({ rotation: 'weihai-primary', person: 'li-na' });
    expect(onCallAt(r, 'weihai-municipal', now, 'secondary')).toMatchObject({ rotation: 'east-secondary', person: 'chen-jie', role: 'secondary' });
    expect(rotationFor(r, 'yantai-central', 'manager')).toBeUndefined();
    expect(rotationFor(r, 'qingdao', 'primary')).toBeUndefined();
  });
});

// ── Properties ─────────────────────────────────────────────────────────────────────────────

const ZONES = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'America/Santiago', 'Asia/Kathmandu', 'UTC'];
const MEMBERS = ['zhang-wei', 'li-na', 'wang-fang', 'chen-jie'];
const T0 = at('2019-01-01T00:00:00Z');
const T1 = at('2033-01-01T00:00:00Z');

const rotationArb = fc.record({
  zone: fc.constantFrom(...ZONES),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.constantFrom(0, 15, 30, 45, 59),
  days: fc.oneof(fc.constantFrom(1, 7), fc.integer({ min: 1, max: 30 })),
  startDay: fc.integer({ min: epochDay(2020, 1, 1), max: epochDay(2030, 12, 31) }),
  members: fc.array(fc.constantFrom(...MEMBERS), { minLength: 1, maxLength: 6 }),
});
type RotationSpec = typeof rotationArb extends fc.Arbitrary<infer T> ? T : never;
const instantArb = fc.integer({ min: T0, max: T1 });

const pad = (n: number) => String(n).padStart(2, '0');
function toRotation(spec: RotationSpec): Record<string, unknown> {
  const d = dateOfEpochDay(spec.startDay);
  return {
    zone: spec.zone,
    handover: `${pad(spec.hour)}:${pad(spec.minute)}`,
    every: `${spec.days}d`,
    start: `${d.year}-${pad(d.month)}-${pad(d.day)}`,
    members: spec.members,
  };
}

/** The handover of shift k by Temporal, with its "compatible" disambiguation (the kernel's rule). */
function temporalHandover(spec: RotationSpec, k: number): number {
  const d = dateOfEpochDay(spec.startDay + k * spec.days);
  return Temporal.PlainDateTime.from({ year: d.year, month: d.month, day: d.day, hour: spec.hour, minute: spec.minute })
    .toZonedDateTime(spec.zone, { disambiguation: 'compatible' }).epochMilliseconds;
}

describe('on-call properties', () => {
  it('exactly one member is on call at any instant, in a shift that contains it', () => {
    fc.assert(
      fc.property(rotationArb, instantArb, (spec, t) => {
        const { compiled } = single(toRotation(spec));
        const oc = onCallAt(compiled, 'site-a', t);
        expect(oc).toBeDefined();
        expect(spec.members).toContain(oc!.person);
        expect(oc!.person).toBe(spec.members[((oc!.shift.index % spec.members.length) + spec.members.length) % spec.members.length]);
        expect(oc!.shift.start).toBeLessThanOrEqual(t);
        expect(t).toBeLessThan(oc!.shift.end);
        // Elapsed length within the largest change of offset of a day (Lord Howe: 30 min; others ≤ 1 h).
        expect(Math.abs(oc!.shift.end - oc!.shift.start - spec.days * DAY)).toBeLessThanOrEqual(2 * HOUR);
        if (spec.zone === 'Asia/Shanghai' || spec.zone === 'UTC') expect(oc!.shift.end - oc!.shift.start).toBe(spec.days * DAY);
      }),
      { numRuns: 300 },
    );
  });

  it('handovers happen when the local clock reads the handover time (Temporal agrees, DST included)', () => {
    fc.assert(
      fc.property(rotationArb, instantArb, (spec, t) => {
        const { rotation } = single(toRotation(spec));
        const shift = shiftAt(rotation, t);
        expect(shift.start).toBe(temporalHandover(spec, shift.index));
        expect(shift.end).toBe(temporalHandover(spec, shift.index + 1));
      }),
      { numRuns: 300 },
    );
  });

  it('the person on call is constant between consecutive handovers and changes at them', () => {
    fc.assert(
      fc.property(rotationArb, instantArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (spec, t, frac) => {
        const { rotation } = single(toRotation(spec));
        const shift = shiftAt(rotation, t);
        const u = shift.start + Math.floor(frac * (shift.end - shift.start));
        expect(shiftAt(rotation, u)).toEqual(shift);
        expect(shiftAt(rotation, shift.end - 1)).toEqual(shift);
        expect(shiftAt(rotation, shift.end).index).toBe(shift.index + 1);
        expect(shiftAt(rotation, shift.start - 1).index).toBe(shift.index - 1);
        expect(nextHandover(rotation, t)).toBe(shift.end);
        expect(shiftStart(rotation, shift.index)).toBe(shift.start);
      }),
      { numRuns: 300 },
    );
  });

  const overrideArb = fc
    .record({ from: instantArb, length: fc.integer({ min: 1, max: 30 * DAY }) })
    .map(({ from, length }) => ({ from, until: from + length }));
  const iso = (ms: number) => new Date(ms).toISOString();

  it('an override covers exactly its range: [from, until)', () => {
    fc.assert(
      fc.property(rotationArb, overrideArb, instantArb, (spec, range, t) => {
        const override = { id: 'o', rotation: 'r', kind: 'holiday', from: iso(range.from), until: iso(range.until), replacement: 'stand-in' };
        const compiled = compileRoster(
          RosterSchema.parse({ people: { ...PEOPLE, 'stand-in': { name: 'S' } }, rotations: [{ id: 'r', sites: ['site-a'], ...toRotation(spec) }], overrides: [override] }),
        );
        for (const x of [t, range.from - 1, range.from, range.until - 1, range.until]) {
          const oc = onCallAt(compiled, 'site-a', x)!;
          const inside = range.from <= x && x < range.until;
          expect(oc.person).toBe(inside ? 'stand-in' : oc.scheduled);
          expect(oc.scheduled).toBe(shiftAt(compiled.rotations[0]!, x).person);
          expect(oc.override?.id).toBe(inside ? 'o' : undefined);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('where overrides overlap, the latest created that applies wins, whatever the list order', () => {
    const entryArb = fc.record({
      from: fc.integer({ min: 0, max: 100 }),
      length: fc.integer({ min: 1, max: 60 }),
      replaces: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
      replacement: fc.constantFrom('x', 'y', 'z'),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 8 }).chain((created) =>
          fc.tuple(fc.array(entryArb, { minLength: created.length, maxLength: created.length }), fc.constant(created)),
        ),
        fc.integer({ min: -5, max: 170 }),
        fc.constantFrom('a', 'b'),
        ([entries, created], t, scheduled) => {
          const list: CompiledOverride[] = entries.map((e, i) => ({
            id: `o${i}`,
            rotation: 'r',
            kind: 'swap',
            from: e.from,
            until: e.from + e.length,
            ...(e.replaces === undefined ? {} : { replaces: e.replaces }),
            replacement: e.replacement,
            createdAt: created[i]!,
            seq: i,
          }));
          const applicable = list.filter((o) => o.from <= t && t < o.until && (o.replaces === undefined || o.replaces === scheduled));
          const expected = applicable.reduce<CompiledOverride | undefined>((best, o) => (best === undefined || o.createdAt > best.createdAt ? o : best), undefined);
          expect(overrideAt(list, scheduled, t)?.id).toBe(expected?.id);
          expect(overrideAt([...list].reverse(), scheduled, t)?.id).toBe(expected?.id);
        },
      ),
      { numRuns: 300 },
    );
  });
});
