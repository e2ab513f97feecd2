import type { Kysely } from 'kysely';
import type { AlertChange } from '../../kernel/alerts.js';
import type { AlertStore, StoredAlert } from '../../kernel/ports/alert-store.js';
import type { Database } from './schema.js';
import { storableText } from './text.js';

/** Rows per statement: 12 parameters an alert, 13 a change, far below SQLite's and PostgreSQL's limits. */
const ROWS_PER_STATEMENT = 200;

const alertKey = (deviceId: string, ruleId: string) => `${deviceId}\u0000${ruleId}`;

/**
 * Alert records in the SQL database, one row per (device, rule), so a restart resumes them, and
 * the outbox of their changes (`alert_outbox`) that the work orders drain.
 */
export class AlertRepository implements AlertStore {
  private readonly savedListeners: Array<(changes: number) => void> = [];

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called after a save that wrote changes has committed: the outbox's consumer is woken at once. */
  onChangesSaved(listener: (changes: number) => void): void {
    this.savedListeners.push(listener);
  }

  /**
   * Upserts alerts and appends their changes to the outbox in one transaction, many rows per
   * statement: the engine saves hundreds at a time while a fleet's alerts move, and a statement
   * per row would cost more than the rules that produced them. Either all of it is written or
   * none, so a change that should open a work order is never lost between the alert and the
   * outbox. The alerts go first: on PostgreSQL their row locks order this save against a
   * reconciliation looking at the same alert.
   */
  async save(alerts: readonly StoredAlert[], changes: readonly AlertChange[] = []): Promise<void> {
    if (alerts.length === 0 && changes.length === 0) return;
    // One row per key (the last one wins): PostgreSQL refuses to update a row twice in a statement.
    const latest = new Map<string, StoredAlert>();
    for (const a of alerts) latest.set(alertKey(a.deviceId, a.ruleId), a);
    const lastChange = new Map<string, AlertChange>();
    for (const c of changes) lastChange.set(alertKey(c.deviceId, c.ruleId), c);
    const rows = [...latest.entries()].map(([key, a]) => {
      const change = lastChange.get(key);
      return {
        device_id: a.deviceId,
        rule_id: a.ruleId,
        pack: a.pack,
        state: a.state,
        grade: a.grade ?? null,
        last_value: a.lastValue ?? null,
        record: a.record,
        condition: a.condition,
        message_zh: storableText(a.messageZh),
        message_en: storableText(a.messageEn),
        updated_at: a.updatedAt,
        last_change: change ? JSON.stringify(change) : null,
      };
    });
    const createdAt = this.now();
    const outbox = changes.map((c) => ({
      identity: c.identity,
      device_id: c.deviceId,
      site_id: c.siteId,
      rule_id: c.ruleId,
      change_id: c.id ?? null,
      change: JSON.stringify(c),
      origin: 'engine',
      created_at: createdAt,
      available_at: createdAt,
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
              // An alert saved without a change keeps the change it had.
              last_change: eb.fn.coalesce('excluded.last_change', 'alerts.last_change'),
            })),
          )
          .execute();
      }
      // A change whose alert is not in this save still becomes the alert's last change.
      for (const [key, change] of lastChange) {
        if (latest.has(key)) continue;
        await trx.updateTable('alerts').set({ last_change: JSON.stringify(change) }).where('device_id', '=', change.deviceId).where('rule_id', '=', change.ruleId).execute();
      }
      for (let i = 0; i < outbox.length; i += ROWS_PER_STATEMENT) {
        // A change written already (a save retried after its commit's reply was lost) is not
        // written again: its id is unique.
        await trx
          .insertInto('alert_outbox')
          .values(outbox.slice(i, i + ROWS_PER_STATEMENT))
          .onConflict((oc) => oc.column('change_id').doNothing())
          .execute();
      }
    });
    if (changes.length > 0) for (const listener of this.savedListeners) listener(changes.length);
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
