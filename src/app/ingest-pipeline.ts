import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../kernel/errors.js';
import type { GuardianConfig } from '../config/schema.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { DeadLetterRepository } from '../storage/sql/dead-letter-repository.js';
import type { DeviceEventRepository } from '../storage/sql/event-repository.js';
import type { TelemetryStore } from '../kernel/ports/telemetry-store.js';
import { DeadLetterQueue } from '../../collectors/dead-letter-queue.js';
import type { IngestMetrics } from '../../collectors/ingest-metrics.js';
import { Ingestor } from '../../collectors/ingestor.js';
import { BrokerRefusedError, MqttCollector, type BrokerRefusal } from '../../collectors/mqtt-collector.js';
import { SampleBatcher } from '../../collectors/sample-batcher.js';
import { Spool } from '../../collectors/spool.js';

export interface IngestPipeline {
  readonly ingestor: Ingestor;
  readonly batcher: SampleBatcher;
  readonly collector: MqttCollector;
  readonly deadLetters: DeadLetterQueue;
  /**
   * Resolves once what the broker had handed over is stored and given to the stored-samples
   * listeners (the rule engine): no message for `quietMs` (or `maxMs` passed), then everything
   * accepted written. Rejects when the store fails the write.
   */
  settle(quietMs: number, maxMs: number): Promise<void>;
  /** Stops reading from the broker, then writes everything buffered. Returns values not written. */
  stop(): Promise<number>;
}

