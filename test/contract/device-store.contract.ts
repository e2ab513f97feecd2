/**
 * Behaviour every DeviceStore adapter must show (`src/devices/store.ts`). Only the port is
 * exercised, so the same suite runs against the SQL adapter on SQLite and on PostgreSQL.
 *
 * `open` must hand out a store on an empty database of its own (loadSites/loadDevices see the
 * whole database), and `reopen` a second store on that same database, as a restarted process
 * would open it.
 *
 * Text reads back as written, non-BMP characters included, except U+0000: PostgreSQL text cannot
 * hold it, so it reads back as U+FFFD on every engine, as in dead letters and device events. The
 * order of loadSites and loadDevices is not part of the port, so they are compared by id.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registeredAsSkipped, once } from './support.js';
import { MODALITIES } from '../../src/kernel/catalogue/metrics.js';
import {
  DeviceSchema,
  SiteSchema,
  type Device,
  type DeviceState,
  type RegisteredDevice,
  type RegistrationSource,
  type Site,
} from '../../src/kernel/device.js';
import type { DeviceStore } from '../../src/devices/store.js';

export interface DeviceStoreContractOptions {
  /** When set, the suite is registered as skipped, with this reason in its name. */
  readonly skip?: string;
}

export interface OpenedDeviceStore {
  readonly store: DeviceStore;
  close(): Promise<void>;
}

export interface DeviceStoreHandle extends OpenedDeviceStore {
  /** Another store on the same database (a restart); closed by the caller. */
  reopen(): Promise<OpenedDeviceStore>;
}

/** Epoch milliseconds past 2^32 (2031), as every stored time may be. */
const T0 = Date.UTC(2031, 5, 1, 8, 30, 15, 123);
const MINUTE = 60_000;
const STATES: readonly DeviceState[] = ['online', 'offline', 'scanning', 'standby', 'service'];
const SOURCES: readonly RegistrationSource[] = ['fleet', 'api', 'auto'];
const ZONES = ['Asia/Shanghai', 'UTC', 'Europe/Berlin', 'America/St_Johns', 'Pacific/Chatham'];

const SITE: Site = { id: 'yt-hospital', name: '烟台毓璜顶医院', nameEn: 'Yantai Yuhuangding Hospital', timezone: 'Asia/Shanghai' };
const FULL: Device = {
  id: 'yt-mr-01',
  site: 'yt-hospital',
  modality: 'MR',
  vendor: 'Siemens Healthineers',
  model: 'MAGNETOM Vida 3T',
  serial: 'S-104 729',
  installDate: '2021-03-04',
  name: '1号磁共振 🧲',
  location: { department: '放射科', floor: 'B1', room: 'MR-1' },
};
const MINIMAL: Device = { id: 'yt-ct-01', site: 'yt-hospital', modality: 'CT', vendor: 'GE', model: 'Revolution' };

/** What loadDevices answers for a device just described: no status, never seen, nothing flagged. */
function registered(device: Device, source: RegistrationSource, extra: Partial<RegisteredDevice> = {}): RegisteredDevice {
  return { ...device, source, unknownMetrics: [], ...extra };
}

function byId<T extends { id: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// ── Arbitraries ──────────────────────────────────────────────────────────────────────────

/**
 * Well-formed text, biased towards what breaks storage: non-BMP characters (two UTF-16 units,
 * one character), quotes, backslashes, LIKE wildcards, CJK, combining marks. No U+0000: see
 * the test of its own below.
 */
const textUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('😀', '𠮷', '中', 'é', 'e\u0301', "'", '"', '\\', '%', '_', ' ', '\n', '\uFFFD', '\u007F') },
  { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c !== '\u0000') },
);
const text = (minLength: number, maxUnits: number) => fc.string({ unit: textUnit, minLength, maxLength: Math.floor(maxUnits / 2) });
const isoDate = fc
  .date({ min: new Date(Date.UTC(1990, 0, 1)), max: new Date(Date.UTC(2099, 11, 31)), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));

/** Descriptions without ids: a property gives each run ids of its own. */
type DeviceDescription = Omit<Device, 'id' | 'site'>;

const siteArb = fc
  .record({ name: text(1, 200), nameEn: text(0, 200), timezone: fc.constantFrom(...ZONES) }, { requiredKeys: ['name', 'timezone'] })
  .filter((s) => SiteSchema.safeParse({ id: 'x', ...s }).success);

