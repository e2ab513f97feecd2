import { readFileSync } from 'node:fs';
import { format } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { IngestMetrics } from './ingest-metrics.js';
import type { Ingestor } from './ingestor.js';
import type { SampleBatcher } from './sample-batcher.js';
import type { Spool } from './spool.js';

export interface MqttCollectorOptions {
  readonly url: string;
  readonly clientId: string;
  readonly topicPrefix: string;
  readonly username?: string;
  readonly password?: string;
  /** MQTT 5 for external brokers; the embedded broker speaks 3.1.1 (4). */
  readonly protocolVersion: 4 | 5;
  /**
   * Keep the session on the broker across disconnects (MQTT 5 session expiry), so QoS 1 messages
   * published while the collector is away are queued for it. Off for the embedded broker, which
   * lives and dies with this process.
   */
  readonly persistentSession?: { readonly expirySeconds: number };
  /** MQTT 5 shared-subscription group for splitting load between instances. */
  readonly sharedGroup?: string;
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string; readonly rejectUnauthorized: boolean };
  readonly reconnect?: { readonly minMs: number; readonly maxMs: number };
  readonly ingestor: Ingestor;
  readonly batcher: SampleBatcher;
  /** The batcher's spool: acknowledgements of a turn wait until its lines are written. */
  readonly spool?: Spool;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
}

/** Exponential back-off with ±25 % jitter, so a fleet of collectors does not reconnect in step. */
export function reconnectDelay(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.75 + random() * 0.5));
}

/** The subscriptions of a collector: everything under the prefix, shared between instances when a group is set. */
export function subscriptionsFor(prefix: string, sharedGroup?: string): string[] {
  if (!sharedGroup) return [`${prefix}/#`];
  // A shared subscription gets no retained messages, so each instance also reads device status
  // itself; recording the same status twice is harmless.
  return [`$share/${sharedGroup}/${prefix}/#`, `${prefix}/+/+/status`];
}

/**
 * Subscribes to every message under the topic prefix and feeds them to the ingestor.
 * A QoS 1 message is acknowledged once the ingestor has handled it — its samples are in the spool
 * or its event/status in the database — and, when the spool is full, only once there is room
 * again, which holds back the broker's flow to us rather than dropping anything.
 */
export class MqttCollector {
  private client: MqttClient | undefined;
  private connectedOnce = false;
  private stopping = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastMessageAt = 0;
  /** The connection whose acknowledgements are held until the spool commits. */
  private corked: MqttClient['stream'] | undefined;

  constructor(private readonly options: MqttCollectorOptions) {}

