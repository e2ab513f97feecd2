/**
 * Behaviour every DeadLetterStore adapter must show (`src/kernel/ports/dead-letter-store.ts`).
 * Only the port is exercised, so the same suite runs against the SQL adapter on SQLite and on
 * PostgreSQL.
 *
 * `open` must hand out a store on an empty database of its own: listing without a filter,
 * countByReason and prune see every dead letter there is.
 *
 * Text: a payload is whatever bytes a client sent, decoded as UTF-8. PostgreSQL text cannot hold
 * U+0000, so every adapter reads it back as U+FFFD (on every engine, so a dead letter reads the
 * same wherever it is kept); everything else, non-BMP characters included, reads back as written.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registeredAsSkipped, once } from './support.js';
import type { DeadLetter, DeadLetterFilter, DeadLetterStore, StoredDeadLetter } from '../../src/kernel/ports/dead-letter-store.js';

export interface DeadLetterStoreContractOptions {
  /** When set, the suite is registered as skipped, with this reason in its name. */
  readonly skip?: string;
}

/** Epoch milliseconds past 2^32 (2031), as every stored time may be. */
const T0 = Date.UTC(2031, 5, 1, 8, 30, 15, 123);
const MINUTE = 60_000;
/** Larger than any page a test asks for: "every dead letter". */
const ALL = 100_000;

function letter(i: number, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    receivedAt: T0 + i * MINUTE,
    reason: i % 2 ? 'invalid_json' : 'unknown_metric',
    detail: `letter ${i}`,
    topic: `guardian/site-a/dev-${i % 3}/telemetry`,
    site: 'site-a',
    deviceId: `dev-${i % 3}`,
    payload: `{"n": ${i}}`,
    payloadBytes: 10 + i,
    ...overrides,
  };
}

/** What a letter reads back as: U+0000 as U+FFFD, the rest as written. */
function stored(l: DeadLetter): DeadLetter {
  const text = (t: string) => t.replaceAll('\u0000', '\uFFFD');
  return { ...l, detail: text(l.detail), topic: text(l.topic), payload: text(l.payload) };
}

function withoutId({ id: _id, ...rest }: StoredDeadLetter): DeadLetter {
  return rest;
}

function newestFirst(letters: readonly DeadLetter[]): DeadLetter[] {
  return [...letters].sort((a, b) => b.receivedAt - a.receivedAt);
}

function matches(l: DeadLetter, f: DeadLetterFilter): boolean {
  return (
    (f.reason === undefined || l.reason === f.reason) &&
    (f.deviceId === undefined || l.deviceId === f.deviceId) &&
    (f.site === undefined || l.site === f.site) &&
    (f.from === undefined || l.receivedAt >= f.from) &&
    (f.to === undefined || l.receivedAt < f.to)
  );
}

// ── Arbitraries ──────────────────────────────────────────────────────────────────────────

