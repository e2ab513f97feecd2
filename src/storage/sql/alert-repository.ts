import type { Kysely } from 'kysely';
import type { AlertStore, StoredAlert } from '../../kernel/ports/alert-store.js';
import type { Database } from './schema.js';

/** Rows per upsert statement: 11 parameters each, far below SQLite's and PostgreSQL's limits. */
const ROWS_PER_STATEMENT = 200;

/** Alert records in the SQL database, one row per (device, rule), so a restart resumes them. */
export class AlertRepository implements AlertStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Upserts alerts, many rows per statement: the engine saves hundreds at a time while a fleet's
   * alerts move, and a statement per row would cost more than the rules that produced them.
   */
  async save(alerts: readonly StoredAlert[]): Promise<void> {
    if (alerts.length === 0) return;
    // One row per key (the last one wins): PostgreSQL refuses to update a row twice in a statement.
    const latest = new Map<string, StoredAlert>();
    for (const a of alerts) latest.set(`${a.deviceId}\u0000${a.ruleId}`, a);
    const rows = [...latest.values()].map((a) => ({
      device_id: a.deviceId,
      rule_id: a.ruleId,
      pack: a.pack,
      state: a.state,
      grade: a.grade ?? null,
      last_value: a.lastValue ?? null,
      record: a.record,
      condition: a.condition,
      message_zh: a.messageZh,
      message_en: a.messageEn,
      updated_at: a.updatedAt,
    }));
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        await trx
          .insertInto('alerts')
          .values(rows.slice(i, i + ROWS_PER_STATEMENT))
          .onConflict((oc) =>
            oc.columns(['device_id', 'rule_id']).doUpdateSet((eb) => ({
              pack: eb.ref('excluded.pack'),
              state: eb.ref('excluded.state'),
              grade: eb.ref('excluded.grade'),
              last_value: eb.ref('excluded.last_value'),
              record: eb.ref('excluded.record'),
              condition: eb.ref('excluded.condition'),
              message_zh: eb.ref('excluded.message_zh'),
              message_en: eb.ref('excluded.message_en'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
    });
  }

  async all(): Promise<StoredAlert[]> {
    const rows = await this.db.selectFrom('alerts').selectAll().execute();
    return rows.map((r) => ({
      deviceId: r.device_id,
      ruleId: r.rule_id,
      pack: r.pack,
      state: r.state,
      ...(r.grade !== null && { grade: r.grade }),
      ...(r.last_value !== null && { lastValue: Number(r.last_value) }),
      record: r.record,
      condition: r.condition,
      messageZh: r.message_zh,
      messageEn: r.message_en,
      updatedAt: Number(r.updated_at),
    }));
  }
}
