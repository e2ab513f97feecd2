import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AlertChange, AlertState } from '../../kernel/alerts.js';
import type { Grade } from '../../kernel/grades.js';
import type { AlertOutbox, OutboxDepth, OutboxEntry, UnreadableEntry } from '../../workorders/alert-outbox.js';
import type { SqlDialectName } from './migrations.js';
import type { Database } from './schema.js';

export interface SqlAlertOutboxOptions {
  /** Names this consumer's claims; unique per process (host, pid and a random part by default). */
  readonly consumer?: string;
  /** How long a claim holds: a consumer that crashed with changes claimed gives them up after this. */
  readonly leaseMs?: number;
  readonly now?: () => number;
}

const LAST_ERROR_CHARS = 2_000;

/** A consumer name unique to this process. */
export function consumerName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Reads a stored change; undefined when it is not one. */
function readChange(text: string): AlertChange | undefined {
  try {
    const value = JSON.parse(text) as Partial<AlertChange> | null;
    if (!value || typeof value.identity !== 'string' || typeof value.deviceId !== 'string' || typeof value.ruleId !== 'string' || !Array.isArray(value.transitions)) return undefined;
    return value as AlertChange;
  } catch {
    return undefined;
  }
}

/**
 * The alert outbox in the SQL database. On PostgreSQL the claim locks the rows it hands out with
 * `FOR UPDATE SKIP LOCKED`, so consumers in several engine processes claim disjoint changes
 * without waiting for each other; SQLite has one process, whose transactions run one at a time.
 */
