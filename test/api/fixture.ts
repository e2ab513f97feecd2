import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { RuleSet } from '../../rules/rule-set.js';
import type { EngineAlert } from '../../rules/engine.js';
import type { ApiContext, ApiHttpSettings, WorkOrderQuery } from '../../src/api/context.js';
import { buildApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/app/log.js';
import { TokenService } from '../../src/auth/tokens.js';
import type { Role } from '../../src/auth/roles.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import type { Grade } from '../../src/kernel/grades.js';
import type { AlertState } from '../../src/kernel/alerts.js';
import { SilenceService } from '../../src/silences/silence-service.js';
import { DeadLetterRepository } from '../../src/storage/sql/dead-letter-repository.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { DeviceEventRepository } from '../../src/storage/sql/event-repository.js';
import { SilenceRepository } from '../../src/storage/sql/silence-repository.js';
import { ApiTokenRepository } from '../../src/storage/sql/token-repository.js';
import { SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';
import { openSqliteTelemetryStore, type SqliteTelemetryStore } from '../../src/storage/sqlite-telemetry-store.js';
import { WorkOrderService } from '../../src/workorders/service.js';
import { tempDir } from '../helpers.js';

export const ADMIN = 'test-admin-token-0123456789';
const PACKS = join(import.meta.dirname, '../../rules/packs');

/** Two hospitals, an MR and a CT at the first, an MR at the second. */
const SITES = [
  { id: 'h1', name: '第一医院' },
  { id: 'h2', name: '第二医院' },
];
const DEVICES = [
  { id: 'MR-1', site: 'h1', modality: 'MR' as const, vendor: 'Siemens', model: 'Avanto' },
  { id: 'CT-1', site: 'h1', modality: 'CT' as const, vendor: 'GE', model: 'Revolution' },
  { id: 'MR-2', site: 'h2', modality: 'MR' as const, vendor: 'Siemens', model: 'Vida' },
];

export interface ApiFixture {
  readonly app: FastifyInstance;
  readonly sql: SqlDatabase;
  readonly registry: DeviceRegistry;
  readonly workOrders: WorkOrderService;
  readonly metrics: Registry;
  /** The alerts the engine would hold: set them as a test needs. */
  alerts: EngineAlert[];
  /** How often the API asked for open work orders (one query per call). */
  openOfCalls: number;
  /** How often the API asked for alerts with their messages rendered (`list`, not `states`). */
  renderedListCalls: number;
  /** A token of each role (the hospital's limited to h1). */
  readonly tokens: Readonly<Record<Role, string>>;
  call(token: string | null, method: string, url: string, payload?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> & { items?: Array<Record<string, unknown>> } }>;
  close(): Promise<void>;
}

/**
 * The API on real stores (SQLite, or PostgreSQL at `url`) with a small fleet, built without the
 * broker and the rule engine: the engine's alerts are whatever the test sets.
 */
export async function apiFixture(options: { url?: string; http?: ApiHttpSettings; logger?: Logger; now?: () => number } = {}): Promise<ApiFixture> {
  const dir = tempDir();
  const now = options.now ?? Date.now;
  const sql = await openSqlDatabase({ ...(options.url && { url: options.url }), sqliteFile: join(dir.path, 'guardian.db') });
  await migrateToLatest(sql);
  const registry = await DeviceRegistry.open(new SqlDeviceStore(sql.db), now);
  for (const site of SITES) await registry.upsertSite(site);
  for (const device of DEVICES) await registry.upsert(device, 'api');
  const rules = new RuleSet(PACKS);
  if (!(await rules.load()).ok) throw new Error('the shipped rule packs do not load');
  const telemetry: SqliteTelemetryStore = await openSqliteTelemetryStore({ file: join(dir.path, 'telemetry.db') });
  const store = new SqlWorkOrderStore(sql.db);
  const workOrders = new WorkOrderService({ store, registry, logger: silentLogger(), now });
  const tokenService = new TokenService(new ApiTokenRepository(sql.db));
  const tokens = { admin: ADMIN } as Record<Role, string>;
  for (const [role, siteId] of [['supervisor'], ['engineer'], ['hospital', 'h1']] as const) {
    tokens[role] = (await tokenService.create({ name: `${role}-1`, role, ...(siteId && { siteId }) }, 'admin', now())).token;
  }
  const silences = await SilenceService.open(new SilenceRepository(sql.db), { now });
  const metrics = new Registry();
  const workOrderQuery: WorkOrderQuery = {
    page: (filter, page) => store.page(filter, page),
    breaches: (filter, page) => store.breachPage(filter, page),
    openOf: (ids) => {
      fixture.openOfCalls++;
      return store.openOf(ids);
    },
  };
  const ctx: ApiContext = {
    ...(options.http && { http: options.http }),
    registry,
    rules,
    alerts: {
      list: () => {
        fixture.renderedListCalls++;
        return fixture.alerts;
      },
      states: () => fixture.alerts,
    },
    workOrders,
    workOrderQuery,
    silenceQuery: new SilenceRepository(sql.db),
    tokens: tokenService,
    telemetry,
    deadLetters: new DeadLetterRepository(sql.db),
    events: new DeviceEventRepository(sql.db),
    silences,
    metrics,
    readiness: [],
    adminToken: ADMIN,
    logger: options.logger ?? silentLogger(),
    now,
    version: 'test',
  };
  const app = await buildApiServer(ctx);
  await app.ready();
  const fixture: ApiFixture = {
    app,
    sql,
    registry,
    workOrders,
    metrics,
    alerts: [],
    openOfCalls: 0,
    renderedListCalls: 0,
    tokens,
    async call(token, method, url, payload, headers = {}) {
      const response = await app.inject({
        method: method as 'GET',
        url,
        headers: { ...(token !== null && { authorization: `Bearer ${token}` }), ...headers },
        ...(payload !== undefined && { payload: payload as Record<string, unknown> }),
      });
      const text = response.body;
      let body: Record<string, unknown> = {};
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        body = { text };
      }
      return { status: response.statusCode, headers: response.headers, body };
    },
    async close() {
      await app.close();
      await telemetry.close();
      await sql.close();
      dir.remove();
    },
  };
  return fixture;
}

/** An alert as the engine holds it, for the tests that set the engine's alerts. */
export function engineAlert(deviceId: string, ruleId: string, state: AlertState, grade?: Grade, forecast?: { crossingAt: number }): EngineAlert {
  const ts = Date.now();
  return {
    deviceId,
    ruleId,
    pack: 'test',
    record: { state, ...(grade && { grade }), triggerCount: 1, flapping: false, recentChanges: [], ...(state !== 'normal' && { activeAt: ts, firedAt: ts }) },
    condition: { ...(grade && { grade }), window: [], ...(forecast && { forecast: { crossingAt: forecast.crossingAt, earliest: forecast.crossingAt - 86_400_000, latest: forecast.crossingAt + 86_400_000, slopePerDay: -0.5, points: 100 } }) },
    message: { zh: '测试', en: 'test' },
    updatedAt: ts,
  };
}
