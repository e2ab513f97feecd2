import { createHash, timingSafeEqual } from 'node:crypto';
import type { Client } from 'aedes';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { TOPIC_KINDS } from '../../collectors/topic.js';
import { ID_PATTERN } from '../kernel/device.js';

/** Who a connection to the embedded broker is, once authenticated. */
export type BrokerIdentity =
  | { readonly kind: 'engine' }
  | {
      readonly kind: 'device';
      readonly deviceId: string;
      /** How it proved it: its own credential, the enrolment secret, or a client certificate naming it. */
      readonly via: 'credential' | 'enrolment' | 'certificate';
      /**
       * The `createdAt` of the credential it proved itself with (via `credential`): another
       * credential in the database than this one (rotated) ends the connection. Compared for
       * equality, so engines on one database need not agree on the time.
       */
      readonly credentialCreatedAt?: number;
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

/**
 * What a device's user name and password came to (the devices feature's credential check): `ok`
 * with the matched credential's `createdAt`; without a password (a certificate proved the name)
 * `live` with it when the device has a credential that is not revoked.
 */
export type DeviceCheck = { readonly result: 'ok' | 'live'; readonly createdAt: number } | { readonly result: 'unknown' | 'revoked' | 'wrong' };

export interface BrokerAccessOptions {
  /** First topic level of the fleet's topics (`mqtt.topicPrefix`). */
  readonly topicPrefix: string;
  /** The engine's own identity: its clients may read everything; its client id is reserved to it. */
  readonly engine: { readonly username: string; readonly password: string; readonly clientId: string };
  /**
   * Checks a device's credential (user name = device id). `password` undefined: a client
   * certificate proved the name, and only whether its credential is revoked is looked up (no hash).
   */
  checkDevice(username: string, password: string | undefined): Promise<DeviceCheck>;
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
   * The brake on guessing: an address that failed this many logins as one user name (wrong
   * password, unknown device, a user name that is no device id) within `windowMs` is refused at
   * once as that user name, without a password check, until the window ends. Default 20 a minute.
   * Other user names from the same address (its neighbours behind a NAT, the engine's own
   * collector) are not held back; the engine's user is never throttled.
   */
  readonly failureLimit?: { readonly count: number; readonly windowMs: number };
  /** The clock of the failure windows (Date.now by default). */
  readonly now?: () => number;
}

/** Refusals that say the client guessed: they count against its address and user name. */
const GUESSES: ReadonlySet<RefusalReason> = new Set(['bad_username', 'unknown_device', 'bad_password']);

/** At most this many address and user name pairs are remembered; the oldest go first. */
const MAX_FAILURE_ENTRIES = 10_000;

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
 * A publish is checked against the device's registered site as it is now, and its last level
 * against the kinds of the MQTT contract (`collectors/topic.ts`).
 */
export class BrokerAccess {
  private readonly identities = new WeakMap<Client, BrokerIdentity>();
  private readonly engineUser: Buffer;
  private readonly enginePassword: Buffer;
  private readonly refused: Counter<'action' | 'reason'> | undefined;
  private readonly log: RefusalLog;
  private readonly prefix: string;
  /** Failed logins per client address and user name in the current window, oldest first. */
  private readonly failures = new Map<string, { count: number; since: number }>();
  /** Bumped at every credential change here: a check that overlapped one is made again. */
  private changes = 0;
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
  static device(deviceId: string, via: 'credential' | 'enrolment' | 'certificate', credentialCreatedAt?: number): BrokerIdentity {
    return { kind: 'device', deviceId, via, ...(credentialCreatedAt !== undefined && { credentialCreatedAt }) };
  }

  /**
   * A device credential was issued or revoked here (its connections are being closed): a
   * connection whose check was under way then is checked again, so it cannot stay on with the
   * credential just replaced.
   */
  credentialChanged(): void {
    this.changes++;
  }

  /** `checkDevice`, made again when a credential changed meanwhile. */
  private async lookUp(username: string, password: string | undefined): Promise<DeviceCheck> {
    for (let attempt = 0; ; attempt++) {
      const before = this.changes;
      const check = await this.options.checkDevice(username, password);
      if (this.changes === before || attempt >= 2) return check;
    }
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
      if (GUESSES.has(reason)) this.noteFailure(address, username);
      this.refuse('connect', reason, { clientId: client.id, username, address, ...extra }, message);
      throw new AuthError(code, message);
    };
    const run = async (): Promise<BrokerIdentity> => {
      const { engine } = this.options;
      const unavailable = (error: unknown, device: string): never => {
        this.options.logger.error({ err: error, device }, 'could not check a device credential');
        return fail(AUTH_CODES.SERVER_UNAVAILABLE, 'unavailable', 'MQTT connection refused: device credentials cannot be checked now');
      };
      let identity: BrokerIdentity;
      const isEngineUser = username !== undefined && timingSafeEqual(digest(username), this.engineUser);
      if (presetIdentity && username === undefined) {
        // A certificate proves the name; a revoked credential still shuts the device out, and
        // while that cannot be looked up the device waits (it is not let in unchecked).
        if (presetIdentity.kind === 'device') {
          let check: DeviceCheck;
          try {
            check = await this.lookUp(presetIdentity.deviceId, undefined);
          } catch (error) {
            return unavailable(error, presetIdentity.deviceId);
          }
          if (check.result === 'revoked') {
            return fail(AUTH_CODES.NOT_AUTHORIZED, 'revoked', 'MQTT connection with a certificate of a device whose credential is revoked refused', { device: presetIdentity.deviceId });
          }
        }
        identity = presetIdentity;
      } else if (username === undefined || username === '') {
        return fail(AUTH_CODES.NOT_AUTHORIZED, 'anonymous', 'MQTT connection without credentials refused');
      } else if (isEngineUser) {
        // Before the brake: guesses at the engine's user (a 192-bit secret, compared in constant
        // time) must not lock the engine's own collector out.
        if (!password || !timingSafeEqual(digest(password), this.enginePassword)) {
          return fail(AUTH_CODES.BAD_USERNAME_OR_PASSWORD, 'engine_password', "MQTT connection as the engine's user with a wrong password refused");
        }
        identity = { kind: 'engine' };
      } else if (this.throttled(address, username)) {
        return fail(
          AUTH_CODES.NOT_AUTHORIZED,
          'throttled',
          `MQTT connection refused: more than ${this.failureLimit.count} failed logins as this user name from this address within ${this.failureLimit.windowMs / 1000} s`,
        );
      } else if (!ID_PATTERN.test(username)) {
        return fail(AUTH_CODES.BAD_USERNAME_OR_PASSWORD, 'bad_username', 'MQTT connection with a user name that is no device id refused');
      } else {
        const secret = password?.toString('utf8') ?? '';
        let check: DeviceCheck;
        try {
          check = await this.lookUp(username, secret);
        } catch (error) {
          return unavailable(error, username);
        }
        if (check.result === 'ok') identity = BrokerAccess.device(username, 'credential', check.createdAt);
        else if (check.result === 'unknown' && this.isEnrolmentSecret(password)) identity = BrokerAccess.device(username, 'enrolment');
        else if (check.result === 'revoked') return fail(AUTH_CODES.NOT_AUTHORIZED, 'revoked', 'MQTT connection with a revoked device credential refused');
        else if (check.result === 'wrong' || check.result === 'live') return fail(AUTH_CODES.BAD_USERNAME_OR_PASSWORD, 'bad_password', 'MQTT connection with a wrong device password refused');
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

  private throttled(address: string | undefined, username: string): boolean {
    if (address === undefined) return false;
    const key = failureKey(address, username);
    const entry = this.failures.get(key);
    if (!entry) return false;
    if (this.now() - entry.since >= this.failureLimit.windowMs) {
      this.failures.delete(key);
      return false;
    }
    return entry.count >= this.failureLimit.count;
  }

  private noteFailure(address: string | undefined, username: string | undefined): void {
    if (address === undefined || username === undefined) return;
    const key = failureKey(address, username);
    const now = this.now();
    const entry = this.failures.get(key);
    if (entry && now - entry.since < this.failureLimit.windowMs) {
      entry.count++;
      return;
    }
    // A new window goes to the end of the map (insertion order), so the first entries are the oldest.
    this.failures.delete(key);
    // Bounded: the oldest windows make room; the brakes of the others hold.
    while (this.failures.size >= MAX_FAILURE_ENTRIES) this.failures.delete(this.failures.keys().next().value!);
    this.failures.set(key, { count: 1, since: now });
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
    if (identity && this.ownTopic(identity.deviceId, topic)) return true;
    this.refuse(
      'publish',
      'foreign_topic',
      { clientId: client.id, identity: identity ? describe(identity) : 'none', topic: topic.slice(0, 200), address: remoteAddress(client) },
      'MQTT publish outside the device’s own topics refused; the connection is closed',
    );
    return false;
  }

  /**
   * `{prefix}/{site}/{device}/{kind}` with the device's registered site (any site before it is
   * registered) and a kind of the MQTT contract.
   */
  private ownTopic(deviceId: string, topic: string): boolean {
    if (!topic.startsWith(this.prefix)) return false;
    const siteEnd = topic.indexOf('/', this.prefix.length);
    if (siteEnd <= this.prefix.length) return false;
    const site = topic.slice(this.prefix.length, siteEnd);
    const deviceStart = siteEnd + 1;
    if (!topic.startsWith(`${deviceId}/`, deviceStart)) return false;
    const kind = topic.slice(deviceStart + deviceId.length + 1);
    if (!(TOPIC_KINDS as readonly string[]).includes(kind)) return false;
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
   * database (changed by another engine, say): a credential revoked, or another one than the
   * connection proved itself with (rotated, or given to a scanner that had enrolled). Credentials
   * are told apart by `createdAt`, compared for equality: no clocks are compared.
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
          ? !live || held.createdAt !== identity.credentialCreatedAt
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

function failureKey(address: string, username: string): string {
  return `${address}\n${username}`;
}

function remoteAddress(client: Client): string | undefined {
  const conn = client.conn as { remoteAddress?: string } | undefined;
  return conn?.remoteAddress;
}
