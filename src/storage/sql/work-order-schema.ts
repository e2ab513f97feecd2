import type { ColumnType, Generated } from 'kysely';

type Millis = ColumnType<number, number, number>;

/** A service work order (工单). Times are epoch ms; who did each step is kept beside its time. */
export interface WorkOrdersTable {
  id: Generated<number>;
  /** Readable number, WO-YYYYMM-NNNN, unique. */
  number: string;
  /** Fault identity (device + rule + fault code) of automatic work orders; null for manual ones. */
  identity: string | null;
  /** corrective | planned */
  kind: string;
  /** auto | hotline | web | app | sms | email */
  channel: string;
  status: string;
  grade: string;
  site_id: string;
  device_id: string;
  /** Device description when the work order opened (brand, model, install date, type, location) as JSON. */
  device: string;
  fault_type: string;
  title: string;
  phenomenon: string;
  /** JSON array of alarm / fault codes. */
  alarm_codes: string;
  rule_id: string | null;
  reporter_name: string | null;
  reporter_phone: string | null;
  reporter_department: string | null;
  fault_at: Millis;
  reported_at: Millis;
  reported_by: string;
  notified_at: Millis | null;
  acknowledged_at: Millis | null;
  acknowledged_by: string | null;
  responded_at: Millis | null;
  responded_by: string | null;
  /** remote | on_site */
  response_mode: string | null;
  started_at: Millis | null;
  started_by: string | null;
  resolved_at: Millis | null;
  resolved_by: string | null;
  resolution: string | null;
  closed_at: Millis | null;
  closed_by: string | null;
  satisfaction: number | null;
  satisfaction_comment: string | null;
  cancelled_at: Millis | null;
  cancelled_by: string | null;
  assignee: string | null;
  assigned_at: Millis | null;
  handover_confirmed_at: Millis | null;
  last_progress_at: Millis | null;
  feedback_at: Millis | null;
  /** Planned work orders: due before the forecast crossing. */
  planned_due_at: Millis | null;
  /** Latest state of the alert behind it (firing, resolved, …). */
  alert_state: string | null;
  /** Set when the alert resolved: a person is asked to resolve the work order. */
  resolution_suggested_at: Millis | null;
  created_at: Millis;
  updated_at: Millis;
  /** Bumped on every change, for optimistic concurrency. */
  version: number;
}

/** The timeline and audit trail of a work order: every change, who, when, from, to, note. */
export interface WorkOrderEventsTable {
  id: Generated<number>;
  work_order_id: number;
  ts: Millis;
  actor: string;
  kind: string;
  from_state: string | null;
  to_state: string | null;
  note: string | null;
  /** JSON details (alert grade and value, clock name, assignee). */
  data: string | null;
  /** Alert notes: the change and transition they record (unique), so a change handled twice is recorded once. */
  dedup_key: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A response-time clock that was breached, once per clock and due time, for escalation and reports. */
export interface WorkOrderBreachesTable {
  work_order_id: number;
  clock: string;
  due_at: Millis;
  detected_at: Millis;
  grade: string;
  site_id: string;
}

/** Last number used per month, so numbers stay gap-free and unique across engine processes. */
export interface WorkOrderSequencesTable {
  month: string;
  last: number;
}

/** API tokens with their role (the admin token of the configuration is not stored here). */
export interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  role: string;
  /** hospital viewers: the one site they see. */
  site_id: string | null;
  /** sha256 of the token, hex. */
  digest: string;
  created_at: Millis;
  created_by: string;
  revoked_at: Millis | null;
}

export interface WorkOrderTables {
  work_orders: WorkOrdersTable;
  work_order_events: WorkOrderEventsTable;
  work_order_breaches: WorkOrderBreachesTable;
  work_order_sequences: WorkOrderSequencesTable;
  api_tokens: ApiTokensTable;
}
