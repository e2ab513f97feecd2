/**
 * Behaviour every SilenceStore adapter must show (`src/silences/store.ts`). Only the port is
 * exercised, so the same suite runs against the SQL adapter on SQLite and on PostgreSQL.
 *
 * `open` must hand out a store on an empty database of its own (list sees every silence).
 *
 * Silences are never deleted: expiring one records when (its `expiredAt`, and `updatedAt` with
 * it, as the silence service assumes when it mirrors the change) and keeps it. `list()` without
 * options includes expired ones (the service loads its history that way). The order of `list` is
 * not part of the port, so lists are compared by id.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registeredAsSkipped, once } from './support.js';
import { SilenceSpecSchema, toSilence, type Schedule, type Silence } from '../../src/silences/schedule.js';
import type { SilenceStore } from '../../src/silences/store.js';

export interface SilenceStoreContractOptions {
  /** When set, the suite is registered as skipped, with this reason in its name. */
  readonly skip?: string;
}

/** Epoch milliseconds past 2^32 (2031), as every stored time may be. */
const T0 = Date.UTC(2031, 5, 1, 8, 30, 15, 123);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const WINDOWED: Silence = {
  id: 'sil-window',
  scope: { siteId: 'yt-hospital', ruleIds: [] },
  author: '王工',
  reason: '年度保养 annual maintenance',
  timezone: 'Asia/Shanghai',
  window: { startsAt: T0, endsAt: T0 + 4 * HOUR },
  createdAt: T0 - HOUR,
  updatedAt: T0 - HOUR,
};

/** Every field a schedule has, in each of its forms. */
const EVERY_FIELD: Schedule = {
  weekdays: ['monday:friday', 'sun'],
  daysOfMonth: [1, '-7:-1', '15', -1],
  months: ['jan:mar', 'december', 7],
  times: [
    { start: '22:00', end: '02:00' },
    { start: '00:00', end: '24:00' },
    { start: '20:00', duration: '1d12h' },
  ],
  validFrom: '2031-01-01',
  validUntil: '2032-12-31',
};

const SCHEDULED: Silence = {
  id: 'sil-schedule',
  scope: { siteId: 'yt-hospital', deviceId: 'yt-mr-01', ruleIds: ['helium-level-low', 'cold-head-temp-high'] },
  author: 'li.ming',
  reason: '每周二 02:00–04:00 保养 🛠',
  timezone: 'Europe/Berlin',
  schedule: EVERY_FIELD,
  createdAt: T0,
  updatedAt: T0 + MINUTE,
};

const DEVICE_ONLY: Silence = {
  id: 'sil-device',
  scope: { deviceId: 'yt-ct-01', ruleIds: ['tube-arcs-rising'] },
  author: 'x',
  reason: 'y',
  timezone: 'UTC',
  schedule: { times: [{ start: '02:00', duration: '90m' }] },
  createdAt: T0 + HOUR,
  updatedAt: T0 + HOUR,
};

function byId(silences: readonly Silence[]): Silence[] {
  return [...silences].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// ── Arbitraries ──────────────────────────────────────────────────────────────────────────

/** Well-formed text biased towards non-BMP characters, quotes and wildcards; U+0000 has a test of its own. */
const textUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('😀', '𠮷', '中', "'", '"', '\\', '%', '_', '\n', '\uFFFD') },
  { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c !== '\u0000') },
);
const ZONES = ['Asia/Shanghai', 'UTC', 'Europe/Berlin', 'America/St_Johns', 'Pacific/Chatham'];
const instant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 0, 1) });
const hhmm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
const localDate = fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2040, 0, 1) }).map((t) => new Date(t).toISOString().slice(0, 10));

const scheduleArb = fc.record(
  {
    weekdays: fc.subarray(['monday', 'tue', 'saturday:sunday', 'wednesday:friday']),
    daysOfMonth: fc.subarray<string | number>([1, -1, '1:7', '-7:-1', 15, '28']),
    months: fc.subarray<string | number>(['jan', 'december', 3, '1:3', 'jul:aug']),
    times: fc.array(
      fc.oneof(
        fc.record({ start: hhmm, end: fc.oneof(hhmm, fc.constant('24:00')) }),
        fc.record({ start: hhmm, duration: fc.constantFrom('90m', '2h', '1d12h', '31d') }),
      ),
      { minLength: 1, maxLength: 3 },
    ),
    validFrom: localDate,
    validUntil: localDate,
  },
  { requiredKeys: ['times'] },
);

