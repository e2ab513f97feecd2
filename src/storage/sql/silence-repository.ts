import type { ExpressionBuilder, Insertable, Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import { ScheduleSchema, type Silence } from '../../silences/schedule.js';
import type { SilenceStore } from '../../silences/store.js';
import type { Database, SilencesTable } from './schema.js';
import { storableText } from './text.js';

const RuleIds = z.array(z.string());

/** Which silences a list covers: those of a site (its own and its devices'), of a device (its own and its site's). */
export interface SilenceScope {
  readonly site?: string;
  readonly device?: { readonly id: string; readonly site?: string };
}

/**
 * Over at `now` as far as SQL can tell: expired by hand, or a one-off window that has ended. Each
 * comparison is guarded by `is not null` so the result is never NULL, which `not` would keep NULL.
 */
function over(eb: ExpressionBuilder<Database, 'silences'>, now: number) {
  return eb.or([eb.and([eb('expired_at', 'is not', null), eb('expired_at', '<=', now)]), eb.and([eb('ends_at', 'is not', null), eb('ends_at', '<=', now)])]);
}

function toRow(s: Silence): Insertable<SilencesTable> {
  return {
    id: s.id,
    site_id: s.scope.siteId ?? null,
    device_id: s.scope.deviceId ?? null,
    rule_ids: JSON.stringify(s.scope.ruleIds),
    author: storableText(s.author),
    reason: storableText(s.reason),
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

  /**
   * Silences in scope that SQL cannot tell are over at `now`: not expired by hand, and not a
   * one-off window that has ended. Few (what is in force or still to come, and recurring ones whose
   * schedule may have run out), so the caller reads their status from the schedule.
   */
  async unfinished(scope: SilenceScope, now: number): Promise<Silence[]> {
    const rows = await this.scoped(scope)
      .where((eb) => eb.not(over(eb, now)))
      .selectAll()
      .execute();
    return rows.map(fromRow);
  }

  /**
   * Silences in scope that are over at `now` (expired by hand, a one-off window ended, or one of
   * `overIds`: recurring ones the caller found over), newest end first — the expiry, else the last
   * change — filtered, counted and paged in SQL: this history only grows.
   */
  async finished(scope: SilenceScope, now: number, overIds: readonly string[], page: { limit: number; offset: number }): Promise<{ items: Silence[]; total: number }> {
    const query = this.scoped(scope).where((eb) => (overIds.length ? eb.or([over(eb, now), eb('id', 'in', [...overIds])]) : over(eb, now)));
    const total = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    const rows = await query
      .selectAll()
      .orderBy((eb) => eb.fn.coalesce('expired_at', 'updated_at'), 'desc')
      .orderBy('id')
      .limit(page.limit)
      .offset(page.offset)
      .execute();
    return { items: rows.map(fromRow), total: Number(total?.n ?? 0) };
  }

  /** Silences of a site (its own and its devices'), of a device (its own and its site's), or all. */
  private scoped(scope: SilenceScope) {
    let query = this.db.selectFrom('silences');
    if (scope.site !== undefined) {
      const site = scope.site;
      // A silence's site: its own, or its device's.
      query = query.where((eb) =>
        eb.or([eb('site_id', '=', site), eb.and([eb('site_id', 'is', null), eb('device_id', 'in', eb.selectFrom('devices').select('devices.id').where('devices.site', '=', site))])]),
      );
    }
    if (scope.device !== undefined) {
      const { id, site } = scope.device;
      query = query.where((eb) => (site === undefined ? eb('device_id', '=', id) : eb.or([eb('device_id', '=', id), eb.and([eb('device_id', 'is', null), eb('site_id', '=', site)])])));
    }
    return query;
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