/** Well-formed text biased towards U+0000, non-BMP characters, quotes and wildcards. */
const textUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('\u0000', '😀', '𠮷', '中', "'", '"', '\\', '%', '_', '\n', '\uFFFD') },
  { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const text = fc.string({ unit: textUnit, maxLength: 40 });
// `_` and `.` would match `-` in a LIKE pattern; `%` matches anything.
const REASONS = ['invalid_json', 'unknown_metric', 'out_of_range', 'a%', 'a_'] as const;
const SITES = ['site-a', 'site_a', 'site.a'] as const;
const DEVICES = ['dev-1', 'dev_1', 'dev-2'] as const;

const letterArb = fc.record({
  gap: fc.integer({ min: 1, max: 10 * MINUTE }),
  reason: fc.constantFrom(...REASONS),
  site: fc.option(fc.constantFrom(...SITES), { nil: undefined }),
  deviceId: fc.option(fc.constantFrom(...DEVICES), { nil: undefined }),
  detail: text,
  topic: text,
  payload: text,
  payloadBytes: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

/** Absent `absentWeight` times in `absentWeight + 1`: filters that all apply at once leave little to match. */
const sometimes = <T>(arb: fc.Arbitrary<T>, absentWeight = 1) =>
  fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
/** An index into the letters kept and a step of -1, 0 or 1 ms off its time, to probe the bounds. */
const bound = fc.tuple(fc.nat(), fc.integer({ min: -1, max: 1 }));

const filterArb = fc.record({
  reason: sometimes(fc.constantFrom(...REASONS, 'nothing'), 2),
  deviceId: sometimes(fc.constantFrom(...DEVICES, 'nobody'), 2),
  site: sometimes(fc.constantFrom(...SITES, 'nowhere'), 2),
  from: sometimes(bound),
  to: sometimes(bound),
  limit: fc.integer({ min: 1, max: 30 }),
  offset: sometimes(fc.integer({ min: 0, max: 40 })),
});

export function describeDeadLetterStoreContract(
  name: string,
  open: () => Promise<{ store: DeadLetterStore; close(): Promise<void> }>,
  options: DeadLetterStoreContractOptions = {},
): void {
  if (registeredAsSkipped(name, options)) return;

  describe(name, () => {
    let store: DeadLetterStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      const handle = await open();
      store = handle.store;
      close = once(() => handle.close());
    });

    afterEach(async () => {
      await close();
    });

    const everything = async () => (await store.list({ limit: ALL })).items;

    it('starts empty, and an empty insert changes nothing', async () => {
      await store.insert([]);
      expect(await store.list()).toEqual({ items: [], total: 0 });
      expect(await store.countByReason()).toEqual({});
      expect(await store.prune(10)).toBe(0);
    });

    it('reads every field back, with site and device present or absent, newest first, each with an id of its own', async () => {
      const { site: _site, deviceId: _device, ...anonymous } = letter(2, { payload: '', detail: '', topic: '', payloadBytes: 0 });
      const big = letter(1, { payloadBytes: 2 ** 31 - 1, receivedAt: 8_640_000_000_000_000 });
      const { deviceId: _none, ...onlySite } = letter(3, { site: 'only-site' });
      // Inserted in the order received, as a collector does (the order itself has a test below).
      await store.insert([letter(0), anonymous, onlySite, big]);

      const { items, total } = await store.list();
      expect(total).toBe(4);
      expect(items.map(withoutId)).toEqual(newestFirst([letter(0), anonymous, big, onlySite]));
      // Absent means absent, not undefined or null.
      const anon = items.find((l) => l.receivedAt === anonymous.receivedAt)!;
      expect(Object.keys(anon).sort()).toEqual(['detail', 'id', 'payload', 'payloadBytes', 'reason', 'receivedAt', 'topic']);
      const ids = items.map((l) => l.id);
      expect(ids.every((id) => Number.isSafeInteger(id))).toBe(true);
      expect(new Set(ids).size).toBe(4);
    });

    it('keeps every letter of a large insert', async () => {
      await store.insert(Array.from({ length: 1203 }, (_, i) => letter(i)));
      const { items, total } = await store.list({ limit: 5 });
      expect(total).toBe(1203);
      expect(items.map(withoutId)).toEqual([1202, 1201, 1200, 1199, 1198].map((i) => letter(i)));
      expect(await store.countByReason()).toEqual({ invalid_json: 601, unknown_metric: 602 });
    });

    it('reads U+0000 back as U+FFFD and non-BMP characters exactly, in payload, detail and topic', async () => {
      const odd = 'nul \u0000 end\u0000, emoji 😀🇨🇳, ext-B 𠮷, bmp 中文 ™, quote \' " \\ % _, newline \n tab \t';
      await store.insert([letter(0, { payload: odd, detail: `detail ${odd}`, topic: `guardian/${odd}`, payloadBytes: Buffer.byteLength(odd) })]);
      const [got] = await everything();
      expect(got && withoutId(got)).toEqual(stored(letter(0, { payload: odd, detail: `detail ${odd}`, topic: `guardian/${odd}`, payloadBytes: Buffer.byteLength(odd) })));
      expect(got?.payload).toBe(odd.replaceAll('\u0000', '\uFFFD'));
      expect(got?.payload).toContain('😀🇨🇳');
      expect(got?.payload).not.toContain('\u0000');
    });

    it('reads text cut inside a surrogate pair as a UTF-8 encoder writes it: one U+FFFD for the lone half', async () => {
      // The ingestor keeps `topic.slice(0, 500)`, and topic.ts quotes `site.slice(0, 80)` in the
      // detail; a cut through a non-BMP character leaves half a surrogate pair.
      const topic = `guardian/${'😀'.repeat(300)}`.slice(0, 500);
      const site = `a${'𠮷'.repeat(50)}`;
      const detail = `site "${site.slice(0, 80)}" is not a valid id`;
      const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/;
      expect([lone.test(topic), lone.test(detail)]).toEqual([true, true]);
      await store.insert([letter(0, { topic, detail, payload: 'x\uDC00y' })]);
      const [got] = await everything();
      const utf8 = (t: string) => Buffer.from(t, 'utf8').toString('utf8');
      expect(got?.payload).toBe('x\uFFFDy');
      expect(got?.detail).toBe(utf8(detail));
      expect(got?.topic).toBe(utf8(topic));
    });

    it('filters by reason, device, site and time ([from, to)), pages with limit and offset, and counts every match', async () => {
      await store.insert(Array.from({ length: 60 }, (_, i) => letter(i)));
      await store.insert([letter(100, { site: 'site-b', deviceId: 'dev-0' })]);
      const list = (f: DeadLetterFilter) => store.list({ limit: ALL, ...f });
      const times = async (f: DeadLetterFilter) => {
        const { items, total } = await list(f);
        return { total, minutes: items.map((l) => (l.receivedAt - T0) / MINUTE) };
      };

      expect((await list({ reason: 'invalid_json' })).total).toBe(30);
      expect((await list({ reason: 'no_such_reason' })).total).toBe(0);
      expect((await list({ deviceId: 'dev-1' })).items.map(withoutId)).toEqual(newestFirst(Array.from({ length: 20 }, (_, k) => letter(3 * k + 1))));
      expect(await times({ site: 'site-b' })).toEqual({ total: 1, minutes: [100] });
      expect((await list({ site: 'site-a' })).total).toBe(60);
      expect(await times({ from: T0 + 10 * MINUTE, to: T0 + 13 * MINUTE })).toEqual({ total: 3, minutes: [12, 11, 10] });
      expect(await times({ from: T0 + 10 * MINUTE + 1, to: T0 + 13 * MINUTE + 1 })).toEqual({ total: 3, minutes: [13, 12, 11] });
      expect(await times({ from: T0 + 58 * MINUTE })).toEqual({ total: 3, minutes: [100, 59, 58] });
      expect(await times({ to: T0 + 2 * MINUTE })).toEqual({ total: 2, minutes: [1, 0] });
      expect(await times({ from: T0 + 5 * MINUTE, to: T0 + 5 * MINUTE })).toEqual({ total: 0, minutes: [] });
      // unknown_metric (even i) from dev-0 (i divisible by 3) in [10, 40) minutes: 12, 18, 24, 30, 36.
      const all = { reason: 'unknown_metric', deviceId: 'dev-0', site: 'site-a', from: T0 + 10 * MINUTE, to: T0 + 40 * MINUTE };
      expect(await times(all)).toEqual({ total: 5, minutes: [36, 30, 24, 18, 12] });
      expect(await times({ ...all, limit: 3, offset: 1 })).toEqual({ total: 5, minutes: [30, 24, 18] });
      expect(await times({ ...all, limit: 3, offset: 4 })).toEqual({ total: 5, minutes: [12] });
      expect(await times({ ...all, limit: 3, offset: 5 })).toEqual({ total: 5, minutes: [] });
      expect(await times({ limit: 2 })).toEqual({ total: 61, minutes: [100, 59] });
      expect(await times({ limit: 2, offset: 59 })).toEqual({ total: 61, minutes: [1, 0] });
    });

    it('pages through letters received at the same instant without repeating or missing one', async () => {
      await store.insert(Array.from({ length: 31 }, (_, i) => letter(i, { receivedAt: T0, detail: `same instant ${i}` })));
      const pages: string[] = [];
      for (let offset = 0; offset < 31; offset += 7) pages.push(...(await store.list({ limit: 7, offset })).items.map((l) => l.detail));
      expect(pages).toHaveLength(31);
      expect(new Set(pages).size).toBe(31);
    });

    it('means by newest the latest received, whatever order the letters were inserted in (list and prune)', async () => {
      // Two collectors sharing the database flush their batches in either order; so does one
      // whose clock was stepped back.
      const late = [10, 11, 12].map((i) => letter(i));
      const early = [0, 1, 2].map((i) => letter(i));
      await store.insert(late);
      await store.insert(early);
      const minutes = async () => (await everything()).map((l) => (l.receivedAt - T0) / MINUTE);
      expect(await minutes()).toEqual([12, 11, 10, 2, 1, 0]);
      expect((await store.list({ limit: 2, offset: 2 })).items.map((l) => (l.receivedAt - T0) / MINUTE)).toEqual([10, 2]);
      expect(await store.prune(3)).toBe(3);
      expect(await minutes()).toEqual([12, 11, 10]);
    });

    it('counts letters per reason', async () => {
      await store.insert([letter(0), letter(1), letter(2), letter(3, { reason: 'payload_too_large' })]);
      expect(await store.countByReason()).toEqual({ unknown_metric: 2, invalid_json: 1, payload_too_large: 1 });
    });

    it('prunes to the newest N, answering how many went', async () => {
      await store.insert(Array.from({ length: 50 }, (_, i) => letter(i)));
      expect(await store.prune(60)).toBe(0);
      expect(await store.prune(50)).toBe(0);
      expect(await store.prune(20)).toBe(30);
      expect((await everything()).map(withoutId)).toEqual(newestFirst(Array.from({ length: 20 }, (_, i) => letter(30 + i))));
      expect(await store.countByReason()).toEqual({ invalid_json: 10, unknown_metric: 10 });
      expect(await store.prune(20)).toBe(0);
      expect(await store.prune(1)).toBe(19);
      expect((await everything()).map(withoutId)).toEqual([letter(49)]);
      expect(await store.prune(0)).toBe(1);
      expect(await store.list()).toEqual({ items: [], total: 0 });
    });

    it('any sequence of inserts, filtered lists and prunes agrees with a plain list of what was kept (property)', async () => {
      // Letters go in as a collector sends them: in the order received. The state carries over
      // between runs; each run reads it first, so a run checks only its own steps.
      let clock = T0;
      await fc.assert(
        fc.asyncProperty(fc.array(letterArb, { maxLength: 25 }), filterArb, sometimes(fc.nat({ max: 60 }), 3), async (batch, f, keep) => {
          const before = (await everything()).map(withoutId);
          const letters = batch.map(({ gap, site, deviceId, ...rest }): DeadLetter => {
            clock += gap;
            return { receivedAt: clock, ...rest, ...(site !== undefined && { site }), ...(deviceId !== undefined && { deviceId }) };
          });
          await store.insert(letters);
          const kept = [...letters.map(stored).reverse(), ...before];

          const at = (pick: readonly [number, number] | undefined) => (pick && kept.length ? kept[pick[0] % kept.length]!.receivedAt + pick[1] : undefined);
          const from = at(f.from);
          const to = at(f.to);
          const filter: DeadLetterFilter = {
            limit: f.limit,
            ...(f.offset !== undefined && { offset: f.offset }),
            ...(f.reason !== undefined && { reason: f.reason }),
            ...(f.deviceId !== undefined && { deviceId: f.deviceId }),
            ...(f.site !== undefined && { site: f.site }),
            ...(from !== undefined && { from }),
            ...(to !== undefined && { to }),
          };
          const matching = kept.filter((l) => matches(l, filter));
          const page = await store.list(filter);
          expect(page.total).toBe(matching.length);
          const offset = filter.offset ?? 0;
          expect(page.items.map(withoutId)).toEqual(matching.slice(offset, offset + f.limit));

          const counts: Record<string, number> = {};
          for (const l of kept) counts[l.reason] = (counts[l.reason] ?? 0) + 1;
          expect(await store.countByReason()).toEqual(counts);

          if (keep !== undefined) {
            expect(await store.prune(keep)).toBe(Math.max(0, kept.length - keep));
            expect((await everything()).map(withoutId)).toEqual(kept.slice(0, keep));
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}