export interface IngestPipelineOptions {
  readonly config: GuardianConfig;
  readonly brokerUrl: string;
  /** 4 for the embedded broker (MQTT 3.1.1), 5 for external brokers. */
  readonly protocolVersion: 4 | 5;
  /** The collector's user name and password when they are not the configured mqtt.username/password (the embedded broker's engine identity). */
  readonly credentials?: { readonly username: string; readonly password: string };
  readonly autoRegister: boolean;
  readonly registry: DeviceRegistry;
  readonly telemetry: TelemetryStore;
  readonly deadLetterRepository: DeadLetterRepository;
  readonly events: Pick<DeviceEventRepository, 'insert'>;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** Wires broker → ingestor → batcher → store and the dead-letter queue beside it. */
export async function startIngestPipeline(options: IngestPipelineOptions): Promise<IngestPipeline> {
  const { config, logger, metrics } = options;
  const c = config.collector;
  const spool = c.spool.enabled
    ? new Spool({
        dir: join(resolve(config.dataDir), 'spool'),
        maxBytes: c.spool.maxBytes,
        segmentBytes: c.spool.segmentBytes,
        fsyncIntervalMs: c.spool.fsyncInterval,
        logger: logger.child({ component: 'spool' }),
      })
    : undefined;
  const batcher = new SampleBatcher(options.telemetry, {
    ...(spool && { spool }),
    batchSize: c.batchSize ?? (config.influx.url ? 20_000 : 5_000),
    maxConcurrentWrites: c.maxConcurrentWrites ?? (config.influx.url ? 2 : 1),
    flushIntervalMs: c.flushInterval,
    lingerMs: c.linger,
    maxBuffered: c.maxBufferedSamples,
    logger: logger.child({ component: 'batcher' }),
    metrics,
  });
  const deadLetters = new DeadLetterQueue(options.deadLetterRepository, {
    flushIntervalMs: 1_000,
    maxPending: 5_000,
    keep: c.deadLetterLimit,
    logger: logger.child({ component: 'dead-letters' }),
    metrics,
  });
  const ingestor = new Ingestor({
    registry: options.registry,
    batcher,
    deadLetters,
    events: options.events,
    metrics,
    autoRegister: options.autoRegister,
    autoRegisterLimits: { perMinute: config.autoRegisterPerMinute, max: config.autoRegisterMax },
    topicPrefix: config.mqtt.topicPrefix,
    deadLetterPayloadBytes: c.deadLetterPayloadBytes,
    limits: {
      maxPayloadBytes: c.maxPayloadBytes,
      maxSamplesPerMessage: c.maxSamplesPerMessage,
      maxMetricsPerSample: c.maxMetricsPerSample,
      futureToleranceMs: c.futureTolerance,
      maxAgeMs: config.retention.raw,
      unknownMetrics: c.unknownMetrics,
    },
    logger: logger.child({ component: 'ingest' }),
    ...(options.now && { now: options.now }),
  });
  const collector = new MqttCollector({
    url: options.brokerUrl,
    clientId: config.mqtt.clientId,
    topicPrefix: config.mqtt.topicPrefix,
    protocolVersion: options.protocolVersion,
    ...(options.credentials
      ? { username: options.credentials.username, password: options.credentials.password }
      : {
          ...(config.mqtt.username !== undefined && { username: config.mqtt.username }),
          ...(config.mqtt.password !== undefined && { password: config.mqtt.password }),
        }),
    ...(options.protocolVersion === 5 && { persistentSession: { expirySeconds: Math.round(config.mqtt.sessionExpiry / 1000) } }),
    ...(config.mqtt.sharedGroup && { sharedGroup: config.mqtt.sharedGroup }),
    ...((config.mqtt.caFile || config.mqtt.certFile || config.mqtt.keyFile || !config.mqtt.rejectUnauthorized) && {
      tls: {
        rejectUnauthorized: config.mqtt.rejectUnauthorized,
        ...(config.mqtt.caFile && { ca: readPem('mqtt.caFile (GUARDIAN_MQTT_CA_FILE)', config.mqtt.caFile) }),
        ...(config.mqtt.certFile && { cert: readPem('mqtt.certFile (GUARDIAN_MQTT_CERT_FILE)', config.mqtt.certFile) }),
        ...(config.mqtt.keyFile && { key: readPem('mqtt.keyFile (GUARDIAN_MQTT_KEY_FILE)', config.mqtt.keyFile) }),
      },
    }),
    reconnect: { minMs: config.mqtt.reconnectMin, maxMs: config.mqtt.reconnectMax },
    ingestor,
    batcher,
    ...(spool && { spool }),
    metrics,
    logger: logger.child({ component: 'collector' }),
  });
  try {
    await collector.start();
  } catch (error) {
    if (error instanceof BrokerRefusedError) throw new ConfigError(`${error.message}. ${REFUSAL_HINTS[error.refusal]}`);
    throw error;
  }
  const registryFlush = setInterval(() => void options.registry.flush().catch((err: unknown) => logger.warn({ err }, 'could not write last-seen times')), 5_000);
  registryFlush.unref();
  return {
    ingestor,
    batcher,
    collector,
    deadLetters,
    settle: async (quietMs, maxMs) => {
      await collector.waitIdle(quietMs, maxMs);
      await batcher.flush();
    },
    stop: async () => {
      clearInterval(registryFlush);
      await collector.stop();
      const lost = await batcher.close();
      await deadLetters.close();
      await options.registry.flush();
      return lost;
    },
  };
}

/** What to check when the broker turns the collector away at start-up. */
const REFUSAL_HINTS: Readonly<Record<BrokerRefusal, string>> = {
  credentials: 'Check mqtt.username and mqtt.password (GUARDIAN_MQTT_USERNAME, GUARDIAN_MQTT_PASSWORD) and what the broker lets that user do.',
  client_id: 'Check mqtt.clientId (GUARDIAN_MQTT_CLIENT_ID): the broker does not accept it.',
  certificate:
    "The broker's certificate did not verify: set mqtt.caFile (GUARDIAN_MQTT_CA_FILE) to the CA that signed it, and connect by a host name the certificate names.",
  client_certificate:
    'The broker did not accept our client certificate: set mqtt.certFile and mqtt.keyFile (GUARDIAN_MQTT_CERT_FILE, GUARDIAN_MQTT_KEY_FILE) to a certificate signed by a CA the broker trusts.',
  subscription: "Check the broker's access control: the user (GUARDIAN_MQTT_USERNAME) must be allowed to read the topics named, and shared subscriptions must be enabled where GUARDIAN_MQTT_SHARED_GROUP is set.",
  tls: 'The TLS handshake failed: check that the port speaks TLS and, where the broker asks for a client certificate, set mqtt.certFile and mqtt.keyFile (GUARDIAN_MQTT_CERT_FILE, GUARDIAN_MQTT_KEY_FILE).',
};

/** A PEM file named by a setting; a file that cannot be read stops start-up with the setting's name. */
function readPem(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(error as Error).message}`);
  }
}
