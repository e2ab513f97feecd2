/**
 * What the work-order tests share: an alert change as the rule engine writes it, and a database
 * with the work orders, the alert outbox and a registered MR on SQLite or PostgreSQL.
 */
import type { AlertChange, AlertTransition, TransitionKind } from '../../src/kernel/alerts.js';
import type { Grade } from '../../src/kernel/grades.js';
import type { StoredAlert } from '../../src/kernel/ports/alert-store.js';
import { silentLogger } from '../../src/app/log.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import { SqlAlertOutbox, type SqlAlertOutboxOptions } from '../../src/storage/sql/alert-outbox-repository.js';
import { AlertRepository } from '../../src/storage/sql/alert-repository.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';
import { AlertOutboxConsumer, type AlertOutboxSettings } from '../../src/workorders/alert-outbox-consumer.js';
import { WorkOrderService, type WorkOrderSettings } from '../../src/workorders/service.js';
import type { WorkOrderStore } from '../../src/workorders/types.js';
import type { AlertOutbox } from '../../src/workorders/alert-outbox.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';
import { needs } from '../support/servers.js';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
export const T0 = Date.parse('2026-11-20T02:00:00Z');

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const postgres = needs('PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

/** The databases a suite runs on: SQLite always, PostgreSQL when GUARDIAN_TEST_DATABASE_URL is set. */
export const DATABASES: ReadonlyArray<{ title: string; dialect: 'sqlite' | 'postgres'; skip: boolean; target: () => Target }> = [
  { title: 'SQLite', dialect: 'sqlite', skip: false, target: () => sqliteTarget() },
  { title: postgres.title, dialect: 'postgres', skip: postgres.skip, target: () => postgresTarget(PG_URL!) },
];

export function transition(kind: TransitionKind, options: { grade?: Grade; ts?: number; from?: AlertTransition['from']; to?: AlertTransition['to'] } = {}): AlertTransition {
  const to = options.to ?? (kind === 'resolved' ? 'resolved' : kind === 'recovering' ? 'recovering' : 'firing');
  return { from: options.from ?? (kind === 'fired' ? 'pending' : 'firing'), to, grade: options.grade, ts: options.ts ?? T0, kind, notify: true };
}

/** A change of the helium alert of MR-1 (threshold, general, fired at T0) unless told otherwise. */
export function alertChange(overrides: Partial<AlertChange> = {}): AlertChange {
  const deviceId = overrides.deviceId ?? 'MR-1';
  const ruleId = overrides.ruleId ?? 'helium-low';
  const grade = 'grade' in overrides ? overrides.grade : 'general';
  const value = overrides.value ?? 59;
  return {
    identity: `${deviceId}/${ruleId}`,
    deviceId,
    siteId: 'h1',
    ruleId,
    pack: 'mr-test',
    ruleKind: 'threshold',
    faultType: 'cryogenics',
    state: 'firing',
    ...(grade && { grade }),
    value,
    activeAt: T0,
    message: { zh: `${deviceId} 液氦 ${value}%`, en: `${deviceId} helium ${value}%` },
    transitions: [transition('fired', { ...(grade && { grade }) })],
    at: T0,
    ...overrides,
  };
}

/** The stored alert the engine saves with a change. */
export function storedAlert(change: AlertChange, overrides: Partial<StoredAlert> = {}): StoredAlert {
  return {
    deviceId: change.deviceId,
    ruleId: change.ruleId,
    pack: change.pack,
    state: change.state,
    ...(change.grade && { grade: change.grade }),
    ...(change.value !== undefined && { lastValue: change.value }),
    record: '{}',
    condition: JSON.stringify({ window: [], ...(change.silencedBy && { silencedBy: change.silencedBy }) }),
    messageZh: change.message.zh,
    messageEn: change.message.en,
    updatedAt: change.at,
    ...overrides,
  };
}

export interface Setup {
  readonly sql: SqlDatabase;
  readonly registry: DeviceRegistry;
  readonly store: SqlWorkOrderStore;
  readonly service: WorkOrderService;
  readonly alerts: AlertRepository;
  readonly outbox: SqlAlertOutbox;
  readonly consumer: AlertOutboxConsumer;
  readonly clock: { now: number };
}

/** Opens a fresh database with site h1 and MR-1 (and MR-2 … MR-n when asked). */
export async function openDatabase(target: Target, devices = 1): Promise<{ sql: SqlDatabase; registry: DeviceRegistry }> {
  const sql = await openSqlDatabase(await target.fresh());
  await migrateToLatest(sql);
  const registry = await DeviceRegistry.open(new SqlDeviceStore(sql.db));
  await registry.upsertSite({ id: 'h1', name: '测试医院' });
  for (let i = 1; i <= devices; i++) {
    await registry.upsert({ id: `MR-${i}`, site: 'h1', modality: 'MR', vendor: 'Siemens', model: 'Avanto', installDate: '2019-05-01', location: { department: '放射科', floor: '1', room: '105' } }, 'api');
  }
  return { sql, registry };
}

/** The work-order side on an open database: service, outbox and consumer, on a clock the test moves. */
export function workOrderSide(
  sql: SqlDatabase,
  registry: DeviceRegistry,
  options: {
    clock?: { now: number };
    settings?: Partial<WorkOrderSettings>;
    outboxSettings?: Partial<AlertOutboxSettings>;
    outboxOptions?: SqlAlertOutboxOptions;
    wrapStore?: (store: WorkOrderStore) => WorkOrderStore;
    wrapOutbox?: (outbox: AlertOutbox) => AlertOutbox;
  } = {},
): Setup {
  const clock = options.clock ?? { now: T0 };
  const now = () => clock.now;
  const logger = silentLogger();
  const store = new SqlWorkOrderStore(sql.db);
  const service = new WorkOrderService({ store: options.wrapStore ? options.wrapStore(store) : store, registry, logger, now, settings: { cooldownMs: 6 * HOUR, ...options.settings } });
  const outbox = new SqlAlertOutbox(sql.db, sql.dialect, { now, ...options.outboxOptions });
  const consumer = new AlertOutboxConsumer({
    outbox: options.wrapOutbox ? options.wrapOutbox(outbox) : outbox,
    service,
    logger,
    now,
    settings: { retryMinMs: 10, retryMaxMs: 40, pollMs: 50, ...options.outboxSettings },
  });
  return { sql, registry, store, service, alerts: new AlertRepository(sql.db, now), outbox, consumer, clock };
}
