import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { EngineAlert } from '../../rules/engine.js';
import type { PackError } from '../../rules/pack-loader.js';
import type { Rule, RulePack } from '../../rules/pack-schema.js';
import type { ApiTokens } from '../auth/tokens.js';
import type { AuditEntry, AuditFilter, StoredAuditEntry } from '../kernel/ports/audit-store.js';
import type { DeviceInput, RegisteredDevice, RegistrationSource, Site, SiteSchema } from '../kernel/device.js';
import type { DeadLetterStore } from '../kernel/ports/dead-letter-store.js';
import type { DeviceDirectory } from '../kernel/ports/device-directory.js';
import type { DeviceEventStore } from '../kernel/ports/device-event-store.js';
import type { TelemetryStore } from '../kernel/ports/telemetry-store.js';
import type { NotifyService } from '../notify/service.js';
import type { Silence, SilenceSpec } from '../silences/schedule.js';
import type { ClockStatus } from '../workorders/clocks.js';
import type { ManualWorkOrderInput, TransitionInput } from '../workorders/service.js';
import type { Breach, WorkOrder, WorkOrderEvent, WorkOrderFilter } from '../workorders/types.js';

/*
 * The ports the API plugins stand on: each says what the API needs of a part, no more. The
 * concrete classes (registry, rule set and engine, SQL repositories, services) are wired to them
 * in src/app/guardian.ts only.
 */

/** A dependency /readyz checks: the broker connection, each store. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void> | void;
}

export interface Page {
  readonly limit: number;
  readonly offset: number;
}

export interface Paged<T> {
  readonly items: T[];
  /** Every match, not just the page. */
  readonly total: number;
}

type SiteInput = z.input<typeof SiteSchema>;

/** The fleet as the API shows and changes it: the devices' directory and its writes. */
export interface DeviceAdmin extends DeviceDirectory {
  /** Registers a new device; an id in use is refused with DeviceConflictError, an unknown site with UnknownSiteError. */
  create(input: DeviceInput, source: RegistrationSource): Promise<RegisteredDevice>;
  /** Changes a device's description; a new site or modality is refused with DeviceConflictError. */
  update(id: string, patch: Partial<DeviceInput>): Promise<RegisteredDevice>;
  upsertSite(input: SiteInput): Promise<Site>;
  updateSite(id: string, patch: Partial<SiteInput>): Promise<Site>;
}

/** The rule packs in force, and reloading them. */
export interface RuleCatalogue {
  readonly dir: string;
  readonly loadedAtMs: number;
  list(): readonly RulePack[];
  /** The rules that apply to a device after model and device overrides. */
  forDevice(device: { id: string; modality: string; model: string }): readonly Rule[];
  /** Reloads the packs; a bad pack is refused and the running rules stay. */
  load(now: number): Promise<{ ok: true; packs: number; rules: number } | { ok: false; errors: PackError[] }>;
}

/** The rule engine's alerts, one per device and rule, as it holds them in memory now. */
export interface AlertQuery {
  /** Alerts with their messages rendered from the latest figures (what `/api/alerts` shows). */
  list(): readonly EngineAlert[];
  /** Alerts as held, messages not rendered: for summaries that need states and grades only. */
  states(): readonly EngineAlert[];
}

/** Changing silences (maintenance windows); the silences feature keeps the engine's index in step. */
export interface SilenceDesk {
  /** The longest silence people may set (`silences.maxDuration`): longer ones are refused with a 400. */
  readonly maxDurationMs: number;
  /** The silence as this engine holds it (what a change starts from). */
  get(id: string): Silence | undefined;
  /** Refused with SilenceConflictError when the id is taken. */
  create(spec: SilenceSpec, options?: { id?: string }): Promise<Silence>;
  /** Undefined when there is none; an expired one is refused with SilenceConflictError. */
  update(id: string, spec: SilenceSpec): Promise<Silence | undefined>;
  expire(id: string): Promise<Silence | undefined>;
}

/** Which silences a list covers: those of a site (its own and its devices'), of a device (its own and its site's). */
export interface SilenceScope {
  readonly site?: string;
  readonly device?: { readonly id: string; readonly site?: string };
}

/**
 * Reading silences where they are kept (SQL), so a list answers what every engine wrote. Whether
 * a recurring silence is over needs its schedule, so the query splits them: `unfinished` are those
 * SQL cannot tell are over, `finished` the history, paged in SQL.
 */
export interface SilenceQuery {
  get(id: string): Promise<Silence | undefined>;
  /** Silences in scope not expired by hand at `now` and not a one-off window ended by `now`. */
  unfinished(scope: SilenceScope, now: number): Promise<Silence[]>;
  /**
   * Silences in scope that are over — expired by hand, a one-off window ended, or one of `overIds`
   * (recurring ones found over) — newest end first (the expiry, else the last change).
   */
  finished(scope: SilenceScope, now: number, overIds: readonly string[], page: Page): Promise<Paged<Silence>>;
}

