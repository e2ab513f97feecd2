import type { Kysely } from 'kysely';
import type { DeviceEvent } from '../../kernel/device.js';
import type { DeviceEventFilter, DeviceEventStore, StoredDeviceEvent } from '../../kernel/ports/device-event-store.js';
import type { Database } from './schema.js';
import { storableOrNull } from './text.js';

/** Discrete device events (error codes, arcs, quench) from the event topic. */
export class DeviceEventRepository implements DeviceEventStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores events; a redelivered (device, ts, code) is stored once. */
  async insert(events: readonly DeviceEvent[], receivedAt: number): Promise<void> {
    if (events.length === 0) return;
    const rows = events.map((e) => ({
      device_id: e.deviceId,
      ts: e.ts,
      code: e.code,
      // `data` is JSON text, where U+0000 and lone surrogates stay escaped.
      message: storableOrNull(e.message),
      data: e.data ? JSON.stringify(e.data) : null,
      received_at: receivedAt,
    }));
    for (let i = 0; i < rows.length; i += 500) {
      await this.db
        .insertInto('device_events')
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.columns(['device_id', 'ts', 'code']).doNothing())
        .execute();
    }
  }

  async list(filter: DeviceEventFilter): Promise<{ items: StoredDeviceEvent[]; total: number }> {
    let query = this.db.selectFrom('device_events');
    if (filter.deviceId) query = query.where('device_id', '=', filter.deviceId);
    if (filter.code) query = query.where('code', '=', filter.code);
    if (filter.from !== undefined) query = query.where('ts', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('ts', '<', filter.to);
    const totalRow = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    const rows = await query.selectAll().orderBy('ts', 'desc').orderBy('id', 'desc').limit(filter.limit ?? 100).offset(filter.offset ?? 0).execute();
    return {
      total: Number(totalRow?.n ?? 0),
      items: rows.map((r) => ({
        id: Number(r.id),
        deviceId: r.device_id,
        ts: Number(r.ts),
        code: r.code,
        receivedAt: Number(r.received_at),
        ...(r.message !== null && { message: r.message }),
        ...(r.data !== null && { data: JSON.parse(r.data) as Record<string, unknown> }),
      })),
    };
  }
}
