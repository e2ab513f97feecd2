import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** One alert (a rule on a device) as stored. */
export interface StoredAlert {
  readonly deviceId: string;
  readonly ruleId: string;
  readonly pack: string;
  readonly state: string;
  readonly grade?: string;
  readonly lastValue?: number;
  readonly record: string;
  readonly condition: string;
  readonly messageZh: string;
  readonly messageEn: string;
  readonly updatedAt: number;
}

/** Alert records in the SQL database, one row per (device, rule), so a restart resumes them. */
export class AlertRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async save(alerts: readonly StoredAlert[]): Promise<void> {
    if (alerts.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const a of alerts) {
        const row = {
          pack: a.pack,
          state: a.state,
          grade: a.grade ?? null,
          last_value: a.lastValue ?? null,
          record: a.record,
          condition: a.condition,
          message_zh: a.messageZh,
          message_en: a.messageEn,
          updated_at: a.updatedAt,
        };
        await trx
          .insertInto('alerts')
          .values({ device_id: a.deviceId, rule_id: a.ruleId, ...row })
          .onConflict((oc) => oc.columns(['device_id', 'rule_id']).doUpdateSet(row))
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
