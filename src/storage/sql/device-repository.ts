import type { Kysely, Selectable } from 'kysely';
import type { Modality } from '../../kernel/catalogue/metrics.js';
import type { Device, DeviceState, RegisteredDevice, RegistrationSource, Site } from '../../kernel/device.js';
import type { DeviceStore } from '../../devices/store.js';
import type { Database, DevicesTable } from './schema.js';
import { storableOrNull, storableText } from './text.js';

function toRegistered(row: Selectable<DevicesTable>): RegisteredDevice {
  const location =
    row.department !== null
      ? { department: row.department, ...(row.floor !== null && { floor: row.floor }), ...(row.room !== null && { room: row.room }) }
      : undefined;
  return {
    id: row.id,
    site: row.site,
    modality: row.modality as Modality,
    vendor: row.vendor,
    model: row.model,
    ...(row.serial !== null && { serial: row.serial }),
    ...(row.install_date !== null && { installDate: row.install_date }),
    ...(row.name !== null && { name: row.name }),
    ...(location && { location }),
    source: row.source as RegistrationSource,
    ...(row.status !== null && row.status_ts !== null && { status: { state: row.status as DeviceState, ts: Number(row.status_ts) } }),
    ...(row.last_seen_ts !== null && { lastSeen: Number(row.last_seen_ts) }),
    unknownMetrics: row.unknown_metrics ? (JSON.parse(row.unknown_metrics) as string[]) : [],
  };
}

/** Sites and devices in the SQL database (tables `sites` and `devices`). */
export class SqlDeviceStore implements DeviceStore {
  constructor(private readonly db: Kysely<Database>) {}

  async loadSites(): Promise<Site[]> {
    const rows = await this.db.selectFrom('sites').selectAll().execute();
    return rows.map((row) => ({ id: row.id, name: row.name, timezone: row.timezone, ...(row.name_en !== null && { nameEn: row.name_en }) }));
  }

  async loadDevices(): Promise<RegisteredDevice[]> {
    return (await this.db.selectFrom('devices').selectAll().execute()).map(toRegistered);
  }

  async upsertSite(site: Site, at: number): Promise<void> {
    const row = { id: site.id, name: storableText(site.name), name_en: storableOrNull(site.nameEn), timezone: site.timezone };
    await this.db
      .insertInto('sites')
      .values({ ...row, created_at: at })
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
  }

  async upsertDevice(device: Device, source: RegistrationSource, at: number): Promise<void> {
    const row = {
      site: device.site,
      modality: device.modality,
      vendor: storableText(device.vendor),
      model: storableText(device.model),
      serial: storableOrNull(device.serial),
      install_date: device.installDate ?? null,
      name: storableOrNull(device.name),
      department: storableOrNull(device.location?.department),
      floor: storableOrNull(device.location?.floor),
      room: storableOrNull(device.location?.room),
      updated_at: at,
    };
    await this.db
      .insertInto('devices')
      .values({ id: device.id, ...row, source, created_at: at, status: null, status_ts: null, last_seen_ts: null, unknown_metrics: null })
      .onConflict((oc) => oc.column('id').doUpdateSet({ ...row, source }))
      .execute();
  }

  async setStatus(id: string, state: DeviceState, ts: number): Promise<void> {
    await this.db.updateTable('devices').set({ status: state, status_ts: ts }).where('id', '=', id).execute();
  }

  async setUnknownMetrics(id: string, names: readonly string[]): Promise<void> {
    await this.db.updateTable('devices').set({ unknown_metrics: JSON.stringify(names) }).where('id', '=', id).execute();
  }

  async setLastSeen(entries: ReadonlyArray<readonly [id: string, ts: number]>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const [id, ts] of entries) await trx.updateTable('devices').set({ last_seen_ts: ts }).where('id', '=', id).execute();
    });
  }
}
