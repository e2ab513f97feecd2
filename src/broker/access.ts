import { createHash, timingSafeEqual } from 'node:crypto';
import type { Client } from 'aedes';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { ID_PATTERN } from '../kernel/device.js';

/** Who a connection to the embedded broker is, once authenticated. */
export type BrokerIdentity =
  | { readonly kind: 'engine' }
  | {
      readonly kind: 'device';
      readonly deviceId: string;
      /** How it proved it: its own credential, the enrolment secret, or a client certificate naming it. */
      readonly via: 'credential' | 'enrolment' | 'certificate';
      /** Topics this connection was already allowed to publish on (a device uses three or so). */
      readonly allowed: Set<string>;
      /** When it proved it (epoch ms): a credential issued later replaced the one it used. */
      readonly since: number;
    };

/** Why a connection, publish or subscription was refused; the `reason` label of the counter. */
export type RefusalReason =
  | 'anonymous'
  | 'bad_username'
  | 'unknown_device'
  | 'bad_password'
  | 'revoked'
  | 'engine_password'
  | 'engine_client_id'
  | 'client_id_in_use'
  | 'certificate'
  | 'unavailable'
  | 'throttled'
  | 'foreign_topic'
  | 'subscription';

/** What a device's user name and password came to (the devices feature's credential check). */
export type DeviceCheck = 'ok' | 'unknown' | 'revoked' | 'wrong';

export interface BrokerAccessOptions {
  /** First topic level of the fleet's topics (`mqtt.topicPrefix`). */
  readonly topicPrefix: string;
  /** The engine's own identity: its clients may read everything; its client id is reserved to it. */
  readonly engine: { readonly username: string; readonly password: string; readonly clientId: string };
  /** Checks a device's credential (user name = device id). */
  checkDevice(username: string, password: string): Promise<DeviceCheck>;
  /** The site a registered device belongs to; undefined while it is not registered. */
  siteOf(deviceId: string): string | undefined;
  /**
   * Accepts a device with no credential of its own that presents this secret (auto-registration);
   * read at every connection, so it can be turned off while running.
   */
  enrolmentSecret(): string | undefined;
  readonly logger: Logger;
  readonly metrics?: Registry;
  /**
   * The brake on guessing: an address that failed this many logins (wrong password, unknown
   * device, a user name that is no device id) within `windowMs` is refused at once, without a
   * password check, until the window ends. Default 20 a minute.
   */
  readonly failureLimit?: { readonly count: number; readonly windowMs: number };
  /** The clock credentials are dated by (when a connection proved itself is compared with it). */
  readonly now?: () => number;
}

/** Refusals that say the client guessed: they count against its address. */
const GUESSES: ReadonlySet<RefusalReason> = new Set(['bad_username', 'unknown_device', 'bad_password', 'engine_password']);

const AUTH_CODES = { BAD_USERNAME_OR_PASSWORD: 4, NOT_AUTHORIZED: 5, IDENTIFIER_REJECTED: 2, SERVER_UNAVAILABLE: 3 } as const;

class AuthError extends Error {
  constructor(
    readonly returnCode: 2 | 3 | 4 | 5,
    message: string,
  ) {
    super(message);
  }
}

const digest = (data: string | Buffer): Buffer => createHash('sha256').update(data).digest();

/** Logs at most `perMinute` refusals a minute, then one line with how many were left out. */
class RefusalLog {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly perMinute = 30,
  ) {}

  warn(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.windowStart >= 60_000) {
      if (this.suppressed > 0) this.logger.warn({ suppressed: this.suppressed }, 'MQTT refusals not logged in the last minute (counted in guardian_mqtt_refused_total)');
      this.windowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged++ < this.perMinute) this.logger.warn(fields, message);
    else this.suppressed++;
  }
}

