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
  /** TLS for mqtts:// and wss://: the CA that signed the broker's certificate, and a client certificate and key (PEM). */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer; readonly rejectUnauthorized: boolean };
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

/** Why a broker connection failed for good: retrying with the same settings cannot succeed. */
export type BrokerRefusal = 'credentials' | 'client_id' | 'certificate' | 'client_certificate' | 'tls' | 'subscription';

/** MQTT 3.1.1 CONNACK return codes and MQTT 5 reason codes that refuse this client as configured. */
const REFUSED_CODES: ReadonlyMap<number, BrokerRefusal> = new Map([
  [2, 'client_id'], // 3.1.1: identifier rejected
  [4, 'credentials'], // 3.1.1: bad user name or password
  [5, 'credentials'], // 3.1.1: not authorized
  [133, 'client_id'], // 5: client identifier not valid
  [134, 'credentials'], // 5: bad user name or password
  [135, 'credentials'], // 5: not authorized
  [138, 'credentials'], // 5: banned
  [140, 'credentials'], // 5: bad authentication method
]);

/**
 * Whether a connection error is a refusal that retrying cannot fix — wrong credentials, a client id
 * the broker will not take, a certificate that does not verify, a TLS handshake the broker ends —
 * and which; undefined for what may pass (refused or reset connection, name lookup, time-out).
 */
export function refusalOf(error: unknown): BrokerRefusal | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return REFUSED_CODES.get(code);
  if (typeof code !== 'string') return undefined;
  // TLS alerts the broker sent: about our certificate (missing, unknown CA, expired) or the handshake.
  if (code.startsWith('ERR_SSL_')) return /ALERT_(CERTIFICATE_|BAD_CERTIFICATE|UNKNOWN_CA|UNSUPPORTED_CERTIFICATE)/.test(code) ? 'client_certificate' : 'tls';
  // Our verification of the broker's certificate (Node's X509 error codes).
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT)/.test(code)) return 'certificate';
  return undefined;
}

/** An error's message, with an OpenSSL error string cut down to its reason ("tlsv13 alert certificate required"). */
function describeError(error: Error): string {
  // OpenSSL 3: <thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<data>
  const parts = error.message.split(':');
  return parts.length >= 7 && parts[1] === 'error' ? parts[5]! : error.message;
}

/**
 * `topic (reason code N)` of each subscription the broker refused: from the grants mqtt.js passes,
 * or on MQTT 5 from the SUBACK it attaches to the error it raises instead.
 */
export function refusedSubscriptions(topics: readonly string[], granted: readonly { qos: number }[] | undefined, error: unknown): string[] {
  // With the error, mqtt.js's grants may be empty; the SUBACK's own codes are the answer then.
  const fromSuback: unknown = (error as { packet?: { granted?: unknown } } | null | undefined)?.packet?.granted;
  const codes: unknown = Array.isArray(fromSuback) ? fromSuback : granted?.map((g) => g.qos);
  if (!Array.isArray(codes)) return [];
  return codes.flatMap((code: unknown, i) => (typeof code === 'number' && code >= 0x80 ? [`${topics[i] ?? '?'} (reason code ${code})`] : []));
}

/** The broker turned the collector away at start-up for a reason retrying cannot fix. */
export class BrokerRefusedError extends Error {
  constructor(
    readonly refusal: BrokerRefusal,
    readonly url: string,
    cause: Error,
  ) {
    const code = (cause as { code?: unknown }).code;
    const what = refusal === 'subscription' ? 'the subscription' : 'the connection';
    super(`MQTT broker ${redact(url)} refused ${what}: ${describeError(cause)}${typeof code === 'string' ? ` (${code})` : ''}`, { cause });
    this.name = 'BrokerRefusedError';
  }
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
  /** The last connection error logged since the connection closed (mqtt.js may emit one twice). */
  private lastError: string | undefined;
  /** The connection whose acknowledgements are held until the spool commits. */
  private corked: MqttClient['stream'] | undefined;
  /** The broker has granted the subscription on the current connection. */
  private subscribed = false;