export class SqlAlertOutbox implements AlertOutbox {
  readonly consumer: string;
  private readonly leaseMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialectName,
    options: SqlAlertOutboxOptions = {},
  ) {
    this.consumer = options.consumer ?? consumerName();
    this.leaseMs = options.leaseMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  async claim(limit: number): Promise<Array<OutboxEntry | UnreadableEntry>> {
    const now = this.now();
    const rows = await this.db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom('alert_outbox as o')
        .select(['o.id', 'o.change', 'o.attempts', 'o.origin', 'o.created_at'])
        .where('o.consumed_at', 'is', null)
        .where('o.available_at', '<=', now)
        // Unclaimed, a claim that ran out, or one of ours left by a drain that failed half way
        // (a consumer drains one batch at a time, so nothing of ours is in hand now).
        .where((eb) => eb.or([eb('o.claimed_until', 'is', null), eb('o.claimed_until', '<', now), eb('o.claimed_by', '=', this.consumer)]))
        // The oldest unconsumed change of its identity: the next one waits until it is consumed.
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('alert_outbox as p')
                .select('p.id')
                .whereRef('p.identity', '=', 'o.identity')
                .where('p.consumed_at', 'is', null)
                .whereRef('p.id', '<', 'o.id'),
            ),
          ),
        )
        .orderBy('o.id')
        .limit(limit);
      if (this.dialect === 'postgres') query = query.forUpdate().skipLocked();
      const found = await query.execute();
      if (found.length > 0) {
        await trx
          .updateTable('alert_outbox')
          .set((eb) => ({ claimed_by: this.consumer, claimed_until: now + this.leaseMs, attempts: eb('attempts', '+', 1) }))
          .where(
            'id',
            'in',
            found.map((r) => r.id),
          )
          .execute();
      }
      return found;
    });
    const claimedUntil = now + this.leaseMs;
    return rows.map((r) => {
      const change = readChange(r.change);
      if (!change) return { id: r.id, unreadable: `not an alert change: ${r.change.slice(0, 200)}`, claimedUntil };
      return { id: r.id, change, attempts: r.attempts + 1, reconciled: r.origin === 'reconcile', createdAt: r.created_at, claimedUntil };
    });
  }

  async complete(ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const now = this.now();
    // Only what this consumer still holds: a claim that ran out may be another consumer's now,
    // and marking its change would hand out the next change of the identity while it handles it.
    const rows = await this.db
      .updateTable('alert_outbox')
      .set({ consumed_at: now, claimed_by: null, claimed_until: null })
      .where('id', 'in', [...ids])
      .where('consumed_at', 'is', null)
      .where('claimed_by', '=', this.consumer)
      .where('claimed_until', '>=', now)
      .returning('id')
      .execute();
    return rows.map((r) => Number(r.id));
  }

  async fail(id: number, error: string, retryAt: number): Promise<boolean> {
    const now = this.now();
    const result = await this.db
      .updateTable('alert_outbox')
      .set({ last_error: error.slice(0, LAST_ERROR_CHARS), available_at: retryAt, claimed_by: null, claimed_until: null })
      .where('id', '=', id)
      .where('consumed_at', 'is', null)
      .where('claimed_by', '=', this.consumer)
      .where('claimed_until', '>=', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async firingWithoutPending(): Promise<AlertChange[]> {
    const rows = await this.db
      .selectFrom('alerts as a')
      .select(['a.state', 'a.grade', 'a.last_value', 'a.message_zh', 'a.message_en', 'a.last_change'])
      .where('a.state', '=', 'firing')
      .where('a.last_change', 'is not', null)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('alert_outbox as o')
              .select('o.id')
              .whereRef('o.device_id', '=', 'a.device_id')
              .whereRef('o.rule_id', '=', 'a.rule_id')
              .where('o.consumed_at', 'is', null),
          ),
        ),
      )
      .execute();
    const out: AlertChange[] = [];
    for (const r of rows) {
      const last = readChange(r.last_change!);
      if (!last) continue;
      const { value: _value, grade: _grade, ...rest } = last;
      out.push({
        ...rest,
        state: r.state as AlertState,
        ...(r.grade !== null && { grade: r.grade as Grade }),
        ...(r.last_value !== null && { value: Number(r.last_value) }),
        message: { zh: r.message_zh, en: r.message_en },
      });
    }
    return out;
  }

  async enqueueReconciled(change: AlertChange): Promise<boolean> {
    const now = this.now();
    return this.db.transaction().execute(async (trx) => {
      // On PostgreSQL the alert's row lock waits for an engine save of this alert in flight, so
      // what follows sees its state and its change.
      let alert = trx.selectFrom('alerts').select('state').where('device_id', '=', change.deviceId).where('rule_id', '=', change.ruleId);
      if (this.dialect === 'postgres') alert = alert.forUpdate();
      const row = await alert.executeTakeFirst();
      if (row?.state !== 'firing') return false;
      const pending = await trx
        .selectFrom('alert_outbox')
        .select('id')
        .where('device_id', '=', change.deviceId)
        .where('rule_id', '=', change.ruleId)
        .where('consumed_at', 'is', null)
        .limit(1)
        .executeTakeFirst();
      if (pending) return false;
      await trx
        .insertInto('alert_outbox')
        .values({
          identity: change.identity,
          device_id: change.deviceId,
          site_id: change.siteId,
          rule_id: change.ruleId,
          change_id: change.id ?? null,
          change: JSON.stringify(change),
          origin: 'reconcile',
          created_at: now,
          available_at: now,
        })
        .execute();
      return true;
    });
  }

  async depth(): Promise<OutboxDepth> {
    const row = await this.db
      .selectFrom('alert_outbox')
      .select((eb) => [eb.fn.countAll<number>().as('pending'), eb.fn.min('created_at').as('oldest'), eb.fn.count<number>('last_error').as('failing')])
      .where('consumed_at', 'is', null)
      .executeTakeFirstOrThrow();
    const oldest = row.oldest === null ? undefined : Number(row.oldest);
    return { pending: Number(row.pending), failing: Number(row.failing), ...(oldest !== undefined && { oldestAt: oldest }) };
  }

  async purge(before: number): Promise<number> {
    const result = await this.db.deleteFrom('alert_outbox').where('consumed_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
