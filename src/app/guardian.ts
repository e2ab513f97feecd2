import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Logger } from 'pino';
import { buildApiServer } from '../api/server.js';
import { PortInUseError, startEmbeddedBroker, type EmbeddedBroker } from '../broker/embedded-broker.js';
import { BrokerAccess } from '../broker/access.js';
import { ENGINE_USERNAME } from '../broker/secrets.js';
import { readOrCreateSecretFile } from '../kernel/private-files.js';
import { DeviceCredentialService } from '../devices/credentials.js';
import { DeviceCredentialRepository } from '../storage/sql/device-credential-repository.js';
import type { GuardianConfig } from '../config/schema.js';
import { readFleetFile, type FleetFile } from '../devices/fleet-file.js';
import { DeviceRegistry } from '../devices/registry.js';
import { SqlDeviceStore } from '../storage/sql/device-repository.js';
import { DeadLetterRepository } from '../storage/sql/dead-letter-repository.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../storage/sql/database.js';
import { DeviceEventRepository } from '../storage/sql/event-repository.js';
import { openSqliteTelemetryStore } from '../storage/sqlite-telemetry-store.js';
import { openInfluxTelemetryStore } from '../storage/influx-telemetry-store.js';
import type { TelemetryStore } from '../kernel/ports/telemetry-store.js';
import { PACKAGE_ROOT, VERSION } from './version.js';
import { ConfigError } from '../kernel/errors.js';
import { RuleSet } from '../../rules/rule-set.js';
import { RuleEngine } from '../../rules/engine.js';
import { parseDuration } from '../kernel/time/duration.js';
import { ApiTokenRepository } from '../storage/sql/token-repository.js';
import { TokenService } from '../auth/tokens.js';
import { SqlWorkOrderStore } from '../storage/sql/work-order-repository.js';
import { DEFAULT_CLOCK_POLICY } from '../workorders/clocks.js';
import { WorkOrderService } from '../workorders/service.js';
import { AlertOutboxConsumer } from '../workorders/alert-outbox-consumer.js';
import { registerOutboxMetrics } from '../workorders/outbox-metrics.js';
import { SqlAlertOutbox } from '../storage/sql/alert-outbox-repository.js';
import { registerEngineMetrics } from '../../rules/engine-metrics.js';
import { AlertRepository } from '../storage/sql/alert-repository.js';
import { SilenceRepository } from '../storage/sql/silence-repository.js';
import { SilenceService } from '../silences/silence-service.js';
import { formatPackError } from '../../rules/pack-loader.js';
import { IngestMetrics } from '../../collectors/ingest-metrics.js';
import { resolveAdminToken } from './admin-token.js';
import { lockDataDir, secureDataDir } from './data-dir-lock.js';
import { AuditTrail } from '../audit/trail.js';
import { registerAuditMetrics } from '../audit/metrics.js';
import { AuditRepository } from '../storage/sql/audit-repository.js';
import { startIngestPipeline, type IngestPipeline } from './ingest-pipeline.js';
import { kickOnNotices, startNotify } from './notify-wiring.js';
import type { AlertFacts } from './notify-desk.js';
import { formatLocalMinute } from '../kernel/alerts.js';
import { metricDefinition, type Modality } from '../kernel/catalogue/metrics.js';
import type { SimulatorHandle } from '../../simulators/publisher.js';

export interface GuardianOptions {
  readonly config: GuardianConfig;
  /** Settings given explicitly (dotted paths), to tell defaults from choices. */
  readonly explicit?: ReadonlySet<string>;
  readonly logger: Logger;
  /** Serve the HTTP API (off for `guardian collect --no-http`). */
  readonly http?: boolean;
  readonly now?: () => number;
}

export interface RunningGuardian {
  readonly httpUrl?: string;
  readonly mqttUrl: string;
  readonly embeddedBroker: boolean;
  readonly adminToken: string;
  /** Where the admin token came from: configuration, or the data directory's file (created on first start). */
  readonly adminTokenSource: 'config' | 'file';
  /** True on the start that generated the admin token: the only one that shows it. */
  readonly adminTokenGenerated: boolean;
  readonly simulating: boolean;
  readonly registry: DeviceRegistry;
  /** Devices' MQTT credentials (issue, rotate, revoke, check). */
  readonly deviceCredentials: DeviceCredentialService;
  /** The embedded broker's TLS listener (`mqtts://…`), when configured. */
  readonly mqttTlsUrl?: string;
  readonly telemetry: TelemetryStore;
  readonly rules: RuleSet;
  readonly engine: RuleEngine;
  /** Silences (maintenance windows); `activeFor` answers the rule engine's SilenceLookup. */
  readonly silences: SilenceService;
  readonly pipeline: IngestPipeline;
  readonly simulator?: SimulatorHandle;
  readonly dataDir: string;
  /** Stops in order: simulator, collector (flushing its buffers), API, broker, stores. */
  stop(): Promise<void>;
}

