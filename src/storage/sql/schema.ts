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

export interface Database extends WorkOrderTables {
  alerts: AlertsTable;
  alert_outbox: AlertOutboxTable;
  sites: SitesTable;
  devices: DevicesTable;
  dead_letters: DeadLettersTable;
  device_events: DeviceEventsTable;
  silences: SilencesTable;
}
