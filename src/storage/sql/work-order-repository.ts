import type { Insertable, Kysely, Selectable, Transaction } from 'kysely';
import type { Grade } from '../../kernel/grades.js';
import { localYearMonth } from '../../kernel/time/zone.js';
import type { FaultType } from '../../workorders/clocks.js';
import { OPEN_STATES, type WorkOrderState } from '../../workorders/state-machine.js';
import {
  DuplicateEventError,
  WorkOrderConflictError,
  type Breach,
  type Channel,
  type NewEvent,
  type NewWorkOrder,
  type ResponseMode,
  type WorkOrder,
  type WorkOrderEvent,
  type WorkOrderFilter,
  type WorkOrderKind,
  type WorkOrderPatch,
  type WorkOrderStore,
} from '../../workorders/types.js';
import type { Database } from './schema.js';
import type { WorkOrdersTable } from './work-order-schema.js';

type Row = Selectable<WorkOrdersTable>;

const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

function toWorkOrder(row: Row): WorkOrder {
  const reporter = row.reporter_name !== null ? { name: row.reporter_name, ...(row.reporter_phone !== null && { phone: row.reporter_phone }), ...(row.reporter_department !== null && { department: row.reporter_department }) } : undefined;
  const optional = {
    identity: opt(row.identity),
    ruleId: opt(row.rule_id),
    reporter,
    notifiedAt: opt(row.notified_at),
    acknowledgedAt: opt(row.acknowledged_at),
    acknowledgedBy: opt(row.acknowledged_by),
    respondedAt: opt(row.responded_at),
    respondedBy: opt(row.responded_by),
    responseMode: opt(row.response_mode) as ResponseMode | undefined,
    startedAt: opt(row.started_at),
    startedBy: opt(row.started_by),
    resolvedAt: opt(row.resolved_at),
    resolvedBy: opt(row.resolved_by),
    resolution: opt(row.resolution),
    closedAt: opt(row.closed_at),
    closedBy: opt(row.closed_by),
    satisfaction: opt(row.satisfaction),
    satisfactionComment: opt(row.satisfaction_comment),
    cancelledAt: opt(row.cancelled_at),
    cancelledBy: opt(row.cancelled_by),
    assignee: opt(row.assignee),
    assignedAt: opt(row.assigned_at),
    handoverConfirmedAt: opt(row.handover_confirmed_at),
    lastProgressAt: opt(row.last_progress_at),
    feedbackAt: opt(row.feedback_at),
    plannedDueAt: opt(row.planned_due_at),
    alertState: opt(row.alert_state),
    resolutionSuggestedAt: opt(row.resolution_suggested_at),
  };
  return {
    id: row.id,
    number: row.number,
    kind: row.kind as WorkOrderKind,
    channel: row.channel as Channel,
    status: row.status as WorkOrderState,
    grade: row.grade as Grade,
    siteId: row.site_id,
    deviceId: row.device_id,
    device: JSON.parse(row.device) as WorkOrder['device'],
    faultType: row.fault_type as FaultType,
    title: row.title,
    phenomenon: row.phenomenon,
    alarmCodes: JSON.parse(row.alarm_codes) as string[],
    faultAt: row.fault_at,
    reportedAt: row.reported_at,
    reportedBy: row.reported_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
    ...(Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) as Partial<WorkOrder>),
  };
}