/** A valid spec (as the API accepts it) made a silence; ids are given per run. */
const silenceArb = fc
  .record(
    {
      siteId: fc.option(fc.constantFrom('yt-hospital', 'site_a', 'site.a'), { nil: undefined }),
      deviceId: fc.option(fc.constantFrom('yt-mr-01', 'ct_1'), { nil: undefined }),
      ruleIds: fc.subarray(['helium-level-low', 'tube-arcs-rising', 'no-data', 'x']),
      author: fc.string({ unit: textUnit, minLength: 1, maxLength: 50 }),
      reason: fc.string({ unit: textUnit, minLength: 1, maxLength: 200 }),
      timezone: fc.constantFrom(...ZONES),
      window: fc.tuple(instant, instant),
      schedule: scheduleArb,
      recurring: fc.boolean(),
      createdAt: instant,
      updatedAt: instant,
    },
    { requiredKeys: ['ruleIds', 'author', 'reason', 'timezone', 'window', 'schedule', 'recurring', 'createdAt', 'updatedAt'] },
  )
  .map((r) => {
    const [a, b] = r.window;
    const spec = SilenceSpecSchema.safeParse({
      scope: { ...(r.siteId !== undefined && { siteId: r.siteId }), ...(r.deviceId !== undefined && { deviceId: r.deviceId }), ruleIds: r.ruleIds },
      author: r.author,
      reason: r.reason,
      timezone: r.timezone,
      ...(r.recurring ? { schedule: r.schedule } : { window: { startsAt: new Date(Math.min(a, b)).toISOString(), endsAt: new Date(Math.max(a, b)).toISOString() } }),
    });
    return spec.success ? (id: string) => toSilence(spec.data, { id, createdAt: r.createdAt, updatedAt: r.updatedAt }) : undefined;
  })
  .filter((make) => make !== undefined)
  .map((make) => make!);

let runSerial = 0;

