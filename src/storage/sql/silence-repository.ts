import type { Insertable, Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import { ScheduleSchema, type Silence } from '../../silences/schedule.js';
import type { SilenceStore } from '../../silences/store.js';
import type { Database, SilencesTable } from './schema.js';

const RuleIds = z.array(z.string());

function toRow(s: Silence): Insertable<SilencesTable> {
  return {
    id: s.id,
    site_id: s.scope.siteId ?? null,
    device_id: s.scope.deviceId ?? null,
    rule_ids: JSON.stringify(s.scope.ruleIds),
    author: s.author,
    reason: s.reason,
    timezone: s.timezone,
    starts_at: s.window?.startsAt ?? null,
    ends_at: s.window?.endsAt ?? null,
    schedule: s.schedule ? JSON.stringify(s.schedule) : null,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    expired_at: s.expiredAt ?? null,
  };
}

function fromRow(row: Selectable<SilencesTable>): Silence {
  const schedule = row.schedule === null ? undefined : ScheduleSchema.safeParse(JSON.parse(row.schedule));
  if (schedule && !schedule.success) throw new Error(`silence ${row.id}: stored schedule is invalid: ${schedule.error.message}`);
  return {
    id: row.id,
    scope: {
      ...(row.site_id !== null && { siteId: row.site_id }),
      ...(row.device_id !== null && { deviceId: row.device_id }),
      ruleIds: RuleIds.parse(JSON.parse(row.rule_ids)),
    },
    author: row.author,
    reason: row.reason,
    timezone: row.timezone,
    ...(row.starts_at !== null && row.ends_at !== null && { window: { startsAt: Number(row.starts_at), endsAt: Number(row.ends_at) } }),
    ...(schedule && { schedule: schedule.data }),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    ...(row.expired_at !== null && { expiredAt: Number(row.expired_at) }),
  };
}

/**
 * Silences (maintenance windows) in the SQL database. Like Alertmanager's, a silence is never
 * deleted: expiring it sets `expired_at` and keeps the row as history.
 */
export class SilenceRepository implements SilenceStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(silence: Silence): Promise<void> {
    await this.db.insertInto('silences').values(toRow(silence)).execute();
  }

  async get(id: string): Promise<Silence | undefined> {
    const row = await this.db.selectFrom('silences').selectAll().where('id', '=', id).executeTakeFirst();
    return row && fromRow(row);
  }

  /** Every silence, expired ones too unless `includeExpired` is false; oldest first. */
  async list(options: { includeExpired?: boolean } = {}): Promise<Silence[]> {
    let query = this.db.selectFrom('silences').selectAll();
    if (options.includeExpired === false) query = query.where('expired_at', 'is', null);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map(fromRow);
  }

  /** Replaces a silence's fields (not its id or creation time); false if there is none with its id. */
  async update(silence: Silence): Promise<boolean> {
    const { id: _id, created_at: _created, ...fields } = toRow(silence);
    const result = await this.db.updateTable('silences').set(fields).where('id', '=', silence.id).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Sets the expiry of a silence not already expired; false if there is none such. */
  async expire(id: string, at: number): Promise<boolean> {
    const result = await this.db.updateTable('silences').set({ expired_at: at, updated_at: at }).where('id', '=', id).where('expired_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