/** Column values of the fields a patch sets (undefined fields are left alone). */
function toColumns(patch: WorkOrderPatch): Partial<Insertable<WorkOrdersTable>> {
  const map: Array<[keyof WorkOrderPatch, keyof WorkOrdersTable, (v: never) => unknown]> = [
    ['kind', 'kind', (v) => v],
    ['channel', 'channel', (v) => v],
    ['status', 'status', (v) => v],
    ['grade', 'grade', (v) => v],
    ['siteId', 'site_id', (v) => v],
    ['deviceId', 'device_id', (v) => v],
    ['device', 'device', (v) => JSON.stringify(v)],
    ['faultType', 'fault_type', (v) => v],
    ['title', 'title', (v) => v],
    ['phenomenon', 'phenomenon', (v) => v],
    ['alarmCodes', 'alarm_codes', (v) => JSON.stringify(v)],
    ['ruleId', 'rule_id', (v) => v],
    ['faultAt', 'fault_at', (v) => v],
    ['reportedAt', 'reported_at', (v) => v],
    ['reportedBy', 'reported_by', (v) => v],
    ['notifiedAt', 'notified_at', (v) => v],
    ['acknowledgedAt', 'acknowledged_at', (v) => v],
    ['acknowledgedBy', 'acknowledged_by', (v) => v],
    ['respondedAt', 'responded_at', (v) => v],
    ['respondedBy', 'responded_by', (v) => v],
    ['responseMode', 'response_mode', (v) => v],
    ['startedAt', 'started_at', (v) => v],
    ['startedBy', 'started_by', (v) => v],
    ['resolvedAt', 'resolved_at', (v) => v],
    ['resolvedBy', 'resolved_by', (v) => v],
    ['resolution', 'resolution', (v) => v],
    ['closedAt', 'closed_at', (v) => v],
    ['closedBy', 'closed_by', (v) => v],
    ['satisfaction', 'satisfaction', (v) => v],
    ['satisfactionComment', 'satisfaction_comment', (v) => v],
    ['cancelledAt', 'cancelled_at', (v) => v],
    ['cancelledBy', 'cancelled_by', (v) => v],
    ['assignee', 'assignee', (v) => v],
    ['assignedAt', 'assigned_at', (v) => v],
    ['handoverConfirmedAt', 'handover_confirmed_at', (v) => v],
    ['lastProgressAt', 'last_progress_at', (v) => v],
    ['feedbackAt', 'feedback_at', (v) => v],
    ['plannedDueAt', 'planned_due_at', (v) => v],
    ['alertState', 'alert_state', (v) => v],
    ['resolutionSuggestedAt', 'resolution_suggested_at', (v) => v],
    ['updatedAt', 'updated_at', (v) => v],
  ];
  const out: Record<string, unknown> = {};
  for (const [field, column, convert] of map) {
    const value = patch[field];
    if (value === null) out[column] = null;
    else if (value !== undefined) out[column] = convert(value as never);
  }
  if (patch.reporter === null) {
    out.reporter_name = null;
    out.reporter_phone = null;
    out.reporter_department = null;
  } else if (patch.reporter !== undefined) {
    out.reporter_name = patch.reporter.name;
    out.reporter_phone = patch.reporter.phone ?? null;
    out.reporter_department = patch.reporter.department ?? null;
  }
  return out as Partial<Insertable<WorkOrdersTable>>;
}

function eventRow(workOrderId: number, e: NewEvent) {
  return {
    work_order_id: workOrderId,
    ts: e.ts,
    actor: e.actor,
    kind: e.kind,
    from_state: e.from ?? null,
    to_state: e.to ?? null,
    note: e.note ?? null,
    data: e.data ? JSON.stringify(e.data) : null,
    dedup_key: e.key ?? null,
  };
}

/**
 * Records timeline entries in the transaction of the change they come with, and a notice (the
 * notify feature's outbox) for each entry that asks for one, naming the entry and the work order's
 * grade after the change (`grade`, required when an entry has a notice). Rolled back with the
 * change: a change that fails, or an entry whose key is recorded already, leaves no notice.
 */
async function insertEvents(trx: Transaction<Database>, workOrderId: number, events: readonly NewEvent[], grade: string | undefined): Promise<void> {
  if (events.length === 0) return;
  if (!events.some((e) => e.notice !== undefined)) {
    await trx.insertInto('work_order_events').values(events.map((e) => eventRow(workOrderId, e))).execute();
    return;
  }
  // One at a time, in order: a notice names its own entry's id, and the order of the rows a
  // multi-row INSERT ... RETURNING gives back is not defined.
  for (const e of events) {
    const entry = await trx.insertInto('work_order_events').values(eventRow(workOrderId, e)).returning('id').executeTakeFirstOrThrow();
    if (e.notice === undefined) continue;
    if (grade === undefined) throw new Error(`work order ${workOrderId}: a notice needs the work order's grade`);
    await trx
      .insertInto('notices')
      .values({ work_order_id: workOrderId, event_id: Number(entry.id), kind: e.notice, grade, created_at: e.ts, available_at: e.ts })
      .execute();
  }
}

/** A timeline entry's key (`dedup_key`) recorded already, on either database. */
function isDuplicateEventKey(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
  if (e.code === '23505') return e.constraint === 'work_order_events_dedup';
  return e.code === 'SQLITE_CONSTRAINT_UNIQUE' && typeof e.message === 'string' && e.message.includes('work_order_events.dedup_key');
}

/** Runs a write that records timeline entries, telling a key recorded already from other failures. */
async function recording<T>(write: Promise<T>, events: readonly NewEvent[]): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (isDuplicateEventKey(error)) throw new DuplicateEventError(events.find((e) => e.key !== undefined)?.key);
    throw error;
  }
}

/** A unique-constraint violation on either database. */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** YYYYMM of `ts` in the site's time zone: work-order numbers count per local month. */
export function numberMonth(ts: number, timeZone: string): string {
  const { year, month } = localYearMonth(timeZone, ts);
  return `${year}${String(month).padStart(2, '0')}`;
}

/** Work orders in the SQL database (SQLite or PostgreSQL). */
export class SqlWorkOrderStore implements WorkOrderStore {
  constructor(private readonly db: Kysely<Database>) {}

