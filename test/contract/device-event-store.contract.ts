/**
 * Behaviour every DeviceEventStore adapter must show (`src/kernel/ports/device-event-store.ts`).
 * Only the port is exercised, so the same suite runs against the SQL adapter on SQLite and on
 * PostgreSQL.
 *
 * `open` must hand out a store on an empty database of its own (a list without a filter sees
 * every event there is).
 *
 * Stored once per (device, ts, code): a redelivered event changes nothing, so the first copy
 * stored is the one kept, with its receipt time. `data` is kept as JSON: it reads back as
 * `JSON.parse(JSON.stringify(data))`. A message reads back with U+0000 as U+FFFD (PostgreSQL text
 * cannot hold it; every engine does the same), everything else as written. Newest first means by
 * the event's own time; events of one instant may come in any order.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registeredAsSkipped, once } from './support.js';
import type { DeviceEvent } from '../../src/kernel/device.js';
import type { DeviceEventFilter, DeviceEventStore, StoredDeviceEvent } from '../../src/kernel/ports/device-event-store.js';

export interface DeviceEventStoreContractOptions {
  /** When set, the suite is registered as skipped, with this reason in its name. */
  readonly skip?: string;
}

/** Epoch milliseconds past 2^32 (2031), as every stored time may be. */
const T0 = Date.UTC(2031, 5, 1, 8, 30, 15, 123);
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
/** Larger than any page a test asks for: "every event". */
const ALL = 100_000;

type Kept = Omit<StoredDeviceEvent, 'id'>;

function keyOf(e: Pick<DeviceEvent, 'deviceId' | 'ts' | 'code'>): string {
  return JSON.stringify([e.deviceId, e.ts, e.code]);
}

/** What an event inserted at `receivedAt` reads back as. */
function kept(e: DeviceEvent, receivedAt: number): Kept {
  return {
    deviceId: e.deviceId,
    ts: e.ts,
    code: e.code,
    receivedAt,
    ...(e.message !== undefined && { message: e.message.replaceAll('\u0000', '\uFFFD') }),
    ...(e.data !== undefined && { data: JSON.parse(JSON.stringify(e.data)) as Record<string, unknown> }),
  };
}

function withoutId({ id: _id, ...rest }: StoredDeviceEvent): Kept {
  return rest;
}

function matches(e: Kept, f: DeviceEventFilter): boolean {
  return (
    (f.deviceId === undefined || e.deviceId === f.deviceId) &&
    (f.code === undefined || e.code === f.code) &&
    (f.from === undefined || e.ts >= f.from) &&
    (f.to === undefined || e.ts < f.to)
  );
}

/** Sorted by identity, to compare sets of events whatever the order of one instant's events. */
function byKey<T extends Pick<DeviceEvent, 'deviceId' | 'ts' | 'code'>>(events: readonly T[]): T[] {
  return [...events].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
}

// ── Arbitraries ──────────────────────────────────────────────────────────────────────────

