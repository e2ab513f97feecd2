/**
 * Pushes, composed: the SQL notification store, the channels of `notify.channels`, the notifier
 * (started with the engine, stopped before the database closes), its service for the API, its
 * metrics, and the kick that sends a notice as soon as this engine records it.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { GuardianConfig } from '../config/schema.js';
import type { DeviceDirectory } from '../kernel/ports/device-directory.js';
import type { SilenceLookup } from '../kernel/ports/silence-lookup.js';
import { readOrCreateSecretFile } from '../kernel/private-files.js';
import { createChannels } from '../notify/channels/index.js';
import { registerNotifyMetrics } from '../notify/metrics.js';
import { Notifier } from '../notify/notifier.js';
import { NotifyService } from '../notify/service.js';
import { notifyEnabled } from '../notify/settings.js';
import type { SqlDialectName } from '../storage/sql/migrations.js';
import { SqlNotificationStore } from '../storage/sql/notification-repository.js';
import type { Database } from '../storage/sql/schema.js';
import type { Kysely } from 'kysely';
import type { WorkOrderService } from '../workorders/service.js';
import type { NewEvent, WorkOrderStore } from '../workorders/types.js';
import { NotifyWorkOrderDesk, type AlertFacts } from './notify-desk.js';

/**
 * The work-order store, telling `kick` after each write that recorded a notice: the notice is in
 * the database (committed with its change), so the notifier can take it at once.
 */
export function kickOnNotices(store: WorkOrderStore, kick: () => void): WorkOrderStore {
  const after = async <T>(events: readonly NewEvent[], write: Promise<T>): Promise<T> => {
    const result = await write;
    if (events.some((e) => e.notice !== undefined)) kick();
    return result;
  };
  return {
    openForIdentity: (input, event, timeZone) => after([event], store.openForIdentity(input, event, timeZone)),
    create: (input, event, timeZone) => after([event], store.create(input, event, timeZone)),
    get: (idOrNumber) => store.get(idOrNumber),
    list: (filter) => store.list(filter),
    latestForIdentity: (identity) => store.latestForIdentity(identity),
    update: (id, version, patch, events) => after(events, store.update(id, version, patch, events)),
    addEvents: (id, events) => after(events, store.addEvents(id, events)),
    hasEvent: (key) => store.hasEvent(key),
    timeline: (id) => store.timeline(id),
    recordBreach: (breach) => store.recordBreach(breach),
    breaches: (filter) => store.breaches(filter),
  };
}

export interface NotifyParts {
  readonly notifier: Notifier;
  readonly service: NotifyService;
  readonly store: SqlNotificationStore;
  stop(): Promise<void>;
}

export function startNotify(options: {
  config: GuardianConfig;
  db: Kysely<Database>;
  dialect: SqlDialectName;
  workOrders: WorkOrderService;
  registry: DeviceDirectory;
  silences: SilenceLookup;
  alertFacts?: AlertFacts;
  metrics: Registry;
  logger: Logger;
  now: () => number;
  /** The API's address, once it listens: the default base of links. */
  publicUrl: () => string;
}): NotifyParts {
  const { config, logger, now } = options;
  const settings = config.notify;
  const log = logger.child({ component: 'notify' });
  const store = new SqlNotificationStore(options.db, options.dialect, { leaseMs: settings.lease, now });
  const channels = createChannels(settings.channels, { logger: log, language: settings.language });
  const linkSecret = settings.linkSecret ?? readOrCreateSecretFile(join(config.dataDir, 'notify-link-secret'), 'acknowledge-link secret', log).secret;
  const desk = new NotifyWorkOrderDesk({ workOrders: options.workOrders, registry: options.registry, ...(options.alertFacts && { alertFacts: options.alertFacts }), now });
  const enabled = notifyEnabled(settings);
  const notifier = new Notifier({
    settings,
    store,
    desk,
    channels,
    silences: options.silences,
    siteZone: (site) => options.registry.getSite(site)?.timezone ?? 'Asia/Shanghai',
    linkSecret,
    publicUrl: () => settings.publicUrl ?? options.publicUrl(),
    logger: log,
    now,
    enabled,
  });
  const service = new NotifyService({ settings, store, desk, notifier, channels, linkSecret, now });
  registerNotifyMetrics(options.metrics, notifier, store, now);
  notifier.start();
  if (enabled) {
    log.info({ channels: [...channels.keys()], people: Object.keys(settings.people).length, rotations: settings.rotations.length }, 'pushes on');
    if (settings.publicUrl === undefined) log.warn('notify.publicUrl is not set: links in messages point at the API address this engine listens on; set it to the address engineers reach (GUARDIAN_NOTIFY_PUBLIC_URL)');
  } else {
    log.info('pushes off: no channel and rotation configured (notify:), or notify.enabled is false; notices are recorded and marked done');
  }
  const purge = setInterval(() => {
    store.purge(now() - settings.retention).catch((err: unknown) => log.error({ err }, 'purging the delivery log failed'));
  }, 3_600_000);
  purge.unref();
  return {
    notifier,
    service,
    store,
    async stop() {
      clearInterval(purge);
      await notifier.stop();
    },
  };
}