  async openForIdentity(input: NewWorkOrder & { identity: string }, event: NewEvent, timeZone: string): Promise<{ created: boolean; workOrder: WorkOrder }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const open = await this.openByIdentity(input.identity);
      if (open) return { created: false, workOrder: open };
      try {
        return { created: true, workOrder: await recording(this.insert(input, event, timeZone), [event]) };
      } catch (error) {
        if (error instanceof DuplicateEventError) throw error;
        // Another process opened it between our look and our insert: the partial unique index said
        // no, the transaction (and its number) rolled back; take theirs.
        if (!isUniqueViolation(error)) throw error;
      }
    }
    throw new Error(`could not open a work order for ${input.identity}: kept conflicting`);
  }

  create(input: NewWorkOrder, event: NewEvent, timeZone: string): Promise<WorkOrder> {
    return this.insert(input, event, timeZone);
  }

  private async openByIdentity(identity: string): Promise<WorkOrder | undefined> {
    const row = await this.db
      .selectFrom('work_orders')
      .selectAll()
      .where('identity', '=', identity)
      .where('status', 'in', [...OPEN_STATES])
      .executeTakeFirst();
    return row && toWorkOrder(row);
  }

  private async insert(input: NewWorkOrder, event: NewEvent, timeZone: string): Promise<WorkOrder> {
    return this.db.transaction().execute(async (trx) => {
      const month = numberMonth(input.reportedAt, timeZone);
      const sequence = await trx
        .insertInto('work_order_sequences')
        .values({ month, last: 1 })
        .onConflict((oc) => oc.column('month').doUpdateSet((eb) => ({ last: eb('work_order_sequences.last', '+', 1) })))
        .returning('last')
        .executeTakeFirstOrThrow();
      const now = event.ts;
      const row = await trx
        .insertInto('work_orders')
        .values({
          ...(toColumns(input) as Insertable<WorkOrdersTable>),
          number: `WO-${month}-${String(sequence.last).padStart(4, '0')}`,
          identity: input.identity ?? null,
          status: input.status ?? 'new',
          created_at: now,
          updated_at: now,
          version: 1,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await insertEvents(trx, row.id, [event], row.grade);
      return toWorkOrder(row);
    });
  }

  async get(idOrNumber: string | number): Promise<WorkOrder | undefined> {
    const byNumber = typeof idOrNumber === 'string' && !/^\d+$/.test(idOrNumber);
    let query = this.db.selectFrom('work_orders').selectAll();
    query = byNumber ? query.where('number', '=', String(idOrNumber).toUpperCase()) : query.where('id', '=', Number(idOrNumber));
    const row = await query.executeTakeFirst();
    return row && toWorkOrder(row);
  }

  async list(filter: WorkOrderFilter): Promise<WorkOrder[]> {
    const rows = await this.matching(filter).selectAll().orderBy('reported_at', 'desc').orderBy('id', 'desc').execute();
    return rows.map(toWorkOrder);
  }

  /** One page of `list`, newest report first, with the number of all matches: filtered, counted and paged in SQL. */
  async page(filter: WorkOrderFilter, page: { limit: number; offset: number }): Promise<{ items: WorkOrder[]; total: number }> {
    const query = this.matching(filter);
    const total = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    const rows = await query.selectAll().orderBy('reported_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute();
    return { items: rows.map(toWorkOrder), total: Number(total?.n ?? 0) };
  }

  /**
   * The open work orders (every status before resolved) of these devices, oldest first, in one
   * query: what a page of the device list shows beside each scanner.
   */
  async openOf(deviceIds: readonly string[]): Promise<Array<Pick<WorkOrder, 'id' | 'number' | 'deviceId' | 'status' | 'grade' | 'kind'>>> {
    if (deviceIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('work_orders')
      .select(['id', 'number', 'device_id', 'status', 'grade', 'kind'])
      .where('device_id', 'in', [...new Set(deviceIds)])
      .where('status', 'in', [...OPEN_STATES])
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ id: r.id, number: r.number, deviceId: r.device_id, status: r.status as WorkOrderState, grade: r.grade as Grade, kind: r.kind as WorkOrder['kind'] }));
  }

  private matching(filter: WorkOrderFilter) {
    let query = this.db.selectFrom('work_orders');
    if (filter.site) query = query.where('site_id', '=', filter.site);
    if (filter.device) query = query.where('device_id', '=', filter.device);
    if (filter.status && filter.status.length > 0) query = query.where('status', 'in', [...filter.status]);
    if (filter.grade) query = query.where('grade', '=', filter.grade);
    if (filter.kind) query = query.where('kind', '=', filter.kind);
    if (filter.identity) query = query.where('identity', '=', filter.identity);
    return query;
  }

  async latestForIdentity(identity: string): Promise<WorkOrder | undefined> {
    const row = await this.db.selectFrom('work_orders').selectAll().where('identity', '=', identity).orderBy('created_at', 'desc').orderBy('id', 'desc').executeTakeFirst();
    return row && toWorkOrder(row);
  }

  async update(id: number, version: number, patch: WorkOrderPatch, events: readonly NewEvent[]): Promise<WorkOrder> {
    return recording(this.updateNow(id, version, patch, events), events);
  }

  private updateNow(id: number, version: number, patch: WorkOrderPatch, events: readonly NewEvent[]): Promise<WorkOrder> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('work_orders')
        .set({ ...toColumns(patch), version: version + 1 })
        .where('id', '=', id)
        .where('version', '=', version)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new WorkOrderConflictError(id);
      await insertEvents(trx, id, events, row.grade);
      return toWorkOrder(row);
    });
  }

  async addEvents(id: number, events: readonly NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    // One transaction: the entries and their notices are recorded together or not at all.
    const write = this.db.transaction().execute(async (trx) => {
      let grade: string | undefined;
      if (events.some((e) => e.notice !== undefined)) {
        const row = await trx.selectFrom('work_orders').select('grade').where('id', '=', id).executeTakeFirst();
        if (!row) throw new Error(`work order ${id} does not exist`);
        grade = row.grade;
      }
      await insertEvents(trx, id, events, grade);
    });
    await recording(write, events);
  }

  async hasEvent(key: string): Promise<boolean> {
    const row = await this.db.selectFrom('work_order_events').select('id').where('dedup_key', '=', key).executeTakeFirst();
    return row !== undefined;
  }

  async timeline(id: number): Promise<WorkOrderEvent[]> {
    const rows = await this.db.selectFrom('work_order_events').selectAll().where('work_order_id', '=', id).orderBy('ts').orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id,
      workOrderId: r.work_order_id,
      ts: r.ts,
      actor: r.actor,
      kind: r.kind,
      ...(r.from_state !== null && { from: r.from_state as WorkOrderState }),
      ...(r.to_state !== null && { to: r.to_state as WorkOrderState }),
      ...(r.note !== null && { note: r.note }),
      ...(r.data !== null && { data: JSON.parse(r.data) as Record<string, unknown> }),
    }));
  }

  async recordBreach(breach: Breach): Promise<boolean> {
    const result = await this.db
      .insertInto('work_order_breaches')
      .values({ work_order_id: breach.workOrderId, clock: breach.clock, due_at: breach.dueAt, detected_at: breach.detectedAt, grade: breach.grade, site_id: breach.siteId })
      .onConflict((oc) => oc.columns(['work_order_id', 'clock', 'due_at']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async breaches(filter: { workOrderId?: number; site?: string; from?: number; to?: number }): Promise<Breach[]> {
    let query = this.db.selectFrom('work_order_breaches').selectAll();
    if (filter.workOrderId !== undefined) query = query.where('work_order_id', '=', filter.workOrderId);
    if (filter.site) query = query.where('site_id', '=', filter.site);
    if (filter.from !== undefined) query = query.where('due_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('due_at', '<', filter.to);
    const rows = await query.orderBy('due_at').execute();
    return rows.map((r) => ({ workOrderId: r.work_order_id, clock: r.clock, dueAt: r.due_at, detectedAt: r.detected_at, grade: r.grade as Grade, siteId: r.site_id }));
  }

  /** One page of breaches (escalations), oldest due first, each with its work order's number; paged in SQL. */
  async breachPage(filter: { site?: string; from?: number; to?: number }, page: { limit: number; offset: number }): Promise<{ items: Array<Breach & { number?: string }>; total: number }> {
    let query = this.db.selectFrom('work_order_breaches as b');
    if (filter.site) query = query.where('b.site_id', '=', filter.site);
    if (filter.from !== undefined) query = query.where('b.due_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('b.due_at', '<', filter.to);
    const total = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    const rows = await query
      .leftJoin('work_orders as w', 'w.id', 'b.work_order_id')
      .select(['b.work_order_id', 'b.clock', 'b.due_at', 'b.detected_at', 'b.grade', 'b.site_id', 'w.number'])
      .orderBy('b.due_at')
      .orderBy('b.work_order_id')
      .orderBy('b.clock')
      .limit(page.limit)
      .offset(page.offset)
      .execute();
    return {
      total: Number(total?.n ?? 0),
      items: rows.map((r) => ({ workOrderId: r.work_order_id, clock: r.clock, dueAt: r.due_at, detectedAt: r.detected_at, grade: r.grade as Grade, siteId: r.site_id, ...(r.number !== null && { number: r.number }) })),
    };
  }
}