export function describeSilenceStoreContract(
  name: string,
  open: () => Promise<{ store: SilenceStore; close(): Promise<void> }>,
  options: SilenceStoreContractOptions = {},
): void {
  if (registeredAsSkipped(name, options)) return;

  describe(name, () => {
    let store: SilenceStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      const handle = await open();
      store = handle.store;
      close = once(() => handle.close());
    });

    afterEach(async () => {
      await close();
    });

    it('starts empty: nothing to get, list, update or expire', async () => {
      expect(await store.list()).toEqual([]);
      expect(await store.list({ includeExpired: false })).toEqual([]);
      expect(await store.get('nope')).toBeUndefined();
      expect(await store.update({ ...WINDOWED, id: 'nope' })).toBe(false);
      expect(await store.expire('nope', T0)).toBe(false);
      expect(await store.list()).toEqual([]);
    });

    it('reads back a one-off silence, a recurring one and one for a device alone, exactly as created', async () => {
      for (const s of [WINDOWED, SCHEDULED, DEVICE_ONLY]) await store.create(s);
      expect(await store.get(WINDOWED.id)).toEqual(WINDOWED);
      expect(await store.get(SCHEDULED.id)).toEqual(SCHEDULED);
      expect(await store.get(DEVICE_ONLY.id)).toEqual(DEVICE_ONLY);
      expect(byId(await store.list())).toEqual(byId([WINDOWED, SCHEDULED, DEVICE_ONLY]));
      // Absent means absent, not undefined or null.
      const windowed = await store.get(WINDOWED.id);
      expect(Object.keys(windowed!).sort()).toEqual(['author', 'createdAt', 'id', 'reason', 'scope', 'timezone', 'updatedAt', 'window']);
      expect(Object.keys(windowed!.scope)).toEqual(expect.arrayContaining(['siteId', 'ruleIds']));
      expect(Object.keys(windowed!.scope)).toHaveLength(2);
      expect(Object.keys((await store.get(SCHEDULED.id))!).sort()).toEqual(['author', 'createdAt', 'id', 'reason', 'schedule', 'scope', 'timezone', 'updatedAt']);
    });

    it('round-trips a schedule with every field in every form', async () => {
      await store.create(SCHEDULED);
      const got = await store.get(SCHEDULED.id);
      expect(got?.schedule).toEqual(EVERY_FIELD);
      // Numbers stay numbers and text stays text in the day lists.
      expect(got?.schedule?.daysOfMonth).toEqual([1, '-7:-1', '15', -1]);
      expect(got?.schedule?.months).toEqual(['jan:mar', 'december', 7]);
    });

    it('refuses a second silence with an id already taken, keeping the first', async () => {
      await store.create(WINDOWED);
      await expect(store.create({ ...SCHEDULED, id: WINDOWED.id })).rejects.toThrow();
      expect(await store.get(WINDOWED.id)).toEqual(WINDOWED);
      expect(await store.list()).toEqual([WINDOWED]);
    });

    it('lists expired silences unless told not to', async () => {
      const expired: Silence = { ...DEVICE_ONLY, id: 'sil-expired', expiredAt: T0 + 2 * HOUR };
      for (const s of [WINDOWED, SCHEDULED, expired]) await store.create(s);
      expect(byId(await store.list())).toEqual(byId([WINDOWED, SCHEDULED, expired]));
      expect(byId(await store.list({ includeExpired: true }))).toEqual(byId([WINDOWED, SCHEDULED, expired]));
      expect(byId(await store.list({ includeExpired: false }))).toEqual(byId([WINDOWED, SCHEDULED]));
      expect(await store.get(expired.id)).toEqual(expired);
    });

    it('update replaces every field but the id and creation time, and refuses an unknown id', async () => {
      await store.create(WINDOWED);
      await store.create(DEVICE_ONLY);
      const changed: Silence = {
        id: WINDOWED.id,
        scope: { deviceId: 'yt-mr-01', ruleIds: ['helium-level-low'] },
        author: '张工',
        reason: '改为每周维护',
        timezone: 'Europe/Berlin',
        schedule: { weekdays: ['tuesday'], times: [{ start: '02:00', end: '04:00' }] },
        createdAt: T0 + 100 * HOUR,
        updatedAt: T0 + 5 * HOUR,
      };
      expect(await store.update(changed)).toBe(true);
      expect(await store.get(WINDOWED.id)).toEqual({ ...changed, createdAt: WINDOWED.createdAt });

      // And back from a schedule to a window: nothing of the schedule is left.
      const back: Silence = { ...WINDOWED, updatedAt: T0 + 6 * HOUR };
      expect(await store.update(back)).toBe(true);
      expect(await store.get(WINDOWED.id)).toEqual(back);

      expect(await store.update({ ...changed, id: 'sil-unknown' })).toBe(false);
      expect(await store.get('sil-unknown')).toBeUndefined();
      expect(byId(await store.list())).toEqual(byId([back, DEVICE_ONLY]));
    });

    it('expires a silence once: the second expiry answers false and changes nothing', async () => {
      await store.create(WINDOWED);
      await store.create(SCHEDULED);
      expect(await store.expire(WINDOWED.id, T0 + HOUR)).toBe(true);
      const expired = { ...WINDOWED, expiredAt: T0 + HOUR, updatedAt: T0 + HOUR };
      expect(await store.get(WINDOWED.id)).toEqual(expired);
      expect(await store.expire(WINDOWED.id, T0 + 2 * HOUR)).toBe(false);
      expect(await store.get(WINDOWED.id)).toEqual(expired);
      expect(await store.expire('sil-unknown', T0)).toBe(false);
      // Kept as history; the other one is untouched.
      expect(byId(await store.list())).toEqual(byId([expired, SCHEDULED]));
      expect(await store.list({ includeExpired: false })).toEqual([SCHEDULED]);
    });

    it('reads a U+0000 in author or reason back as U+FFFD, as dead letters do (PostgreSQL text cannot hold it)', async () => {
      // Valid for SilenceSpecSchema, so POST /api/silences accepts it.
      const spec = SilenceSpecSchema.parse({ scope: { siteId: 'yt-hospital' }, author: 'a\u0000b', reason: '\u0000保养', window: { startsAt: '2031-06-01T02:00:00+08:00', endsAt: '2031-06-01T04:00:00+08:00' } });
      const silence = toSilence(spec, { id: 'sil-nul', createdAt: T0, updatedAt: T0 });
      await store.create(silence);
      expect(await store.get(silence.id)).toEqual({ ...silence, author: 'a\uFFFDb', reason: '\uFFFD保养' });
    });

    it('any valid silence round-trips through create, update and expire (property)', async () => {
      await fc.assert(
        fc.asyncProperty(silenceArb, silenceArb, fc.boolean(), instant, async (makeFirst, makeSecond, expiredAtStart, at) => {
          const id = `sil-${++runSerial}`;
          const first = expiredAtStart ? { ...makeFirst(id), expiredAt: at } : makeFirst(id);
          await store.create(first);
          expect(await store.get(id)).toEqual(first);
          expect((await store.list({ includeExpired: true })).find((s) => s.id === id)).toEqual(first);
          expect((await store.list({ includeExpired: false })).some((s) => s.id === id)).toBe(!expiredAtStart);
          if (expiredAtStart) {
            expect(await store.expire(id, at + 1)).toBe(false);
            expect(await store.get(id)).toEqual(first);
            return;
          }

          const second = makeSecond(id);
          expect(await store.update(second)).toBe(true);
          const updated = { ...second, createdAt: first.createdAt };
          expect(await store.get(id)).toEqual(updated);

          expect(await store.expire(id, at)).toBe(true);
          expect(await store.expire(id, at + 1)).toBe(false);
          expect(await store.get(id)).toEqual({ ...updated, expiredAt: at, updatedAt: at });
        }),
        { numRuns: 40 },
      );
    });
  });
}