const deviceArb: fc.Arbitrary<DeviceDescription> = fc
  .record(
    {
      modality: fc.constantFrom(...MODALITIES),
      vendor: text(1, 100),
      model: text(1, 100),
      serial: text(0, 100),
      installDate: isoDate,
      name: text(0, 200),
      location: fc.record({ department: text(1, 100), floor: text(0, 20), room: text(0, 50) }, { requiredKeys: ['department'] }),
    },
    { requiredKeys: ['modality', 'vendor', 'model'] },
  )
  .filter((d) => DeviceSchema.safeParse({ id: 'x', site: 'x', ...d }).success);

let runSerial = 0;

export function describeDeviceStoreContract(name: string, open: () => Promise<DeviceStoreHandle>, options: DeviceStoreContractOptions = {}): void {
  if (registeredAsSkipped(name, options)) return;

  describe(name, () => {
    let handle: DeviceStoreHandle;
    let store: DeviceStore;
    let closeStore: () => Promise<void>;

    beforeEach(async () => {
      handle = await open();
      store = handle.store;
      closeStore = once(() => handle.close());
    });

    afterEach(async () => {
      await closeStore();
    });

    it('starts with no sites and no devices', async () => {
      expect(await store.loadSites()).toEqual([]);
      expect(await store.loadDevices()).toEqual([]);
    });

    describe('sites', () => {
      it('round-trip with and without an English name', async () => {
        const bare: Site = { id: 'qd-hospital', name: '青岛大学附属医院', timezone: 'UTC' };
        await store.upsertSite(SITE, T0);
        await store.upsertSite(bare, T0 + MINUTE);
        expect(byId(await store.loadSites())).toEqual(byId([SITE, bare]));
      });

      it('are replaced by an upsert of the same id, an absent English name removed', async () => {
        await store.upsertSite(SITE, T0);
        const renamed: Site = { id: SITE.id, name: '毓璜顶医院（莱山院区）', timezone: 'Europe/Berlin' };
        await store.upsertSite(renamed, T0 + MINUTE);
        expect(await store.loadSites()).toEqual([renamed]);
        await store.upsertSite(SITE, T0 + 2 * MINUTE);
        expect(await store.loadSites()).toEqual([SITE]);
      });
    });

    describe('devices', () => {
      beforeEach(async () => {
        await store.upsertSite(SITE, T0);
      });

      it('round-trip with every optional field present, and with none', async () => {
        const onlyDepartment: Device = { ...MINIMAL, id: 'yt-ct-02', location: { department: '急诊科' } };
        await store.upsertDevice(FULL, 'fleet', T0);
        await store.upsertDevice(MINIMAL, 'auto', T0);
        await store.upsertDevice(onlyDepartment, 'api', T0);
        expect(byId(await store.loadDevices())).toEqual(
          byId([registered(FULL, 'fleet'), registered(MINIMAL, 'auto'), registered(onlyDepartment, 'api')]),
        );
        const [full] = (await store.loadDevices()).filter((d) => d.id === FULL.id);
        // Absent means absent, not present as undefined or null.
        expect(Object.keys(full!).sort()).toEqual([...Object.keys(FULL), 'source', 'unknownMetrics'].sort());
        const [minimal] = (await store.loadDevices()).filter((d) => d.id === MINIMAL.id);
        expect(Object.keys(minimal!).sort()).toEqual(['id', 'modality', 'model', 'site', 'source', 'unknownMetrics', 'vendor']);
      });

      it('an upsert replaces the description and source, and keeps status, last-seen time and flagged metrics', async () => {
        await store.upsertDevice(FULL, 'fleet', T0);
        await store.setStatus(FULL.id, 'scanning', T0 + MINUTE);
        await store.setLastSeen([[FULL.id, T0 + 2 * MINUTE]]);
        await store.setUnknownMetrics(FULL.id, ['vendor_x_pct', 'coil_temp_c']);

        const described: Device = { id: FULL.id, site: FULL.site, modality: 'MR', vendor: 'Siemens', model: 'MAGNETOM Sola', name: '2号磁共振' };
        await store.upsertDevice(described, 'api', T0 + 3 * MINUTE);
        const kept = { status: { state: 'scanning' as const, ts: T0 + MINUTE }, lastSeen: T0 + 2 * MINUTE, unknownMetrics: ['vendor_x_pct', 'coil_temp_c'] };
        expect(await store.loadDevices()).toEqual([registered(described, 'api', kept)]);

        // And back to every field: nothing of the runtime state is lost either way.
        await store.upsertDevice(FULL, 'fleet', T0 + 4 * MINUTE);
        expect(await store.loadDevices()).toEqual([registered(FULL, 'fleet', kept)]);
      });

      it('an upsert moves a device to another known site', async () => {
        const other: Site = { id: 'qd-hospital', name: '青岛', timezone: 'Asia/Shanghai' };
        await store.upsertSite(other, T0);
        await store.upsertDevice(MINIMAL, 'fleet', T0);
        await store.upsertDevice({ ...MINIMAL, site: other.id }, 'fleet', T0 + MINUTE);
        expect(await store.loadDevices()).toEqual([registered({ ...MINIMAL, site: other.id }, 'fleet')]);
      });

      it('setStatus records the state and its time, the latest call winning, for every state', async () => {
        await store.upsertDevice(FULL, 'fleet', T0);
        await store.upsertDevice(MINIMAL, 'fleet', T0);
        for (const [i, state] of STATES.entries()) {
          await store.setStatus(FULL.id, state, T0 + i * MINUTE);
          const [device] = (await store.loadDevices()).filter((d) => d.id === FULL.id);
          expect(device?.status).toEqual({ state, ts: T0 + i * MINUTE });
        }
        // Another device is untouched.
        expect((await store.loadDevices()).find((d) => d.id === MINIMAL.id)).toEqual(registered(MINIMAL, 'fleet'));
      });

      it('setLastSeen writes many devices in one call, and a later call only the ones it names', async () => {
        const devices = Array.from({ length: 120 }, (_, i): Device => ({ ...MINIMAL, id: `ct-${String(i).padStart(3, '0')}` }));
        for (const d of devices) await store.upsertDevice(d, 'auto', T0);
        await store.setLastSeen([]);
        await store.setLastSeen(devices.map((d, i) => [d.id, T0 + i * 1_000] as const));
        await store.setLastSeen(devices.filter((_, i) => i % 3 === 0).map((d) => [d.id, T0 + 10 * MINUTE] as const));

        const loaded = byId(await store.loadDevices());
        expect(loaded).toEqual(devices.map((d, i) => registered(d, 'auto', { lastSeen: i % 3 === 0 ? T0 + 10 * MINUTE : T0 + i * 1_000 })));
      });

      it('setUnknownMetrics sets, replaces and clears the flagged metric names, in their order', async () => {
        await store.upsertDevice(MINIMAL, 'auto', T0);
        const flagged = async () => (await store.loadDevices())[0]?.unknownMetrics;
        await store.setUnknownMetrics(MINIMAL.id, ['zeta_pct', 'alpha_c', 'vendor.x-1']);
        expect(await flagged()).toEqual(['zeta_pct', 'alpha_c', 'vendor.x-1']);
        await store.setUnknownMetrics(MINIMAL.id, ['beta']);
        expect(await flagged()).toEqual(['beta']);
        await store.setUnknownMetrics(MINIMAL.id, []);
        expect(await flagged()).toEqual([]);
      });

      it('loads the same sites and devices after a reopen of the database', async () => {
        const other: Site = { id: 'qd-hospital', name: '青岛大学附属医院', timezone: 'UTC' };
        await store.upsertSite(other, T0);
        await store.upsertDevice(FULL, 'fleet', T0);
        await store.upsertDevice({ ...MINIMAL, site: other.id }, 'auto', T0);
        await store.setStatus(FULL.id, 'service', T0 + MINUTE);
        await store.setLastSeen([
          [FULL.id, T0 + 2 * MINUTE],
          [MINIMAL.id, T0 + 3 * MINUTE],
        ]);
        await store.setUnknownMetrics(MINIMAL.id, ['vendor_x_pct']);
        const sites = byId(await store.loadSites());
        const devices = byId(await store.loadDevices());
        await closeStore();

        const again = await handle.reopen();
        try {
          expect(byId(await again.store.loadSites())).toEqual(sites);
          expect(byId(await again.store.loadDevices())).toEqual(devices);
          expect(devices).toEqual(
            byId([
              registered(FULL, 'fleet', { status: { state: 'service', ts: T0 + MINUTE }, lastSeen: T0 + 2 * MINUTE }),
              registered({ ...MINIMAL, site: other.id }, 'auto', { lastSeen: T0 + 3 * MINUTE, unknownMetrics: ['vendor_x_pct'] }),
            ]),
          );
          // The reopened store writes on.
          await again.store.setStatus(MINIMAL.id, 'online', T0 + 4 * MINUTE);
          expect((await again.store.loadDevices()).find((d) => d.id === MINIMAL.id)?.status).toEqual({ state: 'online', ts: T0 + 4 * MINUTE });
        } finally {
          await again.close();
        }
      });

      it('reads a U+0000 in a description back as U+FFFD, as dead letters do (PostgreSQL text cannot hold it)', async () => {
        // SiteSchema and DeviceSchema refuse it (a 400 at the API, a clear error in a fleet file);
        // a store handed such text all the same keeps it alike on every database.
        const site: Site = { id: 'nul-site', name: 'a\u0000b', nameEn: '\u0000', timezone: 'UTC' };
        const device: Device = { ...FULL, id: 'nul-dev', site: site.id, vendor: 'v\u0000', model: '\u0000m', serial: 's\u0000', name: 'n\u0000', location: { department: 'd\u0000', floor: 'f\u0000', room: 'r\u0000' } };
        expect(SiteSchema.safeParse(site).success || DeviceSchema.safeParse(device).success).toBe(false);
        await store.upsertSite(site, T0);
        await store.upsertDevice(device, 'api', T0);
        expect((await store.loadSites()).find((s) => s.id === site.id)).toEqual({ ...site, name: 'a\uFFFDb', nameEn: '\uFFFD' });
        expect((await store.loadDevices()).find((d) => d.id === device.id)).toEqual(
          registered({ ...device, vendor: 'v\uFFFD', model: '\uFFFDm', serial: 's\uFFFD', name: 'n\uFFFD', location: { department: 'd\uFFFD', floor: 'f\uFFFD', room: 'r\uFFFD' } }, 'api'),
        );
      });
    });

    it('any valid site and device description round-trips, and a new description keeps what ingest learned (property)', async () => {
      const run = fc.record({
        site: siteArb,
        other: siteArb,
        first: deviceArb,
        second: deviceArb,
        moves: fc.boolean(),
        sources: fc.tuple(fc.constantFrom(...SOURCES), fc.constantFrom(...SOURCES)),
        status: fc.option(fc.record({ state: fc.constantFrom(...STATES), ts: fc.integer({ min: 0, max: 8_640_000_000_000_000 }) }), { nil: undefined }),
        lastSeen: fc.option(fc.integer({ min: 0, max: 8_640_000_000_000_000 }), { nil: undefined }),
        unknownMetrics: fc.array(fc.stringMatching(/^[a-z][a-z0-9_]{0,30}$/), { maxLength: 5 }),
      });
      await fc.assert(
        fc.asyncProperty(run, async (r) => {
          const n = ++runSerial;
          const site: Site = { id: `site-${n}`, ...r.site };
          const other: Site = { id: `other-${n}`, ...r.other };
          const first: Device = { id: `dev-${n}`, site: site.id, ...r.first };
          const second: Device = { id: first.id, site: r.moves ? other.id : site.id, ...r.second };
          const { sources, status, lastSeen, unknownMetrics } = r;
          await store.upsertSite(site, T0);
          await store.upsertSite(other, T0);
          const sites = await store.loadSites();
          expect(sites.find((s) => s.id === site.id)).toEqual(site);
          expect(sites.find((s) => s.id === other.id)).toEqual(other);

          await store.upsertDevice(first, sources[0], T0);
          expect((await store.loadDevices()).find((d) => d.id === first.id)).toEqual(registered(first, sources[0]));

          if (status) await store.setStatus(first.id, status.state, status.ts);
          if (lastSeen !== undefined) await store.setLastSeen([[first.id, lastSeen]]);
          await store.setUnknownMetrics(first.id, unknownMetrics);
          await store.upsertDevice(second, sources[1], T0 + MINUTE);
          expect((await store.loadDevices()).find((d) => d.id === second.id)).toEqual(
            registered(second, sources[1], { ...(status && { status }), ...(lastSeen !== undefined && { lastSeen }), unknownMetrics }),
          );
        }),
        { numRuns: 40 },
      );
    });
  });
}