  constructor(private readonly options: MqttCollectorOptions) {}

  /** When the last message arrived (epoch ms; 0 before the first). */
  get lastMessageTime(): number {
    return this.lastMessageAt;
  }

  /**
   * Connected and subscribed: from here on the broker routes what is published to us. Between the
   * broker's CONNACK and its SUBACK a message published to a session without the subscription yet
   * is acknowledged to its publisher and dropped ("no matching subscribers").
   */
  get connected(): boolean {
    return this.subscribed && (this.client?.connected ?? false);
  }

  /**
   * Connects and subscribes. Resolves on the first successful subscription, or once the first
   * attempt has failed for a reason that may pass (broker down or unreachable): then the collector
   * goes on trying in the background, with back-off, and the rest of the service starts without
   * it. Rejects with a {@link BrokerRefusedError} when the broker turns this client away for good
   * (credentials, client id, certificate) or refuses the subscription.
   */
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
      ...(tls?.ca && { ca: tls.ca }),
      ...(tls?.cert && { cert: tls.cert }),
      ...(tls?.key && { key: tls.key }),
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
          () => {
            // Handled after a wait (a device registered by its first message), its samples were
            // appended only now: the acknowledgement waits for the end-of-turn spool write too.
            this.holdAcksUntilSpooled(client);
            done();
          },
          (error: unknown) => done(error as Error),
        );
    };
    const topics = subscriptionsFor(topicPrefix, this.options.sharedGroup);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve();
      };
      client.on('connect', (connack) => {
        this.attempts = 0;
        this.lastError = undefined;
        this.subscribed = false;
        logger.debug({ url: redact(url), clientId, sessionPresent: connack.sessionPresent, topics }, 'MQTT broker accepted the connection; subscribing');
        client.subscribe(topics, { qos: 1 }, (error, granted) => {
          const refused = refusedSubscriptions(topics, granted, error);
          if (error || refused.length > 0) {
            const reason = refused.length > 0 ? new Error(refused.join(', ')) : (error ?? new Error('subscription failed'));
            logger.error({ err: reason, topics }, 'MQTT subscription failed');
            if (!settled) {
              this.stopping = true;
              client.end(true);
              // A broker that answers with a refusal code will answer the same next time (its access control).
              settle(refused.length > 0 ? new BrokerRefusedError('subscription', url, reason) : reason);
            }
            return;
          }
          // Said only now, with the subscription granted: whoever waits for this line (an operator,
          // a script, the fault tests) or for readiness may publish at once and lose nothing.
          this.subscribed = true;
          metrics.mqttConnected.set(1);
          logger.info({ url: redact(url), clientId, sessionPresent: connack.sessionPresent, topics }, this.connectedOnce ? 'reconnected to MQTT broker' : 'connected to MQTT broker');
          this.connectedOnce = true;
          settle();
        });
      });
      client.on('close', () => {
        this.subscribed = false;
        metrics.mqttConnected.set(0);
        this.lastError = undefined;
        this.scheduleReconnect();
        if (!settled && !this.stopping) {
          logger.warn({ url: redact(url) }, 'MQTT broker not reachable yet; starting without it and connecting in the background');
          settle();
        }
      });
      client.on('error', (error) => {
        // Ended on purpose (refused at start-up, or stopping): what follows is the same error again.
        if (this.stopping) return;
        const refusal = refusalOf(error);
        // Turned away at start-up: the settings are wrong, and no retry will fix them.
        if (refusal && !this.connectedOnce && !settled) {
          this.stopping = true;
          client.end(true);
          settle(new BrokerRefusedError(refusal, url, error));
          return;
        }
        if (error.message === this.lastError) return;
        this.lastError = error.message;
        // Once running, a refusal (a password or certificate changed on the broker) is retried
        // like an outage, so the collector comes back when the broker is fixed, but said louder.
        const fields = { err: error, url: redact(url), ...(refusal && { refusal }) };
        if (refusal) logger.error(fields, 'MQTT broker refused the connection');
        else logger.warn(fields, 'MQTT connection error');
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
