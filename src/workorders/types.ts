/**
 * A service work order (工单) with the tender's fields (design §4), and the port its storage
 * implements. Times are epoch ms; JSON views turn them into ISO-8601.
 */
import { z } from 'zod';
import type { Grade } from '../kernel/grades.js';
import type { NoticeKind } from '../kernel/notices.js';
import type { FaultType } from './clocks.js';
import type { WorkOrderState } from './state-machine.js';

export const CHANNELS = ['auto', 'hotline', 'web', 'app', 'sms', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];

export const CHANNEL_LABELS: Readonly<Record<Channel, { zh: string; en: string }>> = {
  auto: { zh: '远程监测自动报警', en: 'automatic (remote monitoring)' },
  hotline: { zh: '服务热线', en: 'hotline' },
  web: { zh: '网页报修', en: 'web' },
  app: { zh: '手机APP', en: 'app' },
  sms: { zh: '短信', en: 'SMS' },
  email: { zh: '邮件', en: 'e-mail' },
};

export const WORK_ORDER_KINDS = ['corrective', 'planned'] as const;
export type WorkOrderKind = (typeof WORK_ORDER_KINDS)[number];

export const RESPONSE_MODES = ['remote', 'on_site'] as const;
export type ResponseMode = (typeof RESPONSE_MODES)[number];

export interface DeviceSnapshot {
  readonly modality: string;
  readonly vendor: string;
  readonly model: string;
  readonly serial?: string;
  readonly installDate?: string;
  readonly name?: string;
  readonly location?: { readonly department?: string; readonly floor?: string; readonly room?: string };
}

export interface Reporter {
  readonly name: string;
  readonly phone?: string;
  readonly department?: string;
}

export interface WorkOrder {
  readonly id: number;
  readonly number: string;
  readonly identity?: string;
  readonly kind: WorkOrderKind;
  readonly channel: Channel;
  readonly status: WorkOrderState;
  readonly grade: Grade;
  readonly siteId: string;
  readonly deviceId: string;
  readonly device: DeviceSnapshot;
  readonly faultType: FaultType;
  readonly title: string;
  readonly phenomenon: string;
  readonly alarmCodes: readonly string[];
  readonly ruleId?: string;
  readonly reporter?: Reporter;
  readonly faultAt: number;
  readonly reportedAt: number;
  readonly reportedBy: string;
  readonly notifiedAt?: number;
  readonly acknowledgedAt?: number;
  readonly acknowledgedBy?: string;
  readonly respondedAt?: number;
  readonly respondedBy?: string;
  readonly responseMode?: ResponseMode;
  readonly startedAt?: number;
  readonly startedBy?: string;
  readonly resolvedAt?: number;
  readonly resolvedBy?: string;
  readonly resolution?: string;
  readonly closedAt?: number;
  readonly closedBy?: string;
  readonly satisfaction?: number;
  readonly satisfactionComment?: string;
  readonly cancelledAt?: number;
  readonly cancelledBy?: string;
  readonly assignee?: string;
  readonly assignedAt?: number;
  readonly handoverConfirmedAt?: number;
  readonly lastProgressAt?: number;
  readonly feedbackAt?: number;
  readonly plannedDueAt?: number;
  readonly alertState?: string;
  readonly resolutionSuggestedAt?: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly version: number;
}

/** One entry of the timeline (the audit trail). */
export interface WorkOrderEvent {
  readonly id: number;
  readonly workOrderId: number;
  readonly ts: number;
  readonly actor: string;
  /** created, transition, comment, assigned, alert_refired, alert_escalated, alert_resolved, suppressed_refire, clock_breached */
  readonly kind: string;
  readonly from?: WorkOrderState;
  readonly to?: WorkOrderState;
  readonly note?: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

export type NewWorkOrder = Omit<WorkOrder, 'id' | 'number' | 'version' | 'createdAt' | 'updatedAt' | 'status'> & { readonly status?: WorkOrderState };
export type NewEvent = Omit<WorkOrderEvent, 'id' | 'workOrderId'> & {
  /**
   * Alert notes: the change and transition the entry records. Unique across timelines: recording
   * the same key again fails with `DuplicateEventError`, and with it the change it came with.
   */
  readonly key?: string;
  /**
   * People are told of this entry: the store records a notice of this kind in the notice outbox
   * in the same transaction as the entry (and the change it comes with), for the notify feature.
   */
  readonly notice?: NoticeKind;
};
/** Fields a change may set; `undefined` leaves a field as it is, `null` clears it. */
export type WorkOrderPatch = { readonly [K in keyof Omit<WorkOrder, 'id' | 'number' | 'identity' | 'createdAt' | 'version'>]?: WorkOrder[K] | null };

export interface WorkOrderFilter {
  readonly site?: string;
  readonly device?: string;
  readonly status?: readonly WorkOrderState[];
  readonly grade?: Grade;
  readonly kind?: WorkOrderKind;
  readonly identity?: string;
}

export interface Breach {
  readonly workOrderId: number;
  readonly clock: string;
  readonly dueAt: number;
  readonly detectedAt: number;
  readonly grade: Grade;
  readonly siteId: string;
}

/** Another writer changed the work order first; reload and try again. */
export class WorkOrderConflictError extends Error {
  constructor(id: number) {
    super(`work order ${id} was changed concurrently`);
    this.name = 'WorkOrderConflictError';
  }
}

/** A timeline entry with this key is recorded already: the change it came with was applied before. */
export class DuplicateEventError extends Error {
  constructor(readonly key: string | undefined) {
    super(`timeline entry ${key ?? ''} is recorded already`);
    this.name = 'DuplicateEventError';
  }
}

/** Storage port for work orders; adapters: SQL (SQLite, PostgreSQL). */
export interface WorkOrderStore {
  /**
   * Opens a work order for a fault identity unless one is open already — atomically, so two
   * engine processes racing on the same fault open one between them. Returns which happened.
   */
  openForIdentity(input: NewWorkOrder & { readonly identity: string }, event: NewEvent, timeZone: string): Promise<{ readonly created: boolean; readonly workOrder: WorkOrder }>;
  /** Opens a work order without an identity (manual channels). */
  create(input: NewWorkOrder, event: NewEvent, timeZone: string): Promise<WorkOrder>;
  get(idOrNumber: string | number): Promise<WorkOrder | undefined>;
  list(filter: WorkOrderFilter): Promise<WorkOrder[]>;
  /** The newest work order of a fault identity, whatever its state. */
  latestForIdentity(identity: string): Promise<WorkOrder | undefined>;
  /**
   * Applies a change if nobody changed the work order since `version`; throws WorkOrderConflictError
   * otherwise, and DuplicateEventError (applying nothing) when an event's key is recorded already.
   */
  update(id: number, version: number, patch: WorkOrderPatch, events: readonly NewEvent[]): Promise<WorkOrder>;
  /** Throws DuplicateEventError, recording nothing, when an event's key is recorded already. */
  addEvents(id: number, events: readonly NewEvent[]): Promise<void>;
  /** Whether a timeline entry with this key is recorded (on any work order). */
  hasEvent(key: string): Promise<boolean>;
  timeline(id: number): Promise<WorkOrderEvent[]>;
  /** Records a breach once; true when it was new. */
  recordBreach(breach: Breach): Promise<boolean>;
  breaches(filter: { readonly workOrderId?: number; readonly site?: string; readonly from?: number; readonly to?: number }): Promise<Breach[]>;
}

export const SatisfactionSchema = z.int().min(1, 'satisfaction is 1 (poor) to 5 (excellent)').max(5, 'satisfaction is 1 (poor) to 5 (excellent)');
