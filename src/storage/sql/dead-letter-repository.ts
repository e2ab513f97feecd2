import type { Kysely } from 'kysely';
import type { DeadLetter, DeadLetterFilter, DeadLetterStore, StoredDeadLetter } from '../../kernel/ports/dead-letter-store.js';
import type { Database } from './schema.js';
import { storableText } from './text.js';

export class DeadLetterRepository implements DeadLetterStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const rows = letters.map((l) => ({
      received_at: l.receivedAt,
      reason: l.reason,
      detail: storableText(l.detail),
      topic: storableText(l.topic),
      site: l.site ?? null,
      device_id: l.deviceId ?? null,
      payload: storableText(l.payload),
      payload_bytes: l.payloadBytes,
    }));
    // Bounded statements (SQLite caps bound parameters per statement) in one transaction: the
    // dead-letter queue retries a failed batch whole, so a half-written one would be doubled.
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += 500) await trx.insertInto('dead_letters').values(rows.slice(i, i + 500)).execute();
    });
  }

  async list(filter: DeadLetterFilter = {}): Promise<{ items: StoredDeadLetter[]; total: number }> {
    let query = this.db.selectFrom('dead_letters');
    if (filter.reason) query = query.where('reason', '=', filter.reason);
    if (filter.deviceId) query = query.where('device_id', '=', filter.deviceId);
    if (filter.site) query = query.where('site', '=', filter.site);
    if (filter.from !== undefined) query = query.where('received_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('received_at', '<', filter.to);
    const totalRow = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    const rows = await query
      .selectAll()
      .orderBy('received_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .offset(filter.offset ?? 0)
      .execute();
    return {
      total: Number(totalRow?.n ?? 0),
      items: rows.map((r) => ({
        id: Number(r.id),
        receivedAt: Number(r.received_at),
        reason: r.reason,
        detail: r.detail,
        topic: r.topic,
        ...(r.site !== null && { site: r.site }),
        ...(r.device_id !== null && { deviceId: r.device_id }),
        payload: r.payload,
        payloadBytes: r.payload_bytes,
      })),
    };
  }

  /** Number kept per reason, for the API summary. */
  async countByReason(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('dead_letters')
      .select(['reason', (eb) => eb.fn.countAll<number | string>().as('n')])
      .groupBy('reason')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.reason, Number(r.n)]));
  }

  /**
   * Keeps the newest `keep` dead letters by receipt time (not by insertion: several collectors
   * share one database, and their batches interleave); returns how many were removed.
   */
  async prune(keep: number): Promise<number> {
    const boundary = await this.db
      .selectFrom('dead_letters')
      .select(['id', 'received_at'])
      .orderBy('received_at', 'desc')
      .orderBy('id', 'desc')
      .offset(keep)
      .limit(1)
      .executeTakeFirst();
    if (!boundary) return 0;
    const result = await this.db
      .deleteFrom('dead_letters')
      .where((eb) => eb.or([eb('received_at', '<', boundary.received_at), eb.and([eb('received_at', '=', boundary.received_at), eb('id', '<=', boundary.id)])]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