  /** When the last message arrived (epoch ms; 0 before the first). */
  get lastMessageTime(): number {
    return this.lastMessageAt;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connects and subscribes; resolves on the first successful subscription. */
  start(): Promise<void> {
    const { url, clientId, topicPrefix, logger, metrics } = this.options;
    const persistent = this.options.persistentSession;
    const tls = this.options.tls;
    const clientOptions: IClientOptions = {
      clientId,
      protocolVersion: this.options.protocolVersion,
      clean: !persistent,
      ...(persistent && this.options.protocolVersion === 5 && { properties: { sessionExpiryInterval: persistent.expirySeconds } }),
      // Reconnection is ours (below): mqtt.js only knows a fixed period.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      // mqtt.js traces every packet through `debug`; that costs on every message even when off.
      log: logger.isLevelEnabled('trace') ? (...args: unknown[]) => logger.trace({ component: 'mqtt.js' }, format(...args)) : () => {},
      ...(this.options.username !== undefined && { username: this.options.username }),
      ...(this.options.password !== undefined && { password: this.options.password }),
      ...(tls?.caFile && { ca: readFileSync(tls.caFile) }),
      ...(tls?.certFile && { cert: readFileSync(tls.certFile) }),
      ...(tls?.keyFile && { key: readFileSync(tls.keyFile) }),
      ...(tls && { rejectUnauthorized: tls.rejectUnauthorized }),
    };
    const client = mqtt.connect(url, clientOptions);
    this.client = client;
    client.handleMessage = (packet, done) => {
      this.lastMessageAt = Date.now();
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const pending = this.options.ingestor.handle(packet.topic, payload);
      this.holdAcksUntilSpooled(client);
      // mqtt.js hands over the next message only after this one is acknowledged, so the common
      // synchronous case acknowledges at once; waiting is for the database or a full spool.
      if (!pending && this.options.batcher.hasCapacity()) return done();
      (pending ?? Promise.resolve())
        .then(() => (this.options.batcher.hasCapacity() ? undefined : this.options.batcher.waitForCapacity()))
        .then(
          () => done(),
          (error: unknown) => done(error as Error),
        );
    };
    const topics = subscriptionsFor(topicPrefix, this.options.sharedGroup);
    return new Promise((resolve, reject) => {
      client.on('connect', (connack) => {
        this.attempts = 0;
        metrics.mqttConnected.set(1);
        logger.info({ url: redact(url), clientId, sessionPresent: connack.sessionPresent, topics }, this.connectedOnce ? 'reconnected to MQTT broker' : 'connected to MQTT broker');
        client.subscribe(topics, { qos: 1 }, (error, granted) => {
          const refused = granted?.filter((g) => g.qos >= 0x80) ?? [];
          if (error || refused.length > 0) {
            const reason = error ?? new Error(`broker refused subscription ${refused.map((g) => g.topic).join(', ')}`);
            logger.error({ err: reason }, 'MQTT subscription failed');
            if (!this.connectedOnce) reject(reason);
            return;
          }
          if (!this.connectedOnce) {
            this.connectedOnce = true;
            resolve();
          }
        });
      });
      client.on('close', () => {
        metrics.mqttConnected.set(0);
        this.scheduleReconnect();
      });
      client.on('error', (error) => {
        logger.warn({ err: error, url: redact(url) }, 'MQTT connection error');
        const code = (error as { code?: unknown }).code;
        // Wrong credentials or a refused client id will not fix themselves: fail start-up.
        if (!this.connectedOnce && (code === 4 || code === 5 || code === 134 || code === 135)) {
          this.stopping = true;
          client.end(true);
          reject(new Error(`MQTT broker ${redact(url)} refused the connection: ${error.message}`));
        }
      });
    });
  }

  /**
   * Group commit: the socket is corked while this turn's spool records are pending, so the PUBACKs
   * mqtt.js writes meanwhile leave only after the spool's one write at the end of the turn. A
   * message is thus never acknowledged before its samples are on disk, without a system call per
   * message for the spool and another for its acknowledgement.
   */
  private holdAcksUntilSpooled(client: MqttClient): void {
    const spool = this.options.spool;
    const stream = client.stream;
    // Per stream: after a reconnect the new connection's acknowledgements must be held too, even
    // while the old (closed) stream still waits for its commit.
    if (!spool?.uncommitted || this.corked === stream) return;
    stream.cork();
    this.corked = stream;
    spool.whenCommitted((error) => {
      if (this.corked === stream) this.corked = undefined;
      // Without the spool write the acknowledgements must not go out: drop the connection and
      // let the broker redeliver.
      if (error) stream.destroy(error);
      else stream.uncork();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const reconnect = this.options.reconnect ?? { minMs: 1_000, maxMs: 30_000 };
    const delay = reconnectDelay(this.attempts++, reconnect.minMs, reconnect.maxMs);
    this.options.logger.warn({ url: redact(this.options.url), inMs: delay, attempt: this.attempts }, 'MQTT broker unreachable; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) this.client?.reconnect();
    }, delay);
    // Not unref'd: while the broker is away this timer is what keeps `guardian collect` alive.
  }

  /** Resolves once no message has arrived for `quietMs` (or after `maxMs`): the broker has handed over what it had. */
  async waitIdle(quietMs: number, maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (Date.now() < deadline && Date.now() - this.lastMessageAt < quietMs) {
      await new Promise((r) => setTimeout(r, Math.min(quietMs, 50)));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
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