/** Well-formed text biased towards U+0000, non-BMP characters, quotes and wildcards. */
const textUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('\u0000', '😀', '𠮷', '中', "'", '"', '\\', '%', '_', '\n', '\uFFFD') },
  { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
/** Inside JSON even a lone surrogate survives: JSON.stringify escapes it. */
const jsonUnit = fc.oneof({ weight: 1, arbitrary: fc.constantFrom('\uD800', '\uDC00') }, { weight: 6, arbitrary: textUnit });
const dataArb = fc.dictionary(fc.string({ unit: jsonUnit, maxLength: 8 }), fc.jsonValue({ maxDepth: 2, stringUnit: jsonUnit }), { maxKeys: 4 });

const DEVICES = ['ct-1', 'ct_1', 'mr-2'] as const;
const CODES = ['TUBE_ARC', 'TUBE_ARC_2', 'QUENCH', 'E_1'] as const;
/** Few instants, so events share times and identities collide. */
const tsArb = fc.integer({ min: 0, max: 12 }).map((k) => T0 + k * SECOND);

const eventArb: fc.Arbitrary<DeviceEvent> = fc
  .record(
    {
      deviceId: fc.constantFrom(...DEVICES),
      ts: tsArb,
      code: fc.constantFrom(...CODES),
      message: fc.string({ unit: textUnit, maxLength: 30 }),
      data: dataArb,
    },
    { requiredKeys: ['deviceId', 'ts', 'code'] },
  )
  .map((e) => e as DeviceEvent);

/** Absent `absentWeight` times in `absentWeight + 1`: filters that all apply at once leave little to match. */
const sometimes = <T>(arb: fc.Arbitrary<T>, absentWeight = 1) =>
  fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
/** An instant events are at, or 1 ms either side, to probe the bounds. */
const bound = fc.tuple(tsArb, fc.integer({ min: -1, max: 1 })).map(([t, d]) => t + d);

const filterArb = fc.record({
  deviceId: sometimes(fc.constantFrom(...DEVICES, 'nobody'), 2),
  code: sometimes(fc.constantFrom(...CODES, 'NOTHING'), 2),
  from: sometimes(bound),
  to: sometimes(bound),
  limit: fc.integer({ min: 1, max: 30 }),
});

export function describeDeviceEventStoreContract(
  name: string,
  open: () => Promise<{ store: DeviceEventStore; close(): Promise<void> }>,
  options: DeviceEventStoreContractOptions = {},
): void {
  if (registeredAsSkipped(name, options)) return;

  describe(name, () => {
    let store: DeviceEventStore;
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
      await store.insert([], T0);
      expect(await store.list({})).toEqual({ items: [], total: 0 });
    });

    it('reads an event back with its receipt time and an id, message and data present or absent', async () => {
      const full: DeviceEvent = { deviceId: 'sp-ct-01', ts: T0, code: 'TUBE_ARC', message: 'arc during exam 管电压 120 kV', data: { kv: 120, ma: 350.5, nested: { ok: true, list: [1, 'two', null] } } };
      const bare: DeviceEvent = { deviceId: 'sp-ct-01', ts: T0 + SECOND, code: 'DOOR_OPEN' };
      const empty: DeviceEvent = { deviceId: 'sp-ct-01', ts: T0 + 2 * SECOND, code: 'E_0', message: '', data: {} };
      await store.insert([full, bare, empty], T0 + 5 * SECOND);

      const { items, total } = await store.list({ deviceId: 'sp-ct-01' });
      expect(total).toBe(3);
      expect(items.map(withoutId)).toEqual([kept(empty, T0 + 5 * SECOND), kept(bare, T0 + 5 * SECOND), kept(full, T0 + 5 * SECOND)]);
      // Absent means absent, not undefined or null.
      expect(Object.keys(items[1]!).sort()).toEqual(['code', 'deviceId', 'id', 'receivedAt', 'ts']);
      const ids = items.map((e) => e.id);
      expect(ids.every((id) => Number.isSafeInteger(id))).toBe(true);
      expect(new Set(ids).size).toBe(3);
    });

    it('stores an event once per (device, ts, code), keeping the first copy, however often and however it is delivered', async () => {
      const arc: DeviceEvent = { deviceId: 'sp-ct-01', ts: T0, code: 'TUBE_ARC', message: 'first', data: { n: 1 } };
      await store.insert([arc, arc, { ...arc, message: 'same batch' }], T0 + SECOND);
      // A QoS 1 redelivery after a reconnect, and a copy that differs in what is not its identity.
      await store.insert([arc], T0 + 2 * SECOND);
      await store.insert([{ ...arc, message: 'second', data: { n: 2 } }, { deviceId: arc.deviceId, ts: arc.ts, code: arc.code }], T0 + 3 * SECOND);
      // Each part of the identity tells events apart.
      const others: DeviceEvent[] = [
        { ...arc, code: 'TUBE_ARC_2' },
        { ...arc, ts: T0 + 1 },
        { ...arc, deviceId: 'sp-ct-02' },
      ];
      await store.insert(others, T0 + 4 * SECOND);

      const all = await everything();
      expect(all).toHaveLength(4);
      expect(byKey(all.map(withoutId))).toEqual(byKey([kept(arc, T0 + SECOND), ...others.map((e) => kept(e, T0 + 4 * SECOND))]));
      expect((await store.list({})).total).toBe(4);
    });

    it('stores a large insert completely, and a redelivery of it once', async () => {
      const events = Array.from({ length: 1210 }, (_, i): DeviceEvent => ({ deviceId: `ct-${i % 7}`, ts: T0 + Math.floor(i / 7) * SECOND, code: 'E_1', data: { i } }));
      await store.insert(events, T0);
      await store.insert([...events.slice(600), ...events.slice(0, 600)], T0 + MINUTE);
      const { items, total } = await store.list({ limit: 3 });
      expect(total).toBe(1210);
      expect(items).toHaveLength(3);
      expect(items.every((e) => e.ts === T0 + 172 * SECOND && e.receivedAt === T0)).toBe(true);
      expect((await store.list({ deviceId: 'ct-3', limit: ALL })).items.map((e) => e.data)).toEqual(
        events.filter((e) => e.deviceId === 'ct-3').reverse().map((e) => e.data),
      );
    });

    it('keeps data as JSON: nested values, unicode, U+0000 and lone surrogates inside strings, numbers exactly', async () => {
      const data: Record<string, unknown> = {
        // An own "__proto__" key, as JSON.parse makes one from a device's payload.
        ...(JSON.parse('{"__proto__": {"a": 1}}') as Record<string, unknown>),
        text: 'nul \u0000, emoji 😀, lone \uD800 and \uDC00, 中文, quote " \' \\',
        '\u0000key 😀': [1, -2.5, 1e-300, 2 ** 53 - 1, -0, 0.1 + 0.2],
        nested: { deep: { deeper: [true, false, null, {}, []] } },
      };
      expect(Object.keys(data)).toContain('__proto__');
      await store.insert([{ deviceId: 'mr-1', ts: T0, code: 'QUENCH', data }], T0);
      const [got] = await everything();
      expect(got?.data).toEqual(JSON.parse(JSON.stringify(data)));
      expect((got?.data?.['\u0000key 😀'] as number[])[3]).toBe(2 ** 53 - 1);
      expect(got?.data?.text).toBe(data.text);
    });

    it('reads a message back with U+0000 as U+FFFD and non-BMP characters exactly', async () => {
      const message = 'nul \u0000 end\u0000, emoji 😀🇨🇳, ext-B 𠮷, quote \' " \\ % _';
      await store.insert([{ deviceId: 'mr-1', ts: T0, code: 'QUENCH', message }], T0);
      expect((await everything())[0]?.message).toBe(message.replaceAll('\u0000', '\uFFFD'));
    });

    it('reads a message with half a surrogate pair as a UTF-8 encoder writes it: one U+FFFD', async () => {
      // JSON allows "\ud800" in a device's message; the decoder keeps it as it is.
      await store.insert([{ deviceId: 'mr-1', ts: T0, code: 'QUENCH', message: `a\uD800b${'😀'.slice(0, 1)}` }], T0);
      expect((await everything())[0]?.message).toBe('a\uFFFDb\uFFFD');
    });

    it('filters by device, code and time ([from, to)), newest first, limited, counting every match', async () => {
      const events: DeviceEvent[] = [];
      for (let i = 0; i < 40; i++) events.push({ deviceId: i % 2 ? 'ct-1' : 'mr-1', ts: T0 + i * MINUTE, code: i % 3 ? 'TUBE_ARC' : 'QUENCH' });
      // In insertion order different from time order.
      await store.insert(events.slice(20), T0);
      await store.insert(events.slice(0, 20), T0);
      const minutes = async (f: DeviceEventFilter) => {
        const { items, total } = await store.list(f);
        return { total, minutes: items.map((e) => (e.ts - T0) / MINUTE) };
      };
      expect(await minutes({ limit: 3 })).toEqual({ total: 40, minutes: [39, 38, 37] });
      expect(await minutes({ deviceId: 'ct-1', limit: 2 })).toEqual({ total: 20, minutes: [39, 37] });
      expect(await minutes({ deviceId: 'ct-1', limit: 2, offset: 2 })).toEqual({ total: 20, minutes: [35, 33] });
      expect(await minutes({ code: 'QUENCH', limit: ALL })).toEqual({ total: 14, minutes: [39, 36, 33, 30, 27, 24, 21, 18, 15, 12, 9, 6, 3, 0] });
      expect(await minutes({ from: T0 + 10 * MINUTE, to: T0 + 13 * MINUTE })).toEqual({ total: 3, minutes: [12, 11, 10] });
      expect(await minutes({ from: T0 + 10 * MINUTE + 1, to: T0 + 13 * MINUTE + 1 })).toEqual({ total: 3, minutes: [13, 12, 11] });
      expect(await minutes({ from: T0 + 37 * MINUTE })).toEqual({ total: 3, minutes: [39, 38, 37] });
      expect(await minutes({ to: T0 + MINUTE })).toEqual({ total: 1, minutes: [0] });
      expect(await minutes({ from: T0 + 5 * MINUTE, to: T0 + 5 * MINUTE })).toEqual({ total: 0, minutes: [] });
      expect(await minutes({ deviceId: 'mr-1', code: 'QUENCH', from: T0 + 6 * MINUTE, to: T0 + 30 * MINUTE, limit: 2 })).toEqual({ total: 4, minutes: [24, 18] });
      expect(await minutes({ deviceId: 'nobody' })).toEqual({ total: 0, minutes: [] });
    });

    it('any sequence of inserts, redeliveries included, lists as a plain map of first copies would (property)', async () => {
      // The state carries over between runs; each run reads it first, so a run checks only its own steps.
      let receivedAt = T0;
      await fc.assert(
        fc.asyncProperty(fc.array(eventArb, { maxLength: 20 }), filterArb, async (batch, f) => {
          const model = new Map<string, Kept>((await everything()).map((e) => [keyOf(e), withoutId(e)]));
          receivedAt += SECOND;
          await store.insert(batch, receivedAt);
          for (const e of batch) if (!model.has(keyOf(e))) model.set(keyOf(e), kept(e, receivedAt));

          const filter: DeviceEventFilter = {
            limit: f.limit,
            ...(f.deviceId !== undefined && { deviceId: f.deviceId }),
            ...(f.code !== undefined && { code: f.code }),
            ...(f.from !== undefined && { from: f.from }),
            ...(f.to !== undefined && { to: f.to }),
          };
          const matching = [...model.values()].filter((e) => matches(e, filter)).sort((a, b) => b.ts - a.ts);
          const { items, total } = await store.list(filter);
          expect(total).toBe(matching.length);
          const got = items.map(withoutId);
          // Newest first; which events of the instant at the page's end make it in is not specified.
          expect(got.map((e) => e.ts)).toEqual(matching.slice(0, f.limit).map((e) => e.ts));
          for (const e of got) expect(e).toEqual(model.get(keyOf(e)));
          expect(new Set(got.map(keyOf)).size).toBe(got.length);
        }),
        { numRuns: 50 },
      );
    });
  });
}
