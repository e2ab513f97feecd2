import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { z } from 'zod';
import { RuleSet } from '../../rules/rule-set.js';
import type { ApiContext } from '../../src/api/context.js';
import { buildApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/app/log.js';
import { NotifyWorkOrderDesk } from '../../src/app/notify-desk.js';
import type { Role } from '../../src/auth/roles.js';
import { TokenService } from '../../src/auth/tokens.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import { createChannels } from '../../src/notify/channels/index.js';
import { Notifier } from '../../src/notify/notifier.js';
import { NotifyService } from '../../src/notify/service.js';
import { NotifySettingsSchema, type NotifySettings } from '../../src/notify/settings.js';
import { SilenceService } from '../../src/silences/silence-service.js';
import { DeadLetterRepository } from '../../src/storage/sql/dead-letter-repository.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { DeviceEventRepository } from '../../src/storage/sql/event-repository.js';
import { SqlNotificationStore } from '../../src/storage/sql/notification-repository.js';
import { SilenceRepository } from '../../src/storage/sql/silence-repository.js';
import { ApiTokenRepository } from '../../src/storage/sql/token-repository.js';
import { SqlWorkOrderStore } from '../../src/storage/sql/work-order-repository.js';
import { openSqliteTelemetryStore } from '../../src/storage/sqlite-telemetry-store.js';
import { WorkOrderService } from '../../src/workorders/service.js';
import type { WorkOrder } from '../../src/workorders/types.js';
import { tempDir } from '../helpers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

export const ADMIN = 'test-admin-token-0123456789';
export const LINK_SECRET = 'link-secret-for-tests-0123456789abcdef';
const PACKS = join(import.meta.dirname, '../../rules/packs');

/** A hospital in Yantai (Asia/Shanghai) and one in Munich (Europe/Berlin). */
const SITES = [
  { id: 'h1', name: '烟台市中心医院', timezone: 'Asia/Shanghai' },
  { id: 'h2', name: 'Klinikum München', timezone: 'Europe/Berlin' },
];
const DEVICES = [
  { id: 'MR-1', site: 'h1', modality: 'MR' as const, vendor: 'Siemens', model: 'MAGNETOM Skyra', location: { department: '放射科', floor: 'B1', room: 'MR-2' } },
  { id: 'CT-1', site: 'h1', modality: 'CT' as const, vendor: 'GE', model: 'Revolution' },
  { id: 'MR-2', site: 'h2', modality: 'MR' as const, vendor: 'Siemens', model: 'Vida' },
];

export type NotifyInput = z.input<typeof NotifySettingsSchema>;

/**
 * People and rosters of the API tests: at h1 (Asia/Shanghai) a daily primary rotation handing
 * over at 08:30 between 张伟 and 李娜, whose start date puts 张伟 on the shift that starts
 * 2026-12-01 08:30, and a supervisor rotation (王芳); at h2 (Europe/Berlin) a daily primary
 * rotation handing over at 09:00 between Hans and Greta. A manager (赵磊) is named by person.
 */
export function notifyInput(hooksUrl: string): NotifyInput {
  return {
    publicUrl: 'https://guardian.example-hospital.cn',
    linkSecret: LINK_SECRET,
    channels: {
      hooks: { type: 'webhook', url: `${hooksUrl}/hooks`, secret: 'webhook-secret-0123456789' },
      mail: { type: 'email', smtp: 'smtp://127.0.0.1:9', from: 'guardian@example.cn' },
    },
    people: {
      'zhang-wei': { name: '张伟', email: 'zhang.wei@example.cn', channels: ['hooks', 'mail'] },
      'li-na': { name: '李娜', channels: ['hooks'] },
      'wang-fang': { name: '王芳', channels: ['hooks'] },
      'zhao-lei': { name: '赵磊', channels: ['hooks'] },
      hans: { name: 'Hans Maier', channels: ['hooks'] },
      greta: { name: 'Greta Huber', channels: ['hooks'] },
    },
    rotations: [
      { id: 'east-primary', sites: ['h1'], zone: 'Asia/Shanghai', handover: '08:30', every: 'daily', start: '2026-12-01', members: ['zhang-wei', 'li-na'] },
      { id: 'east-supervisor', role: 'supervisor', sites: ['h1'], members: ['wang-fang'] },
      { id: 'munich-primary', sites: ['h2'], zone: 'Europe/Berlin', handover: '09:00', every: 'daily', start: '2026-12-01', members: ['hans', 'greta'] },
    ],
    escalation: {
      emergency: { steps: [{ after: '0m', to: ['primary'], channels: 'all' }, { after: '5m', to: ['secondary', 'supervisor'], channels: 'all' }, { after: '15m', to: ['zhao-lei'] }], repeat: { every: '15m', times: 4 } },
    },
  };
}

export interface NotifyApiFixture {
  readonly app: FastifyInstance;
  readonly sql: SqlDatabase;
  readonly registry: DeviceRegistry;
  readonly workOrders: WorkOrderService;
  readonly store: SqlNotificationStore;
  readonly notifier: Notifier;
  readonly service: NotifyService;
  readonly settings: NotifySettings;
  /** A token of each role (the hospital's limited to h1). */
  readonly tokens: Readonly<Record<Role, string>>;
  /** The clock every part reads; tests move it. */
  clock: number;
  /** A work order opened by hand (its notice is recorded with it). */
  open(deviceId: string, grade?: WorkOrder['grade'], title?: string): Promise<WorkOrder>;
  call(token: string | null, method: string, url: string, payload?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; text: string; body: Record<string, unknown> & { items?: Array<Record<string, unknown>> } }>;
  close(): Promise<void>;
}

/**
 * The API with pushes on real stores (SQLite, or PostgreSQL at `url`): the notify service over the
 * SQL notification store, the app's work-order desk, and the configured channels. The notifier is
 * not started: a test runs its rounds (`notifier.runOnce()`) when it wants messages sent.
 */
export async function notifyApiFixture(options: { url?: string; notify: NotifyInput; start: number }): Promise<NotifyApiFixture> {
  const dir = tempDir();
  const state = { clock: options.start };
  const now = () => state.clock;
  const sql = await openSqlDatabase({ ...(options.url && { url: options.url }), sqliteFile: join(dir.path, 'guardian.db') });
  await migrateToLatest(sql);
  const registry = await DeviceRegistry.open(new SqlDeviceStore(sql.db), now);
  for (const site of SITES) await registry.upsertSite(site);
  for (const device of DEVICES) await registry.upsert(device, 'api');
  const rules = new RuleSet(PACKS);
  if (!(await rules.load()).ok) throw new Error('the shipped rule packs do not load');
  const telemetry = await openSqliteTelemetryStore({ file: join(dir.path, 'telemetry.db') });
  const workOrderStore = new SqlWorkOrderStore(sql.db);
  const workOrders = new WorkOrderService({ store: workOrderStore, registry, logger: silentLogger(), now });
  const tokenService = new TokenService(new ApiTokenRepository(sql.db));
  const tokens = { admin: ADMIN } as Record<Role, string>;
  for (const [role, siteId] of [['supervisor'], ['engineer'], ['hospital', 'h1']] as const) {
    tokens[role] = (await tokenService.create({ name: `${role}-1`, role, ...(siteId && { siteId }) }, 'admin', now())).token;
  }
  const silences = await SilenceService.open(new SilenceRepository(sql.db), { now });

  const settings = NotifySettingsSchema.parse(options.notify);
  const logger = silentLogger();
  const store = new SqlNotificationStore(sql.db, sql.dialect, { now, consumer: 'api-test' });
  const desk = new NotifyWorkOrderDesk({ workOrders, registry, now });
  const channels = createChannels(settings.channels, { logger, language: settings.language });
  const notifier = new Notifier({
    settings,
    store,
    desk,
    channels,
    silences,
    siteZone: (site) => registry.getSite(site)?.timezone ?? 'Asia/Shanghai',
    linkSecret: LINK_SECRET,
    publicUrl: () => settings.publicUrl ?? 'http://127.0.0.1',
    logger,
    now,
    random: () => 0.5,
  });
  const service = new NotifyService({ settings, store, desk, notifier, channels, linkSecret: LINK_SECRET, now });

  const ctx: ApiContext = {
    registry,
    rules,
    alerts: { list: () => [], states: () => [] },
    workOrders,
    workOrderQuery: {
      page: (filter, page) => workOrderStore.page(filter, page),
      breaches: (filter, page) => workOrderStore.breachPage(filter, page),
      openOf: (ids) => workOrderStore.openOf(ids),
    },
    silenceQuery: new SilenceRepository(sql.db),
    tokens: tokenService,
    telemetry,
    deadLetters: new DeadLetterRepository(sql.db),
    events: new DeviceEventRepository(sql.db),
    silences,
    notify: service,
    metrics: new Registry(),
    readiness: [],
    adminToken: ADMIN,
    logger,
    now,
    version: 'test',
  };
  const app = await buildApiServer(ctx);
  await app.ready();
  let n = 0;
  const fixture: NotifyApiFixture = {
    app,
    sql,
    registry,
    workOrders,
    store,
    notifier,
    service,
    settings,
    tokens,
    get clock() {
      return state.clock;
    },
    set clock(value: number) {
      state.clock = value;
    },
    open(deviceId, grade = 'emergency', title) {
      n += 1;
      return workOrders.create(
        { deviceId, channel: 'hotline', grade, title: title ?? `液氦液位低 ${n} / helium level low ${n}`, phenomenon: '液氦液位低于 40% / helium below 40 %', reporter: { name: '设备科' } },
        'hotline',
      );
    },
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
        body = {};
      }
      return { status: response.statusCode, headers: response.headers, text, body };
    },
    async close() {
      await app.close();
      await notifier.stop();
      await telemetry.close();
      await sql.close();
      dir.remove();
    },
  };
  return fixture;
}

/** The SQL databases the suites run on: SQLite always, PostgreSQL (a schema of its own per fixture) when GUARDIAN_TEST_DATABASE_URL names one. */
export const SQL_TARGETS: ReadonlyArray<{ readonly name: string; target(): Target }> = [
  { name: 'SQLite', target: sqliteTarget },
  ...(process.env.GUARDIAN_TEST_DATABASE_URL ? [{ name: 'PostgreSQL', target: () => postgresTarget(process.env.GUARDIAN_TEST_DATABASE_URL!) }] : []),
];
