import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Grade } from '../../kernel/grades.js';
import type { NoticeKind } from '../../kernel/notices.js';
import type { OverrideKind } from '../../notify/roster-schema.js';
import type {
  AttemptOutcome,
  Delivery,
  DeliveryAttempt,
  DeliveryFilter,
  DeliveryOutcome,
  DeliveryStatus,
  EscalationStep,
  NewDelivery,
  NoticeEntry,
  NotificationStore,
  NotifyDepth,
  StoredOverride,
} from '../../notify/store.js';
import type { NotificationEvent } from '../../notify/types.js';
import { consumerName } from './alert-outbox-repository.js';
import type { SqlDialectName } from './migrations.js';
import type { Database, NotifyDeliveriesTable } from './schema.js';

export interface SqlNotificationStoreOptions {
  /** Names this consumer's claims; unique per process (host, pid and a random part by default). */
  readonly consumer?: string;
  /** How long a claim holds: a process that died with rows claimed gives them up after this. */
  readonly leaseMs?: number;
  /** The clock of claims and leases, and of the times rows are written. */
  readonly now?: () => number;
}

/** An override id that is taken already. */
export class OverrideIdTakenError extends Error {
  constructor(readonly id: string) {
    super(`an on-call override with id ${id} exists already`);
    this.name = 'OverrideIdTakenError';
  }
}

const LAST_ERROR_CHARS = 2_000;
/** Rows a multi-row INSERT writes at a time (SQLite binds at most 32,766 values a statement). */
const INSERT_CHUNK = 500;
/** Ids an `IN (…)` list carries at a time. */
const ID_CHUNK = 1_000;
/** Statuses of a work order nobody has acknowledged yet (the chain keeps calling). */
const UNACKNOWLEDGED = ['new', 'notified'] as const;
const FINISHED: readonly DeliveryStatus[] = ['sent', 'failed', 'cancelled', 'folded'];

type DeliveryRow = Selectable<NotifyDeliveriesTable>;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function toDelivery(r: DeliveryRow): Delivery {
  return {
    id: Number(r.id),
    deliveryId: r.delivery_id,
    ...(r.work_order_id !== null && { workOrderId: Number(r.work_order_id) }),
    ...(r.notice_id !== null && { noticeId: Number(r.notice_id) }),
    event: r.event as NotificationEvent,
    level: Number(r.level),
    person: r.person,
    channel: r.channel,
    dueAt: Number(r.due_at),
    digest: Number(r.digest) !== 0,
    responsible: Number(r.responsible) !== 0,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    ...(r.sent_at !== null && { sentAt: Number(r.sent_at) }),
    ...(r.last_error !== null && { lastError: r.last_error }),
    ...(r.folded_into !== null && { foldedInto: r.folded_into }),
    ...(r.claimed_until !== null && { claimedUntil: Number(r.claimed_until) }),
  };
}

/**
 * The notify feature's storage in the SQL database: the notice outbox, deliveries and their log,
 * escalation steps, on-call overrides and used acknowledge links.
 *
 * Claims are leases named by the consumer. A claim hands out rows that nobody holds, whose claim
 * ran out, or that this consumer holds already (left by a round that failed half way): a consumer
 * works one round at a time, finishing what it claimed before it claims again. On PostgreSQL every
 * claim locks the rows it hands out with `FOR UPDATE SKIP LOCKED`, so engines on one database
 * claim disjoint rows without waiting for each other; SQLite has one process, whose transactions
 * run one at a time. Every write that finishes a claimed row first checks, in the same statement,
 * that this consumer still holds the claim and it has not run out.
 */