/** What the demo defaults to when nothing says otherwise (design §8). */
export function demoDefaults(config: GuardianConfig): { simulate: boolean; autoRegister: boolean } {
  const external = config.mqtt.url !== undefined;
  return {
    simulate: config.simulate.enabled ?? !external,
    autoRegister: config.autoRegister ?? !external,
  };
}

/**
 * Starts the engine in one process: embedded broker (unless an external one is configured),
 * stores, collectors, API and, in the demo, the simulated fleet.
 */
export async function startGuardian(options: GuardianOptions): Promise<RunningGuardian> {
  const { config, logger } = options;
  const now = options.now ?? Date.now;
  const dataDir = resolve(config.dataDir);
  // Owner-only: it holds the databases (reporters' names and phone numbers), the spool and secrets.
  secureDataDir(dataDir, logger);
  const { simulate, autoRegister } = demoDefaults(config);
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (error) {
        logger.error({ err: error }, 'error during shutdown');
      }
    }
  };

  try {
    const unlock = lockDataDir(dataDir);
    cleanups.push(async () => unlock());
    const { token: adminToken, generated: adminTokenGenerated } = resolveAdminToken(config.adminToken, join(dataDir, 'admin-token'), logger);

    const sql: SqlDatabase = await openSqlDatabase({ ...(config.database.url && { url: config.database.url }), sqliteFile: join(dataDir, 'guardian.db'), logger });
    cleanups.push(() => sql.close());
    const applied = await migrateToLatest(sql);
    if (applied.length) logger.info({ migrations: applied }, 'database schema migrated');

    const registry = await DeviceRegistry.open(new SqlDeviceStore(sql.db), now);
    const deviceCredentials = new DeviceCredentialService(new DeviceCredentialRepository(sql.db), { now });
    // The demo's simulated fleet is loaded only when it runs: the engine does not depend on it.
    const demoFleet = simulate ? (await import('../../simulators/fleet.js')).DEMO_FLEET : undefined;
    const fleet: FleetFile | undefined = config.fleetFile ? readFleetFile(config.fleetFile) : demoFleet;
    if (fleet) {
      for (const site of fleet.sites) await registry.upsertSite(site);
      for (const device of fleet.devices) {
        const { simulation: _simulation, ...description } = device;
        await registry.upsert(description, 'fleet');
      }
      logger.info({ sites: fleet.sites.length, devices: fleet.devices.length, file: config.fleetFile ?? '(demo fleet)' }, 'fleet registered');
    }

    const rules = new RuleSet(resolve(config.rules.dir ?? join(PACKAGE_ROOT, 'rules', 'packs')), logger.child({ component: 'rules' }));
    const loadedRules = await rules.load(now());
    if (!loadedRules.ok) throw new ConfigError(`rule packs in ${rules.dir} are invalid:\n${loadedRules.errors.map(formatPackError).join('\n')}`);
    // SIGHUP reloads the packs, as daemons conventionally do; a bad pack is refused and the running rules stay.
    const reloadRules = () => void rules.load(now());
    process.on('SIGHUP', reloadRules);
    cleanups.push(async () => void process.off('SIGHUP', reloadRules));

    const telemetry = await openTelemetryStore(config, dataDir, registry, logger.child({ component: 'telemetry-store' }));
    cleanups.push(() => telemetry.close());

    const metricsRegistry = new Registry();
    collectDefaultMetrics({ register: metricsRegistry });
    let broker: EmbeddedBroker | undefined;
    let mqttUrl = config.mqtt.url;
    /** The engine's own MQTT identity on the embedded broker (configured, or generated once in the data directory). */
    let engineCredential: { username: string; password: string } | undefined;
    if (!mqttUrl) {
      engineCredential = {
        username: config.mqtt.username ?? ENGINE_USERNAME,
        password: config.mqtt.password ?? readOrCreateSecretFile(join(dataDir, 'mqtt-engine-secret'), 'the MQTT engine secret file', logger).secret,
      };
      // Devices not holding a credential of their own may enrol with this secret while auto-registration is on.
      const enrolmentSecret = autoRegister ? (config.mqtt.enrolmentSecret ?? readOrCreateSecretFile(join(dataDir, 'mqtt-enrolment-secret'), 'the MQTT enrolment secret file', logger).secret) : undefined;
      const access = new BrokerAccess({
        topicPrefix: config.mqtt.topicPrefix,
        engine: { ...engineCredential, clientId: config.mqtt.clientId },
        checkDevice: (username, password) => deviceCredentials.check(username, password),
        siteOf: (id) => registry.get(id)?.site,
        enrolmentSecret: () => enrolmentSecret,
        logger: logger.child({ component: 'broker' }),
        metrics: metricsRegistry,
        now,
      });
      const tls = config.mqtt.tls;
      broker = await startEmbeddedBroker({
        host: config.mqtt.host,
        port: config.mqtt.port ?? 1883,
        fallbackWhenTaken: !options.explicit?.has('mqtt.port'),
        access,
        // Another engine on the same database may rotate or revoke a credential of a scanner connected here.
        credentialSweep: { everyMs: 15_000, read: async () => new Map((await deviceCredentials.list()).map((c) => [c.deviceId, c])) },
        ...(tls && {
          tls: {
            port: tls.port,
            cert: readSettingFile('mqtt.tls.certFile (GUARDIAN_MQTT_TLS_CERT_FILE)', tls.certFile),
            key: readSettingFile('mqtt.tls.keyFile (GUARDIAN_MQTT_TLS_KEY_FILE)', tls.keyFile),
            ...(tls.caFile && { ca: readSettingFile('mqtt.tls.caFile (GUARDIAN_MQTT_TLS_CA_FILE)', tls.caFile) }),
            clientCertificates: tls.clientCertificates,
          },
        }),
        logger: logger.child({ component: 'broker' }),
      });
      cleanups.push(() => broker!.close());
      mqttUrl = broker.url;
      // A rotated or revoked credential ends the device's connections at once.
      deviceCredentials.onChange((id) => void broker?.disconnectDevice(id));
      logger.info({ url: mqttUrl, ...(broker.tlsUrl && { tlsUrl: broker.tlsUrl }), enrolment: enrolmentSecret !== undefined }, 'embedded MQTT broker listening; every connection is authenticated');
    }

    const metrics = new IngestMetrics(metricsRegistry);
    new Gauge({
      name: 'guardian_devices',
      help: 'Registered devices',
      registers: [metricsRegistry],
      collect() {
        this.set(registry.list().length);
      },
    });
    const deadLetterRepository = new DeadLetterRepository(sql.db);
    const events = new DeviceEventRepository(sql.db);
    const silenceRepository = new SilenceRepository(sql.db);
    const silences = await SilenceService.open(silenceRepository, { logger: logger.child({ component: 'silences' }), now, maxDurationMs: config.silences.maxDuration });

    // Alerts and their changes are saved in one transaction; the changes are the work orders' outbox.
    const alertRepository = new AlertRepository(sql.db, now);
    const engine = new RuleEngine({
      rules,
      registry,
      repository: alertRepository,
      logger: logger.child({ component: 'rules' }),
      now,
      reorderMs: config.rules.reorderTolerance,
      // Maintenance windows: evaluation goes on, notifications and work orders are held.
      silences,
    });
    // Other instances on the same database may change silences; pick those changes up.
    const silenceReload = setInterval(() => {
      silences.reload().catch((err: unknown) => logger.error({ err }, 'reloading silences failed'));
    }, 30_000);
    silenceReload.unref();
    cleanups.push(async () => clearInterval(silenceReload));
    await engine.warm();
    const warmed = await engine.warmWindows(telemetry, now());
    logger.info(warmed, 'rule windows warmed from the telemetry store');
    registerEngineMetrics(metricsRegistry, engine);

    // Every alert that should reach a person opens (or adds to) a work order.
    const workOrderStore = new SqlWorkOrderStore(sql.db);
    // A change that records a notice wakes the notifier at once (it also polls for other engines').
    let kickNotifier = (): void => undefined;
    const workOrders = new WorkOrderService({
      store: kickOnNotices(workOrderStore, () => kickNotifier()),
      registry,
      logger: logger.child({ component: 'work-orders' }),
      now,
      settings: {
        cooldownMs: config.workOrders.cooldown,
        minGrade: config.workOrders.minGrade,
        closeRecovered: config.workOrders.closeRecovered,
        clocks: {
          ...DEFAULT_CLOCK_POLICY,
          repairMs: Object.fromEntries(Object.entries(config.workOrders.repairTargets).map(([type, d]) => [type, parseDuration(d) ?? 0])),
        },
      },
    });
    // The alert changes reach the work orders through the outbox: drained right after each save,
    // on a timer (retries, other processes), and reconciled against the firing alerts.
    const outboxConsumer = new AlertOutboxConsumer({
      outbox: new SqlAlertOutbox(sql.db, sql.dialect, { leaseMs: config.workOrders.outboxLease, now }),
      service: workOrders,
      logger: logger.child({ component: 'alert-outbox' }),
      now,
      settings: { pollMs: config.workOrders.outboxPoll, reconcileMs: config.workOrders.reconcile, retentionMs: config.workOrders.outboxRetention },
    });
    alertRepository.onChangesSaved(() => outboxConsumer.wake());
    await outboxConsumer.start();
    cleanups.push(() => outboxConsumer.stop());
    registerOutboxMetrics(metricsRegistry, outboxConsumer);
    // Pushes to the people on call; the API's address (the default base of links) is known once it listens.
    let apiUrl = `http://${config.http.host}:${config.http.port}`;
    const notify = startNotify({
      config,
      db: sql.db,
      dialect: sql.dialect,
      workOrders,
      registry,
      silences,
      alertFacts: alertFactsOf(engine, rules, registry),
      metrics: metricsRegistry,
      logger,
      now,
      publicUrl: () => apiUrl,
    });
    kickNotifier = () => notify.notifier.kick();
    cleanups.push(() => notify.stop());
    const breachCheck = setInterval(() => {
      workOrders.checkBreaches().catch((err: unknown) => logger.error({ err }, 'work-order clock check failed'));
    }, config.workOrders.breachCheck);
    breachCheck.unref();
    cleanups.push(async () => clearInterval(breachCheck));
    // Looked up in the shared database with a short cache, so tokens issued or revoked by another engine count here too.
    const tokens = new TokenService(new ApiTokenRepository(sql.db), { cacheMs: config.http.tokenCache });
    for (const name of await tokens.liveWithReservedNames()) {
      logger.warn({ token: name }, 'an API token has a reserved name: timelines and the audit trail cannot tell its holder from the engine or the admin; issue a new token under the holder\'s name and revoke this one');
    }
    // Every change asked of the API and every refused request, kept in the SQL database. Stopped
    // after the HTTP server (cleanups run in reverse), so the last requests' entries are written.
    const auditTrail = new AuditTrail(new AuditRepository(sql.db), { logger: logger.child({ component: 'audit' }), now, retentionMs: config.audit.retention });
    auditTrail.start();
    cleanups.push(() => auditTrail.stop());
    registerAuditMetrics(metricsRegistry, auditTrail);

    const pipeline = await startIngestPipeline({
      config,
      brokerUrl: mqttUrl,
      protocolVersion: broker ? 4 : 5,
      ...(engineCredential && { credentials: engineCredential }),
      autoRegister,
      registry,
      telemetry,
      deadLetterRepository,
      // Stored events also feed the event-count rules.
      events: {
        insert: async (stored, receivedAt) => {
          await events.insert(stored, receivedAt);
          engine.onEvents(stored);
        },
      },
      metrics,
      logger,
      now,
    });
    // Rules see samples once they are durable, in event time; the tick releases held samples and
    // checks for silence.
    pipeline.batcher.onStored((samples) => engine.onSamples(samples));
    const ruleTick = setInterval(() => engine.tick(now()), 1_000);
    ruleTick.unref();
    cleanups.push(async () => clearInterval(ruleTick));
    cleanups.push(() => engine.flush());
    cleanups.push(async () => {
      const lost = await pipeline.stop();
      if (lost === 0) logger.info('collector stopped; all accepted data written or spooled');
    });
    if (broker) {
      // Runs before the collector stops: devices are cut off first, then the collector takes what
      // the broker had already acknowledged to them.
      cleanups.push(async () => {
        await broker!.stopAccepting(config.mqtt.clientId);
        await pipeline.collector.waitIdle(300, 5_000);
      });
    }

    const retention = setInterval(() => {
      telemetry
        .applyRetention({ rawMs: config.retention.raw, rollupMs: config.retention.rollup }, now())
        .then((r) => (r.rawDeleted || r.rollupDeleted ? logger.info(r, 'telemetry retention applied') : undefined))
        .catch((err: unknown) => logger.error({ err }, 'telemetry retention failed'));
    }, config.retention.interval);
    retention.unref();
    cleanups.push(async () => clearInterval(retention));

    // The demo is ready once its backfill is ingested, evaluated and its work orders opened: until
    // then /readyz answers 503 saying what it waits for, so a probe never finds a half-built fleet.
    let demoBackfill: string | undefined = simulate ? 'the demo backfill is being published' : undefined;
    let httpUrl: string | undefined;
    let server: FastifyInstance | undefined;
    if (options.http !== false) {
      server = await buildApiServer({
        http: { trustProxy: config.http.trustProxy, authFailureLimit: config.http.authFailureLimit, authFailureWindowMs: config.http.authFailureWindow },
        registry,
        rules,
        alerts: engine,
        workOrders,
        // Lists are read from SQL, filtered and paged there.
        workOrderQuery: { page: (filter, page) => workOrderStore.page(filter, page), breaches: (filter, page) => workOrderStore.breachPage(filter, page), openOf: (ids) => workOrderStore.openOf(ids) },
        silenceQuery: silenceRepository,
        tokens,
        deviceCredentials,
        notify: notify.service,
        audit: auditTrail,
        telemetry,
        deadLetters: deadLetterRepository,
        events,
        silences,
        metrics: metricsRegistry,
        adminToken,
        logger,
        now,
        version: VERSION,
        readiness: [
          { name: 'mqtt', check: () => void (pipeline.collector.connected || failWith('not connected to the MQTT broker')) },
          { name: 'telemetry_store', check: () => telemetry.ping() },
          { name: 'database', check: async () => void (await sql.db.selectFrom('sites').select('id').limit(1).execute()) },
          ...(simulate ? [{ name: 'demo_backfill', check: () => void (demoBackfill === undefined || failWith(demoBackfill)) }] : []),
        ],
      });
      try {
        await server.listen({ host: config.http.host, port: config.http.port });
      } catch (error) {
        await server.close();
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new PortInUseError(config.http.host, config.http.port, 'The HTTP API', 'Set GUARDIAN_HTTP_PORT to a free port or stop the other program.');
        }
        throw error;
      }
      cleanups.push(() => server!.close());
      const address = server.server.address();
      const port = typeof address === 'object' && address ? address.port : config.http.port;
      httpUrl = `http://${config.http.host}:${port}`;
      apiUrl = httpUrl;
    }

    let simulator: SimulatorHandle | undefined;
    if (simulate) {
      const { startSimulator } = await import('../../simulators/publisher.js');
      const simFleet = fleet ?? demoFleet!;
      // Each simulated scanner connects as itself: on the embedded broker with a credential issued
      // now (replacing the previous run's), on an external broker with the configured user.
      const simulatorPasswords = new Map<string, string>();
      if (broker) {
        for (const device of simFleet.devices) simulatorPasswords.set(device.id, (await deviceCredentials.issue(device.id, 'demo')).password);
      }
      simulator = await startSimulator({
        url: mqttUrl,
        topicPrefix: config.mqtt.topicPrefix,
        devices: simFleet.devices,
        seed: config.simulate.seed,
        backfillMs: config.simulate.backfill,
        backfillTickMs: config.simulate.backfillTick,
        intervalMs: config.simulate.interval,
        protocolVersion: broker ? 4 : 5,
        ...(broker
          ? { credentialsFor: (id: string) => ({ username: id, password: simulatorPasswords.get(id) ?? '' }) }
          : { ...(config.mqtt.username !== undefined && { username: config.mqtt.username }), ...(config.mqtt.password !== undefined && { password: config.mqtt.password }) }),
        stateFile: join(dataDir, 'simulator-state.json'),
        logger: logger.child({ component: 'simulator' }),
        now,
      });
      // The simulator stops before the collector so its last messages are still ingested.
      cleanups.push(() => simulator!.stop());
      let stopping = false;
      cleanups.push(async () => void (stopping = true));
      void simulator.backfillDone.then(async () => {
        for (let attempt = 1; !stopping; attempt++) {
          try {
            demoBackfill = 'the demo backfill is being stored and evaluated';
            await pipeline.settle(300, 60_000);
            // Releases what the reorder tolerance holds, then saves the alerts with their changes.
            engine.tick(now());
            await engine.flush();
            demoBackfill = "the demo backfill's work orders are being opened";
            await outboxConsumer.drain();
            demoBackfill = undefined;
            logger.info('demo backfill stored and evaluated, its work orders opened: ready');
            return;
          } catch (error) {
            if (stopping) return;
            logger.warn({ err: error, attempt }, 'demo backfill not settled yet; trying again');
            await new Promise((r) => setTimeout(r, 1_000));
          }
        }
      });
    }

    return {
      ...(httpUrl && { httpUrl }),
      mqttUrl,
      embeddedBroker: broker !== undefined,
      adminToken,
      adminTokenSource: config.adminToken ? 'config' : 'file',
      adminTokenGenerated,
      simulating: simulate,
      registry,
      deviceCredentials,
      ...(broker?.tlsUrl && { mqttTlsUrl: broker.tlsUrl }),
      telemetry,
      rules,
      engine,
      silences,
      pipeline,
      ...(simulator && { simulator }),
      dataDir,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** InfluxDB when `influx.url` is set, otherwise SQLite under the data directory. */
async function openTelemetryStore(config: GuardianConfig, dataDir: string, registry: DeviceRegistry, logger: Logger): Promise<TelemetryStore> {
  const influx = config.influx;
  if (!influx.url) return openSqliteTelemetryStore({ file: join(dataDir, 'telemetry.db'), logger });
  const store = await openInfluxTelemetryStore({
    url: influx.url,
    bucket: influx.bucket,
    writeApi: influx.writeApi,
    gzip: influx.gzip,
    ...(influx.token && { token: influx.token }),
    ...(influx.org && { org: influx.org }),
    ...(influx.database && { database: influx.database }),
    ...(influx.retentionPolicy && { retentionPolicy: influx.retentionPolicy }),
    // Tags of a device's series; site and modality never change, a changed model starts a new series.
    tagsFor: (id) => {
      const device = registry.get(id);
      return device && { site: device.site, modality: device.modality, model: device.model };
    },
    logger,
  });
  logger.info({ url: influx.url, bucket: influx.bucket }, 'telemetry store: InfluxDB');
  return store;
}

/** A file named by a setting; one that cannot be read stops start-up with the setting's name. */
function readSettingFile(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(error as Error).message}`);
  }
}

function failWith(message: string): never {
  throw new Error(message);
}

/** The live value (with unit) and forecast of a work order's alert, as the engine holds it now. */
function alertFactsOf(engine: RuleEngine, rules: RuleSet, registry: DeviceRegistry): AlertFacts {
  return (deviceId, ruleId) => {
    const alert = engine.states().find((a) => a.deviceId === deviceId && a.ruleId === ruleId);
    const device = registry.get(deviceId);
    if (!alert || !device) return undefined;
    const rule = rules.forDevice(device).find((r) => r.id === ruleId);
    const metric = rule && 'metric' in rule && typeof rule.metric === 'string' ? metricDefinition(device.modality as Modality, rule.metric) : undefined;
    const value = alert.record.lastValue;
    const unit = metric?.unit && metric.unit !== 'count' ? ` ${metric.unit}` : '';
    const forecast = alert.condition.forecast;
    const zone = registry.getSite(device.site)?.timezone ?? 'Asia/Shanghai';
    return {
      ...(value !== undefined && Number.isFinite(value) && { value: `${Number(value.toFixed(2))}${unit}` }),
      ...(forecast && {
        forecast: {
          zh: `预计约于 ${formatLocalMinute(zone, forecast.crossingAt)} 越限（最早 ${formatLocalMinute(zone, forecast.earliest)}）`,
          en: `forecast to cross its limit around ${formatLocalMinute(zone, forecast.crossingAt)} (earliest ${formatLocalMinute(zone, forecast.earliest)})`,
        },
      }),
    };
  };
}
