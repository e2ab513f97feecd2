import type { ColumnType, Generated } from 'kysely';
import type { WorkOrderTables } from './work-order-schema.js';

/** Times are epoch milliseconds (BIGINT on PostgreSQL) so both engines compare them alike. */
type Millis = ColumnType<number, number, number>;

export interface SitesTable {
  id: string;
  name: string;
  name_en: string | null;
  timezone: string;
  created_at: Millis;
}

export interface DevicesTable {
  id: string;
  site: string;
  modality: string;
  vendor: string;
  model: string;
  serial: string | null;
  install_date: string | null;
  name: string | null;
  department: string | null;
  floor: string | null;
  room: string | null;
  /** How the device was registered: fleet | api | auto. */
  source: string;
  created_at: Millis;
  updated_at: Millis;
  status: string | null;
  status_ts: Millis | null;
  last_seen_ts: Millis | null;
  /** JSON array of metric names outside the modality's catalogue that were stored flagged. */
  unknown_metrics: string | null;
}

export interface DeadLettersTable {
  id: Generated<number>;
  received_at: Millis;
  reason: string;
  detail: string;
  topic: string;
  site: string | null;
  device_id: string | null;
  payload: string;
  payload_bytes: number;
}

export interface DeviceEventsTable {
  id: Generated<number>;
  device_id: string;
  ts: Millis;
  code: string;
  message: string | null;
  data: string | null;
  received_at: Millis;
}

export interface AlertsTable {
  device_id: string;
  rule_id: string;
  pack: string;
  state: string;
  grade: string | null;
  last_value: number | null;
  /** The lifecycle record as JSON (rules/lifecycle.ts): what a restart resumes from. */
  record: string;
  /** Engine state beside the record (threshold grade, N-of-M window) as JSON. */
  condition: string;
  message_zh: string;
  message_en: string;
  updated_at: Millis;
  /** The alert's last change (AlertChange as JSON), written with it: what reconciliation rebuilds a lost change from. */
  last_change: string | null;
}

/**
 * Changes of alerts for the features that act on them (work orders), written in the alert's
 * transaction and drained in order per identity.
 */
export interface AlertOutboxTable {
  id: Generated<number>;
  /** `${device_id}/${rule_id}` */
  identity: string;
  device_id: string;
  site_id: string;
  rule_id: string;
  /** The AlertChange as JSON. */
  change: string;
  /** engine | reconcile */
  origin: string;
  /** The change's own id (AlertChange.id), unique; null for changes written before it existed. */
  change_id: string | null;
  created_at: Millis;
  /** Not handed out before this (retry back-off). */
  available_at: Millis;
  claimed_by: string | null;
  claimed_until: Millis | null;
  consumed_at: Millis | null;
  /** Times it was claimed. */
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
}

/** A silence (maintenance window); src/silences/schedule.ts has the format. */
export interface SilencesTable {
  id: string;
  site_id: string | null;
  device_id: string | null;
  /** JSON array of rule ids; empty: every rule of the scope. */
  rule_ids: string;
  author: string;
  reason: string;
  timezone: string;
  /** One-off window [starts_at, ends_at); null for a recurring schedule. */
  starts_at: Millis | null;
  ends_at: Millis | null;
  /** Recurring schedule as JSON; null for a one-off window. */
  schedule: string | null;
  created_at: Millis;
  updated_at: Millis;
  /** Set when expired by hand; the row is kept. */
  expired_at: Millis | null;
}

/** Counters that start at 0 on insert. */
type Counter = ColumnType<number, number | undefined, number>;

/** The notice outbox: what people are told of, written with the work-order change that causes it. */
export interface NoticesTable {
  id: Generated<number>;
  work_order_id: number;
  /** The timeline entry (work_order_events.id) the notice was recorded with. */
  event_id: number;
  /** opened | escalated | reopened | recovered | resolved (kernel/notices.ts) */
  kind: string;
  /** The work order's grade after the change. */
  grade: string;
  created_at: Millis;
  /** Not handed out before this (retry back-off). */
  available_at: Millis;
  /** Times it was claimed. */
  attempts: Counter;
  claimed_by: string | null;
  claimed_until: Millis | null;
  last_error: string | null;
  /** Planned into deliveries. */
  done_at: Millis | null;
}

/** One message to one person on one channel (notify/store.ts: Delivery). */
export interface NotifyDeliveriesTable {
  id: Generated<number>;
  /** Stable id of the notification to this recipient on this channel (X-Guardian-Delivery), unique. */
  delivery_id: string;
  work_order_id: number | null;
  notice_id: number | null;
  /** A notice kind, digest or test. */
  event: string;
  level: number;
  person: string;
  channel: string;
  due_at: Millis;
  /** 0 or 1: waits for the person's morning digest. */
  digest: ColumnType<number, number | undefined, number>;
  /** 0 or 1: its first success starts the acknowledge clock. */
  responsible: ColumnType<number, number | undefined, number>;
  /** pending | sent | failed | cancelled | folded */
  status: string;
  /** Attempts to send (holds and folds not counted). */
  attempts: Counter;
  created_at: Millis;
  updated_at: Millis;
  sent_at: Millis | null;
  last_error: string | null;
  /** The delivery id of the digest it went out in. */
  folded_into: string | null;
  claimed_by: string | null;
  claimed_until: Millis | null;
}

/** The delivery log: one row per attempt. */
export interface NotifyAttemptsTable {
  id: Generated<number>;
  /** notify_deliveries.id */
  delivery: number;
  at: Millis;
  /** sent | retry | failed | held | folded | cancelled */
  outcome: string;
  /** HTTP status or SMTP reply code. */
  status: number | null;
  error: string | null;
  duration_ms: number | null;
  /** The engine process (consumer name) that made it. */
  by: string;
}

/** An escalation step waiting for its time: calls `level` of the chain unless acknowledged first. */
export interface NotifyEscalationsTable {
  id: Generated<number>;
  work_order_id: number;
  notice_id: number;
  level: number;
  due_at: Millis;
  /** pending | done | cancelled */
  status: string;
  claimed_by: string | null;
  claimed_until: Millis | null;
}

/** An on-call override made through the API (notify/roster-schema.ts has its meaning). */
export interface OncallOverridesTable {
  id: string;
  rotation: string;
  /** swap | leave | holiday */
  kind: string;
  from_ts: Millis;
  until_ts: Millis;
  replaces: string | null;
  replacement: string;
  reason: string | null;
  created_at: Millis;
  created_by: string;
}

/** Acknowledge links that were used (each works once). */
export interface NotifyLinkUsesTable {
  link_id: string;
  work_order_id: number;
  person: string;
  used_at: Millis;
}

export interface NotifyTables {
  notices: NoticesTable;
  notify_deliveries: NotifyDeliveriesTable;
  notify_attempts: NotifyAttemptsTable;
  notify_escalations: NotifyEscalationsTable;
  oncall_overrides: OncallOverridesTable;
  notify_link_uses: NotifyLinkUsesTable;
}

export interface Database extends WorkOrderTables, NotifyTables {
  alerts: AlertsTable;
  alert_outbox: AlertOutboxTable;
  sites: SitesTable;
  devices: DevicesTable;
  dead_letters: DeadLettersTable;
  device_events: DeviceEventsTable;
  silences: SilencesTable;
}
