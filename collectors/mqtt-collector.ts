import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { IngestMetrics } from './ingest-metrics.js';
import type { Ingestor } from './ingestor.js';
import type { SampleBatcher } from './sample-batcher.js';

export interface MqttCollectorOptions {
  readonly url: string;
  readonly clientId: string;
  readonly topicPrefix: string;
  readonly username?: string;
  readonly password?: string;
  /** MQTT 5 for external brokers; the embedded broker speaks 3.1.1 (4). */
  readonly protocolVersion: 4 | 5;
  readonly ingestor: Ingestor;
  readonly batcher: SampleBatcher;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
}

/**
 * Subscribes to every message under the topic prefix and feeds them to the ingestor.
 * Messages are acknowledged (QoS 1 PUBACK) as soon as they are handled, except while the sample
 * buffer is full: then the acknowledgement waits, and with it the broker's flow to us.
 */
export class MqttCollector {
  private client: MqttClient | undefined;
  private connectedOnce = false;

  constructor(private readonly options: MqttCollectorOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connects and subscribes; resolves on the first successful subscription. */
  start(): Promise<void> {
    const { url, clientId, topicPrefix, logger, metrics } = this.options;
    const clientOptions: IClientOptions = {
      clientId,
      protocolVersion: this.options.protocolVersion,
      clean: true,
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      ...(this.options.username !== undefined && { username: this.options.username }),
      ...(this.options.password !== undefined && { password: this.options.password }),
    };
    const client = mqtt.connect(url, clientOptions);
    this.client = client;
    client.handleMessage = (packet, done) => {
      const payload = packet.payload as Buffer;
      this.options.ingestor
        .handle(packet.topic, typeof payload === 'string' ? Buffer.from(payload) : payload)
        .then(() => (this.options.batcher.hasCapacity() ? undefined : this.options.batcher.waitForCapacity()))
        .then(
          () => done(),
          (error: unknown) => done(error as Error),
        );
    };
    return new Promise((resolve, reject) => {
      client.on('connect', () => {
        metrics.mqttConnected.set(1);
        logger.info({ url: redact(url), clientId }, this.connectedOnce ? 'reconnected to MQTT broker' : 'connected to MQTT broker');
        client.subscribe(`${topicPrefix}/#`, { qos: 1 }, (error) => {
          if (error) {
            logger.error({ err: error }, 'MQTT subscription failed');
            if (!this.connectedOnce) reject(error);
            return;
          }
          if (!this.connectedOnce) {
            this.connectedOnce = true;
            resolve();
          }
        });
      });
      client.on('close', () => metrics.mqttConnected.set(0));
      client.on('error', (error) => {
        logger.warn({ err: error, url: redact(url) }, 'MQTT connection error');
      });
      client.on('offline', () => logger.warn({ url: redact(url) }, 'MQTT broker unreachable; reconnecting'));
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    await client.endAsync();
    this.options.metrics.mqttConnected.set(0);
  }
}

/** A broker URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