/** What people do with work orders: the work-order service. */
export interface WorkOrderDesk {
  /** By id or readable number; WorkOrderError (404) when there is none. */
  get(idOrNumber: string): Promise<WorkOrder>;
  create(input: ManualWorkOrderInput, actor: string): Promise<WorkOrder>;
  transition(idOrNumber: string, input: TransitionInput, actor: string): Promise<WorkOrder>;
  assign(idOrNumber: string, assignee: string, actor: string, note?: string): Promise<WorkOrder>;
  comment(idOrNumber: string, actor: string, note: string, options?: { feedback?: boolean }): Promise<WorkOrder>;
  timeline(id: number): Promise<WorkOrderEvent[]>;
  /** The response-time clocks at `now` (they follow the site's calendar, so they are computed, not stored). */
  clocks(workOrder: WorkOrder, now?: number): ClockStatus[];
  /** Every match, unpaged: only for filters SQL cannot apply (overdue, which needs the clocks). */
  list(filter: WorkOrderFilter): Promise<WorkOrder[]>;
}

/** Work-order lists read where they are kept (SQL), filtered and paged there. */
export interface WorkOrderQuery {
  /** Newest report first. */
  page(filter: WorkOrderFilter, page: Page): Promise<Paged<WorkOrder>>;
  /** Breached clocks (escalations), oldest due first, with the work order's number. */
  breaches(filter: { site?: string; from?: number; to?: number }, page: Page): Promise<Paged<Breach & { number?: string }>>;
  /** The open work orders (every status before resolved) of these devices, in one query (a page of the device list). */
  openOf(deviceIds: readonly string[]): Promise<Array<Pick<WorkOrder, 'id' | 'number' | 'deviceId' | 'status' | 'grade' | 'kind'>>>;
}

/** The HTTP server's own settings (`http.*`); defaults when absent. */
export interface ApiHttpSettings {
  /** Which proxies' X-Forwarded-For gives the client's address (Fastify's `trustProxy`). */
  readonly trustProxy?: boolean | readonly string[];
  /** The brake on guessing tokens: failures per address and window before 429. */
  readonly authFailureLimit?: number;
  readonly authFailureWindowMs?: number;
}

/** The audit trail (`src/audit/trail.ts`): the audit plugin records every change and refusal, admins read it. */
export interface AuditLog {
  /** Queues an entry; never throws or waits. */
  record(entry: AuditEntry): void;
  /** Newest first, with what this engine has queued. */
  list(filter: AuditFilter): Promise<Paged<StoredAuditEntry>>;
}

/** Devices' MQTT credentials (the devices feature's credential service). */
export interface DeviceCredentialDesk {
  issue(deviceId: string, by: string): Promise<{ deviceId: string; username: string; password: string; secretHash: string; createdAt: number; rotated: boolean }>;
  revoke(deviceId: string): Promise<boolean>;
  get(deviceId: string): Promise<{ deviceId: string; username: string; createdAt: number; createdBy: string; revokedAt?: number } | undefined>;
}

/** Pushes as people see them: the notify feature's service. */
export type NotifyDesk = Pick<
  NotifyService,
  'enabled' | 'people' | 'channelIds' | 'onCall' | 'overrides' | 'addOverride' | 'removeOverride' | 'deliveries' | 'checkLink' | 'acknowledgeByLink' | 'test'
>;

/** What the API plugins need; the server composes them with it. */
export interface ApiContext {
  readonly http?: ApiHttpSettings;
  readonly registry: DeviceAdmin;
  readonly rules: RuleCatalogue;
  readonly alerts: AlertQuery;
  readonly telemetry: Pick<TelemetryStore, 'latest' | 'metrics' | 'raw' | 'aggregate'>;
  readonly deadLetters: Pick<DeadLetterStore, 'list' | 'countByReason'>;
  readonly events: Pick<DeviceEventStore, 'list'>;
  /** Silences (maintenance windows): changes through the service, reads from the store. */
  readonly silences: SilenceDesk;
  readonly silenceQuery: SilenceQuery;
  readonly workOrders: WorkOrderDesk;
  readonly workOrderQuery: WorkOrderQuery;
  /** API tokens with roles, beside the admin token. */
  readonly tokens: ApiTokens;
  /** Devices' MQTT credentials; the engine always gives them (absent in tests of other areas). */
  readonly deviceCredentials?: DeviceCredentialDesk;
  /** Pushes: on call, overrides, the delivery log, acknowledge links; the engine always gives it (absent in tests of other areas). */
  readonly notify?: NotifyDesk;
  /** Where requests are recorded; the engine always gives one (absent in tests of other areas). */
  readonly audit?: AuditLog;
  readonly metrics: Registry;
  readonly readiness: readonly ReadinessCheck[];
  /** Bearer tokens accepted with full rights. */
  readonly adminToken: string;
  readonly logger: Logger;
  readonly now: () => number;
  readonly version: string;
}