export class SqlNotificationStore implements NotificationStore {
  readonly consumer: string;
  private readonly leaseMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialectName,
    options: SqlNotificationStoreOptions = {},
  ) {
    this.consumer = options.consumer ?? consumerName();
    this.leaseMs = options.leaseMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  // ── notices ────────────────────────────────────────────────────────────────────────────────

  async claimNotices(limit: number): Promise<NoticeEntry[]> {
    const now = this.now();
    const claimedUntil = now + this.leaseMs;
    const rows = await this.db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom('notices')
        .select(['id', 'work_order_id', 'kind', 'grade', 'created_at', 'attempts'])
        .where('done_at', 'is', null)
        .where('available_at', '<=', now)
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now), eb('claimed_by', '=', this.consumer)]))
        .orderBy('id')
        .limit(limit);
      if (this.dialect === 'postgres') query = query.forUpdate().skipLocked();
      const found = await query.execute();
      if (found.length > 0) {
        await trx
          .updateTable('notices')
          .set((eb) => ({ claimed_by: this.consumer, claimed_until: claimedUntil, attempts: eb('attempts', '+', 1) }))
          .where(
            'id',
            'in',
            found.map((r) => r.id),
          )
          .execute();
      }
      return found;
    });
    return rows.map((r) => ({
      id: Number(r.id),
      workOrderId: Number(r.work_order_id),
      kind: r.kind as NoticeKind,
      grade: r.grade as Grade,
      createdAt: Number(r.created_at),
      attempts: Number(r.attempts) + 1,
    }));
  }

  async planNotice(
    noticeId: number,
    deliveries: readonly NewDelivery[],
    steps: ReadonlyArray<{ readonly level: number; readonly dueAt: number }>,
    options: { readonly supersede?: boolean } = {},
  ): Promise<boolean> {
    const now = this.now();
    return this.db.transaction().execute(async (trx) => {
      // Marking it done first checks the claim and, on PostgreSQL, locks the row until commit.
      const notice = await trx
        .updateTable('notices')
        .set({ done_at: now, claimed_by: null, claimed_until: null })
        .where('id', '=', noticeId)
        .where('done_at', 'is', null)
        .where('claimed_by', '=', this.consumer)
        .where('claimed_until', '>=', now)
        .returning('work_order_id')
        .executeTakeFirst();
      if (!notice) return false;
      const workOrderId = Number(notice.work_order_id);
      if (options.supersede) {
        // The work order's row lock (as expandStep takes it) makes two plans of one work order
        // replace chains one after the other. Only earlier notices' steps: a later call planned
        // first (another engine, or this notice's retry) keeps its chain.
        if (this.dialect === 'postgres') await trx.selectFrom('work_orders').select('id').where('id', '=', workOrderId).forUpdate().execute();
        await trx
          .updateTable('notify_escalations')
          .set({ status: 'cancelled', claimed_by: null, claimed_until: null })
          .where('work_order_id', '=', workOrderId)
          .where('notice_id', '<', noticeId)
          .where('status', '=', 'pending')
          .execute();
      }
      await this.insertDeliveries(trx, deliveries, now);
      await this.insertSteps(trx, workOrderId, noticeId, steps);
      return true;
    });
  }

  async addDeliveries(deliveries: readonly NewDelivery[]): Promise<number> {
    if (deliveries.length === 0) return 0;
    const now = this.now();
    return this.db.transaction().execute((trx) => this.insertDeliveries(trx, deliveries, now));
  }

  async failNotice(noticeId: number, error: string, retryAt: number): Promise<boolean> {
    const now = this.now();
    const result = await this.db
      .updateTable('notices')
      .set({ last_error: error.slice(0, LAST_ERROR_CHARS), available_at: retryAt, claimed_by: null, claimed_until: null })
      .where('id', '=', noticeId)
      .where('done_at', 'is', null)
      .where('claimed_by', '=', this.consumer)
      .where('claimed_until', '>=', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  // ── escalation steps ───────────────────────────────────────────────────────────────────────

  async claimSteps(now: number, limit: number): Promise<EscalationStep[]> {
    const at = this.now();
    const claimedUntil = at + this.leaseMs;
    const rows = await this.db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom('notify_escalations')
        .select(['id', 'work_order_id', 'notice_id', 'level', 'due_at'])
        .where('status', '=', 'pending')
        .where('due_at', '<=', now)
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', at), eb('claimed_by', '=', this.consumer)]))
        .orderBy('due_at')
        .orderBy('id')
        .limit(limit);
      if (this.dialect === 'postgres') query = query.forUpdate().skipLocked();
      const found = await query.execute();
      if (found.length > 0) {
        await trx
          .updateTable('notify_escalations')
          .set({ claimed_by: this.consumer, claimed_until: claimedUntil })
          .where(
            'id',
            'in',
            found.map((r) => r.id),
          )
          .execute();
      }
      return found;
    });
    return rows.map((r) => ({
      id: Number(r.id),
      workOrderId: Number(r.work_order_id),
      noticeId: Number(r.notice_id),
      level: Number(r.level),
      dueAt: Number(r.due_at),
      status: 'pending' as const,
    }));
  }

  async expandStep(stepId: number, deliveries: readonly NewDelivery[], next?: { readonly level: number; readonly dueAt: number }): Promise<'expanded' | 'cancelled' | 'lost'> {
    const now = this.now();
    return this.db.transaction().execute(async (trx) => {
      const step = await trx.selectFrom('notify_escalations').select(['work_order_id', 'notice_id']).where('id', '=', stepId).executeTakeFirst();
      if (!step) return 'lost';
      const workOrderId = Number(step.work_order_id);
      // The work order's row lock orders this against an acknowledgement on PostgreSQL: one in
      // flight is waited for and its status read here; one that comes later waits for this commit
      // and finds the step done. SQLite's transactions run one at a time.
      let status = trx.selectFrom('work_orders').select('status').where('id', '=', workOrderId);
      if (this.dialect === 'postgres') status = status.forUpdate();
      const workOrder = await status.executeTakeFirst();
      const calling = workOrder !== undefined && (UNACKNOWLEDGED as readonly string[]).includes(workOrder.status);
      const marked = await trx
        .updateTable('notify_escalations')
        .set({ status: calling ? 'done' : 'cancelled', claimed_by: null, claimed_until: null })
        .where('id', '=', stepId)
        .where('status', '=', 'pending')
        .where('claimed_by', '=', this.consumer)
        .where('claimed_until', '>=', now)
        .executeTakeFirst();
      if (Number(marked.numUpdatedRows) === 0) return 'lost';
      if (!calling) return 'cancelled';
      await this.insertDeliveries(trx, deliveries, now);
      if (next) await this.insertSteps(trx, workOrderId, Number(step.notice_id), [next]);
      return 'expanded';
    });
  }

  async deferStep(stepId: number, dueAt: number): Promise<boolean> {
    const now = this.now();
    const result = await this.db
      .updateTable('notify_escalations')
      .set({ due_at: dueAt, claimed_by: null, claimed_until: null })
      .where('id', '=', stepId)
      .where('status', '=', 'pending')
      .where('claimed_by', '=', this.consumer)
      .where('claimed_until', '>=', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  // ── deliveries ─────────────────────────────────────────────────────────────────────────────

  async claimDeliveries(now: number, limit: number): Promise<Delivery[]> {
    const at = this.now();
    const claimedUntil = at + this.leaseMs;
    const rows = await this.db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom('notify_deliveries')
        .selectAll()
        .where('status', '=', 'pending')
        .where('due_at', '<=', now)
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', at), eb('claimed_by', '=', this.consumer)]))
        .orderBy('due_at')
        .orderBy('id')
        .limit(limit);
      if (this.dialect === 'postgres') query = query.forUpdate().skipLocked();
      const found = await query.execute();
      if (found.length > 0) {
        await trx
          .updateTable('notify_deliveries')
          .set({ claimed_by: this.consumer, claimed_until: claimedUntil })
          .where(
            'id',
            'in',
            found.map((r) => r.id),
          )
          .execute();
      }
      return found;
    });
    return rows.map((r) => toDelivery({ ...r, claimed_by: this.consumer, claimed_until: claimedUntil }));
  }

  async settle(id: number, outcome: DeliveryOutcome): Promise<boolean> {
    const now = this.now();
    return this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('notify_deliveries')
        .set((eb) => ({
          status: outcome.status,
          ...(outcome.status === 'pending' && outcome.dueAt !== undefined && { due_at: outcome.dueAt }),
          ...(outcome.sentAt !== undefined && { sent_at: outcome.sentAt }),
          ...(outcome.lastError !== undefined && { last_error: outcome.lastError.slice(0, LAST_ERROR_CHARS) }),
          ...(outcome.foldedInto !== undefined && { folded_into: outcome.foldedInto }),
          ...(outcome.counted && { attempts: eb('attempts', '+', 1) }),
          updated_at: now,
          claimed_by: null,
          claimed_until: null,
        }))
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('claimed_by', '=', this.consumer)
        .where('claimed_until', '>=', now)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      const a = outcome.attempt;
      await trx
        .insertInto('notify_attempts')
        .values({
          delivery: id,
          at: a.at,
          outcome: a.outcome,
          status: a.status ?? null,
          error: a.error === undefined ? null : a.error.slice(0, LAST_ERROR_CHARS),
          duration_ms: a.durationMs === undefined ? null : Math.round(a.durationMs),
          by: this.consumer,
        })
        .execute();
      return true;
    });
  }

  async unacknowledged(workOrderId: number): Promise<boolean> {
    const row = await this.db.selectFrom('work_orders').select('status').where('id', '=', workOrderId).executeTakeFirst();
    return row !== undefined && (UNACKNOWLEDGED as readonly string[]).includes(row.status);
  }

  async sentSince(channel: string, since: number): Promise<number> {
    // Messages that went out: a digest that folded several is one sent attempt of its own
    // delivery; the folded rows log `folded`, so they are not counted again.
    const row = await this.db
      .selectFrom('notify_attempts as a')
      .innerJoin('notify_deliveries as d', 'd.id', 'a.delivery')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('a.outcome', '=', 'sent')
      .where('a.at', '>=', since)
      .where('d.channel', '=', channel)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async reached(workOrderId: number): Promise<Array<{ person: string; channel: string }>> {
    const rows = await this.db
      .selectFrom('notify_deliveries')
      .select(['person', 'channel'])
      .distinct()
      .where('work_order_id', '=', workOrderId)
      .where('status', 'in', ['sent', 'folded'])
      .orderBy('person')
      .orderBy('channel')
      .execute();
    return rows.map((r) => ({ person: r.person, channel: r.channel }));
  }

  // ── reading ────────────────────────────────────────────────────────────────────────────────

  async get(id: number): Promise<Delivery | undefined> {
    const row = await this.db.selectFrom('notify_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toDelivery(row);
  }

  /** Newest planned first; `from` and `to` bound when it was planned (`createdAt`, from inclusive, to exclusive). */
  async list(filter: DeliveryFilter, page: { readonly limit: number; readonly offset: number }): Promise<{ items: Delivery[]; total: number }> {
    let query = this.db.selectFrom('notify_deliveries');
    if (filter.workOrderId !== undefined) query = query.where('work_order_id', '=', filter.workOrderId);
    if (filter.person !== undefined) query = query.where('person', '=', filter.person);
    if (filter.channel !== undefined) query = query.where('channel', '=', filter.channel);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.from !== undefined) query = query.where('created_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('created_at', '<', filter.to);
    const total = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    const rows = await query.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute();
    return { items: rows.map(toDelivery), total: Number(total?.n ?? 0) };
  }

  async attempts(deliveries: readonly number[]): Promise<DeliveryAttempt[]> {
    const out: DeliveryAttempt[] = [];
    for (const ids of chunks([...new Set(deliveries)], ID_CHUNK)) {
      const rows = await this.db.selectFrom('notify_attempts').selectAll().where('delivery', 'in', ids).execute();
      for (const r of rows) {
        out.push({
          id: Number(r.id),
          delivery: Number(r.delivery),
          at: Number(r.at),
          outcome: r.outcome as AttemptOutcome,
          ...(r.status !== null && { status: Number(r.status) }),
          ...(r.error !== null && { error: r.error }),
          ...(r.duration_ms !== null && { durationMs: Number(r.duration_ms) }),
          by: r.by,
        });
      }
    }
    return out.sort((a, b) => a.at - b.at || a.id - b.id);
  }

  async depth(now: number): Promise<NotifyDepth> {
    const notices = await this.db
      .selectFrom('notices')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('done_at', 'is', null)
      .executeTakeFirst();
    const pending = await this.db
      .selectFrom('notify_deliveries')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.sum<number | string | null>(eb.case().when('attempts', '>', 0).then(1).else(0).end()).as('retrying'),
        eb.fn.min<number | string | null>(eb.case().when('due_at', '<=', now).then(eb.ref('due_at')).end()).as('oldest'),
      ])
      .where('status', '=', 'pending')
      .executeTakeFirst();
    const steps = await this.db
      .selectFrom('notify_escalations')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    const oldest = pending?.oldest ?? null;
    return {
      notices: Number(notices?.n ?? 0),
      pending: Number(pending?.n ?? 0),
      retrying: Number(pending?.retrying ?? 0),
      steps: Number(steps?.n ?? 0),
      ...(oldest !== null && { oldestDueAt: Number(oldest) }),
    };
  }

  // ── on-call overrides ──────────────────────────────────────────────────────────────────────

  async overrides(): Promise<StoredOverride[]> {
    const rows = await this.db.selectFrom('oncall_overrides').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id,
      rotation: r.rotation,
      kind: r.kind as OverrideKind,
      from: Number(r.from_ts),
      until: Number(r.until_ts),
      ...(r.replaces !== null && { replaces: r.replaces }),
      replacement: r.replacement,
      ...(r.reason !== null && { reason: r.reason }),
      createdAt: Number(r.created_at),
      createdBy: r.created_by,
    }));
  }

  async addOverride(o: StoredOverride): Promise<void> {
    const result = await this.db
      .insertInto('oncall_overrides')
      .values({
        id: o.id,
        rotation: o.rotation,
        kind: o.kind,
        from_ts: o.from,
        until_ts: o.until,
        replaces: o.replaces ?? null,
        replacement: o.replacement,
        reason: o.reason ?? null,
        created_at: o.createdAt,
        created_by: o.createdBy,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0) === 0) throw new OverrideIdTakenError(o.id);
  }

  async removeOverride(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('oncall_overrides').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  // ── acknowledge links ──────────────────────────────────────────────────────────────────────

  async useLink(linkId: string, workOrderId: number, person: string, at: number): Promise<boolean> {
    const result = await this.db
      .insertInto('notify_link_uses')
      .values({ link_id: linkId, work_order_id: workOrderId, person, used_at: at })
      .onConflict((oc) => oc.column('link_id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async linkUse(linkId: string): Promise<{ at: number; person: string } | undefined> {
    const row = await this.db.selectFrom('notify_link_uses').select(['used_at', 'person']).where('link_id', '=', linkId).executeTakeFirst();
    return row && { at: Number(row.used_at), person: row.person };
  }

  // ── housekeeping ───────────────────────────────────────────────────────────────────────────

  async purge(before: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const finished = trx
        .selectFrom('notify_deliveries')
        .select('id')
        .where('status', 'in', [...FINISHED])
        .where('updated_at', '<', before);
      await trx.deleteFrom('notify_attempts').where('delivery', 'in', finished).execute();
      const deleted = await trx
        .deleteFrom('notify_deliveries')
        .where('status', 'in', [...FINISHED])
        .where('updated_at', '<', before)
        .executeTakeFirst();
      await trx.deleteFrom('notices').where('done_at', '<', before).execute();
      await trx.deleteFrom('notify_escalations').where('status', '<>', 'pending').where('due_at', '<', before).execute();
      return Number(deleted.numDeletedRows);
    });
  }

  // ── writing plans ──────────────────────────────────────────────────────────────────────────

  /** Adds deliveries; a delivery id recorded already is skipped (the same plan made twice adds nothing). Returns how many were added. */
  private async insertDeliveries(trx: Transaction<Database>, deliveries: readonly NewDelivery[], now: number): Promise<number> {
    let added = 0;
    for (const part of chunks(deliveries, INSERT_CHUNK)) {
      const result = await trx
        .insertInto('notify_deliveries')
        .values(
          part.map((d) => ({
            delivery_id: d.deliveryId,
            work_order_id: d.workOrderId ?? null,
            notice_id: d.noticeId ?? null,
            event: d.event,
            level: d.level,
            person: d.person,
            channel: d.channel,
            due_at: d.dueAt,
            digest: d.digest ? 1 : 0,
            responsible: d.responsible ? 1 : 0,
            status: 'pending',
            attempts: 0,
            created_at: now,
            updated_at: now,
          })),
        )
        .onConflict((oc) => oc.column('delivery_id').doNothing())
        .executeTakeFirst();
      added += Number(result.numInsertedOrUpdatedRows ?? 0);
    }
    return added;
  }

  /** Adds escalation steps; a step of the notice and level recorded already is skipped. */
  private async insertSteps(trx: Transaction<Database>, workOrderId: number, noticeId: number, steps: ReadonlyArray<{ readonly level: number; readonly dueAt: number }>): Promise<void> {
    if (steps.length === 0) return;
    await trx
      .insertInto('notify_escalations')
      .values(steps.map((s) => ({ work_order_id: workOrderId, notice_id: noticeId, level: s.level, due_at: s.dueAt, status: 'pending' })))
      .onConflict((oc) => oc.columns(['notice_id', 'level']).doNothing())
      .execute();
  }
}