/**
 * Access control of the embedded broker: every connection authenticates (anonymous ones are
 * refused), a device publishes only under `{prefix}/{site}/{device}/…` of its own and subscribes
 * to nothing else, and only the engine's own identity may read the fleet (`#`, `$SYS/#`) or use
 * its client id. Refusals are logged (bounded) and counted in `guardian_mqtt_refused_total`.
 *
 * A publish is checked against the topics the connection was already allowed, a set lookup; the
 * topic is parsed only the first time.
 */
export class BrokerAccess {
  private readonly identities = new WeakMap<Client, BrokerIdentity>();
  private readonly engineUser: Buffer;
  private readonly enginePassword: Buffer;
  private readonly refused: Counter<'action' | 'reason'> | undefined;
  private readonly log: RefusalLog;
  private readonly prefix: string;
  /** Failed logins per client address in the current window. */
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly failureLimit: { readonly count: number; readonly windowMs: number };

  private readonly now: () => number;

  constructor(private readonly options: BrokerAccessOptions) {
    this.now = options.now ?? Date.now;
    this.failureLimit = options.failureLimit ?? { count: 20, windowMs: 60_000 };
    this.engineUser = digest(options.engine.username);
    this.enginePassword = digest(options.engine.password);
    this.prefix = `${options.topicPrefix}/`;
    this.log = new RefusalLog(options.logger);
    this.refused =
      options.metrics &&
      new Counter({
        name: 'guardian_mqtt_refused_total',
        help: 'Connections, publishes and subscriptions the embedded MQTT broker refused, by action and reason',
        labelNames: ['action', 'reason'],
        registers: [options.metrics],
      });
  }

  /** The identity of a connected client (undefined before it authenticated). */
  identityOf(client: Client): BrokerIdentity | undefined {
    return this.identities.get(client);
  }

  /** Notes an identity proved outside `authenticate` (a verified client certificate). */
  assign(client: Client, identity: BrokerIdentity): void {
    this.identities.set(client, identity);
  }

  /** A device identity for a client that proved it is `deviceId`. */
  static device(deviceId: string, via: 'credential' | 'enrolment' | 'certificate', since = Date.now()): BrokerIdentity {
    return { kind: 'device', deviceId, via, allowed: new Set(), since };
  }

  private refuse(action: 'connect' | 'publish' | 'subscribe', reason: RefusalReason, fields: Record<string, unknown>, message: string): void {
    this.refused?.inc({ action, reason });
    this.log.warn({ action, reason, ...fields }, message);
  }

  /** aedes `authenticate`. `clientsById` is the broker's map of connected clients, for the takeover check. */
  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    clientsById: () => Record<string, Client | undefined>,
    presetIdentity?: BrokerIdentity,
  ): Promise<BrokerIdentity> {
    const address = remoteAddress(client);
    const fail = (code: 2 | 3 | 4 | 5, reason: RefusalReason, message: string, extra: Record<string, unknown> = {}): never => {
      if (GUESSES.has(reason)) this.noteFailure(address);
      this.refuse('connect', reason, { clientId: client.id, username, address, ...extra }, message);
      throw new AuthError(code, message);
    };
    const run = async (): Promise<BrokerIdentity> => {
      const { engine } = this.options;
      if (this.throttled(address)) {
        return fail(AUTH_CODES.NOT_AUTHORIZED, 'throttled', `MQTT connection refused: more than ${this.failureLimit.count} failed logins from this address within ${this.failureLimit.windowMs / 1000} s`);
      }
      let identity: BrokerIdentity;
      const isEngineUser = username !== undefined && timingSafeEqual(digest(username), this.engineUser);
      if (presetIdentity && username === undefined) {
        // A certificate proves the name; a revoked credential still shuts the device out.
        if (presetIdentity.kind === 'device' && (await this.options.checkDevice(presetIdentity.deviceId, '').catch(() => 'unknown' as const)) === 'revoked') {
          return fail(AUTH_CODES.NOT_AUTHORIZED, 'revoked', 'MQTT connection with a certificate of a device whose credential is revoked refused', { device: presetIdentity.deviceId });
        }
        identity = presetIdentity;
      } else if (username === undefined || username === '') {
        return fail(AUTH_CODES.NOT_AUTHORIZED, 'anonymous', 'MQTT connection without credentials refused');
      } else if (isEngineUser) {
        if (!password || !timingSafeEqual(digest(password), this.enginePassword)) {
          return fail(AUTH_CODES.BAD_USERNAME_OR_PASSWORD, 'engine_password', "MQTT connection as the engine's user with a wrong password refused");
        }
        identity = { kind: 'engine' };
      } else if (!ID_PATTERN.test(username)) {
        return fail(AUTH_CODES.BAD_USERNAME_OR_PASSWORD, 'bad_username', 'MQTT connection with a user name that is no device id refused');
      } else {
        const secret = password?.toString('utf8') ?? '';
        let check: DeviceCheck;
        try {
          check = await this.options.checkDevice(username, secret);
        } catch (error) {
          this.options.logger.error({ err: error, username }, 'could not check a device credential');
          return fail(AUTH_CODES.SERVER_UNAVAILABLE, 'unavailable', 'MQTT connection refused: device credentials cannot be checked now');
        }
        if (check === 'ok') identity = BrokerAccess.device(username, 'credential', this.now());
        else if (check === 'unknown' && this.isEnrolmentSecret(password)) identity = BrokerAccess.device(username, 'enrolment', this.now());
        else if (check === 'revoked') return fail(AUTH_CODES.NOT_AUTHORIZED, 'revoked', 'MQTT connection with a revoked device credential refused');
        else if (check === 'wrong') return fail(AUTH_CODES.BAD_USERNAME_OR_PASSWORD, 'bad_password', 'MQTT connection with a wrong device password refused');
        else return fail(AUTH_CODES.NOT_AUTHORIZED, 'unknown_device', 'MQTT connection of a device without a credential refused');
      }
      // The engine's client id is its own: taking it over would cut the collector off.
      if (client.id === engine.clientId && identity.kind !== 'engine') {
        return fail(AUTH_CODES.IDENTIFIER_REJECTED, 'engine_client_id', "MQTT connection using the engine's client id without the engine's credential refused (takeover attempt)", {
          identity: describe(identity),
        });
      }
      // Nor may one device (or anyone) take over the session of a connection of another identity.
      const holder = clientsById()[client.id];
      const held = holder && holder !== client ? this.identities.get(holder) : undefined;
      if (held && !sameIdentity(held, identity)) {
        return fail(AUTH_CODES.IDENTIFIER_REJECTED, 'client_id_in_use', 'MQTT connection refused: its client id is in use by another identity', { identity: describe(identity), holder: describe(held) });
      }
      this.identities.set(client, identity);
      return identity;
    };
    return run();
  }

  private throttled(address: string | undefined): boolean {
    const entry = address === undefined ? undefined : this.failures.get(address);
    if (!entry) return false;
    if (Date.now() - entry.since >= this.failureLimit.windowMs) {
      this.failures.delete(address!);
      return false;
    }
    return entry.count >= this.failureLimit.count;
  }

  private noteFailure(address: string | undefined): void {
    if (address === undefined) return;
    const now = Date.now();
    const entry = this.failures.get(address);
    if (entry && now - entry.since < this.failureLimit.windowMs) {
      entry.count++;
      return;
    }
    // Bounded: one entry per address that failed within a window.
    if (this.failures.size >= 10_000) this.failures.clear();
    this.failures.set(address, { count: 1, since: now });
  }

  private isEnrolmentSecret(password: Buffer | undefined): boolean {
    const secret = this.options.enrolmentSecret();
    return secret !== undefined && password !== undefined && timingSafeEqual(digest(password), digest(secret));
  }

  /** aedes `authorizePublish`: true when the client may publish on `topic`. */
  mayPublish(client: Client | null, topic: string): boolean {
    // The broker's own publishes (none today) have no client.
    if (!client) return true;
    const identity = this.identities.get(client);
    if (identity?.kind === 'engine') return true;
    if (identity && identity.allowed.has(topic)) return true;
    if (identity && this.ownTopic(identity.deviceId, topic)) {
      if (identity.allowed.size < 64) identity.allowed.add(topic);
      return true;
    }
    this.refuse(
      'publish',
      'foreign_topic',
      { clientId: client.id, identity: identity ? describe(identity) : 'none', topic: topic.slice(0, 200), address: remoteAddress(client) },
      'MQTT publish outside the device’s own topics refused; the connection is closed',
    );
    return false;
  }

  /** `{prefix}/{site}/{device}/…` with the device's registered site (any site before it is registered). */
  private ownTopic(deviceId: string, topic: string): boolean {
    if (!topic.startsWith(this.prefix)) return false;
    const siteEnd = topic.indexOf('/', this.prefix.length);
    if (siteEnd <= this.prefix.length) return false;
    const site = topic.slice(this.prefix.length, siteEnd);
    const deviceStart = siteEnd + 1;
    if (!topic.startsWith(`${deviceId}/`, deviceStart) || topic.length <= deviceStart + deviceId.length + 1) return false;
    const registered = this.options.siteOf(deviceId);
    return registered === undefined ? ID_PATTERN.test(site) : registered === site;
  }

  /** aedes `authorizeSubscribe`: true when the client may subscribe to `filter`. */
  maySubscribe(client: Client, filter: string): boolean {
    const identity = this.identities.get(client);
    if (identity?.kind === 'engine') return true;
    // A device may follow its own topics (commands to it, say), never the fleet's.
    if (identity) {
      const site = this.options.siteOf(identity.deviceId);
      const own = `${this.prefix}${site ?? '\0'}/${identity.deviceId}/`;
      if (filter.startsWith(own)) return true;
    }
    this.refuse(
      'subscribe',
      'subscription',
      { clientId: client.id, identity: identity ? describe(identity) : 'none', filter: filter.slice(0, 200), address: remoteAddress(client) },
      'MQTT subscription outside the device’s own topics refused',
    );
    return false;
  }

  /**
   * Connected scanners whose proof no longer holds by the credentials as they are now in the
   * database (changed by another engine, say): a credential revoked, or issued after the
   * connection proved itself (rotated, or given to a scanner that had enrolled).
   */
  outdated(clients: Iterable<Client>, credentials: ReadonlyMap<string, { readonly createdAt: number; readonly revokedAt?: number }>): Client[] {
    const out: Client[] = [];
    for (const client of clients) {
      const identity = this.identities.get(client);
      if (identity?.kind !== 'device') continue;
      const held = credentials.get(identity.deviceId);
      const live = held !== undefined && held.revokedAt === undefined;
      const stale =
        identity.via === 'credential'
          ? !live || held.createdAt > identity.since
          : identity.via === 'enrolment'
            ? held !== undefined
            : held?.revokedAt !== undefined;
      if (stale) out.push(client);
    }
    return out;
  }

  /** Connected clients that are `deviceId` (to drop them when its credential changes). */
  clientsOf(deviceId: string, clients: Iterable<Client>): Client[] {
    const out: Client[] = [];
    for (const client of clients) {
      const identity = this.identities.get(client);
      if (identity?.kind === 'device' && identity.deviceId === deviceId) out.push(client);
    }
    return out;
  }
}

function sameIdentity(a: BrokerIdentity, b: BrokerIdentity): boolean {
  if (a.kind === 'engine' || b.kind === 'engine') return a.kind === b.kind;
  return a.deviceId === b.deviceId;
}

function describe(identity: BrokerIdentity): string {
  return identity.kind === 'engine' ? 'engine' : `device ${identity.deviceId} (${identity.via})`;
}

function remoteAddress(client: Client): string | undefined {
  const conn = client.conn as { remoteAddress?: string } | undefined;
  return conn?.remoteAddress;
}
