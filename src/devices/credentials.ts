import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { DeviceCredentialStore, StoredDeviceCredential } from '../kernel/ports/device-credential-store.js';

const pbkdf2Async = promisify(pbkdf2);

/**
 * PBKDF2-SHA512 rounds of a new hash. The secrets are 192 random bits, not memorised passwords: no
 * amount of stretching changes what it takes to guess one (NIST SP 800-63B asks for stretching of
 * memorised secrets only). The rounds keep a leaked table from being a lookup table, and each
 * check about a millisecond, so a fleet reconnecting at once after a restart (each connection
 * checked once) is not a load: at 20,000 rounds, 200 scanners connecting cost the ingest benchmark
 * 60 % more CPU per message over 60,000 messages. Mosquitto's own default is 101.
 */
export const PBKDF2_ITERATIONS = 1_000;
/** Mosquitto's salt and key lengths for `$7$` hashes. */
const SALT_BYTES = 12;
const KEY_BYTES = 64;

/** A new random secret: 24 bytes, base64url (32 characters). */
export function generateSecret(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * PBKDF2-SHA512 of a secret in Mosquitto's password-file format, `$7$<iterations>$<salt>$<hash>`
 * (standard base64), the format `mosquitto_passwd` writes since Mosquitto 2.0.
 */
export async function hashSecret(secret: string, iterations = PBKDF2_ITERATIONS, salt: Buffer = randomBytes(SALT_BYTES)): Promise<string> {
  const key = await pbkdf2Async(Buffer.from(secret, 'utf8'), salt, iterations, KEY_BYTES, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `secret` matches a `$7$` hash, compared in constant time; false for anything malformed. */
export async function verifySecret(secret: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  // ['', '7', iterations, salt, hash]
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== '7') return false;
  const iterations = Number(parts[2]);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000) return false;
  const salt = Buffer.from(parts[3]!, 'base64');
  const expected = Buffer.from(parts[4]!, 'base64');
  if (salt.length === 0 || expected.length === 0) return false;
  const key = await pbkdf2Async(Buffer.from(secret, 'utf8'), salt, iterations, expected.length, 'sha512');
  return timingSafeEqual(key, expected);
}

/** A line of a Mosquitto password file (`password_file`). */
export function passwordFileLine(username: string, secretHash: string): string {
  return `${username}:${secretHash}`;
}

/** A credential just issued: the only time its secret is seen. */
export interface IssuedDeviceCredential {
  readonly deviceId: string;
  readonly username: string;
  readonly password: string;
  /** The hash kept in the database (the password-file entry's second half). */
  readonly secretHash: string;
  readonly createdAt: number;
  /** True when it replaced a credential the device had. */
  readonly rotated: boolean;
}

/** A credential's record without its hash, for lists and the API. */
export interface DeviceCredentialInfo {
  readonly deviceId: string;
  readonly username: string;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly revokedAt?: number;
}

/**
 * What a connection's user name and password came to: `ok` with the `createdAt` of the credential
 * that matched (it tells that credential from a later one). Without a password (a client
 * certificate proved the name), `live` with it when the device has a credential not revoked.
 */
export type CredentialCheck = { readonly result: 'ok' | 'live'; readonly createdAt: number } | { readonly result: 'unknown' | 'revoked' | 'wrong' };

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Issues, rotates, revokes and checks device credentials. The user name is the device id; the
 * secret is random and shown once; the database keeps its PBKDF2 hash only.
 *
 * A check reads the device's row (so a credential issued or revoked by another engine on the same
 * database counts at the next connection), and runs PBKDF2 only when the secret differs from the
 * last one that matched that same hash: a device reconnecting costs one indexed read.
 */
export class DeviceCredentialService {
  private readonly now: () => number;
  private readonly iterations: number;
  private readonly verify: (secret: string, encoded: string) => Promise<boolean>;
  /** username → the stored hash and the digest of the secret last found to match it. */
  private readonly verified = new Map<string, { readonly hash: string; readonly digest: Buffer }>();
  private readonly listeners: Array<(deviceId: string, change: 'issued' | 'revoked') => void> = [];

  constructor(
    private readonly store: DeviceCredentialStore,
    options: { now?: () => number; iterations?: number; verify?: (secret: string, encoded: string) => Promise<boolean> } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.iterations = options.iterations ?? PBKDF2_ITERATIONS;
    this.verify = options.verify ?? verifySecret;
  }

  /** Called after a credential is issued (or rotated) or revoked here: the broker drops the device's connections. */
  onChange(listener: (deviceId: string, change: 'issued' | 'revoked') => void): void {
    this.listeners.push(listener);
  }

  /** Issues a credential for a device, replacing the one it had (rotation). */
  async issue(deviceId: string, by: string): Promise<IssuedDeviceCredential> {
    const previous = await this.store.get(deviceId);
    const password = generateSecret();
    const secretHash = await hashSecret(password, this.iterations);
    const createdAt = this.now();
    await this.store.put({ deviceId, username: deviceId, secretHash, createdAt, createdBy: by });
    this.verified.delete(deviceId);
    for (const listener of this.listeners) listener(deviceId, 'issued');
    return { deviceId, username: deviceId, password, secretHash, createdAt, rotated: previous !== undefined && previous.revokedAt === undefined };
  }

  /** Revokes a device's credential; false when it has no live one. */
  async revoke(deviceId: string): Promise<boolean> {
    const revoked = await this.store.revoke(deviceId, this.now());
    this.verified.delete(deviceId);
    if (revoked) for (const listener of this.listeners) listener(deviceId, 'revoked');
    return revoked;
  }

  async get(deviceId: string): Promise<DeviceCredentialInfo | undefined> {
    const stored = await this.store.get(deviceId);
    return stored && info(stored);
  }

  /** Every credential with its hash: what a broker's password file is made from. */
  list(): Promise<StoredDeviceCredential[]> {
    return this.store.list();
  }

  /**
   * Checks a connection's user name (the device id) and password. Without a password only the
   * credential's state is read (one indexed read, nothing hashed): `live`, `revoked` or `unknown`.
   */
  async check(username: string, password: string | undefined): Promise<CredentialCheck> {
    const stored = await this.store.get(username);
    if (!stored) return { result: 'unknown' };
    if (stored.revokedAt !== undefined) return { result: 'revoked' };
    const ok = { result: 'ok', createdAt: stored.createdAt } as const;
    if (password === undefined) return { result: 'live', createdAt: stored.createdAt };
    const given = digest(password);
    const cached = this.verified.get(username);
    if (cached && cached.hash === stored.secretHash && timingSafeEqual(cached.digest, given)) return ok;
    if (!(await this.verify(password, stored.secretHash))) return { result: 'wrong' };
    // Bounded: one entry per device that connected.
    if (this.verified.size >= 100_000) this.verified.clear();
    this.verified.set(username, { hash: stored.secretHash, digest: given });
    return ok;
  }
}

function info(stored: StoredDeviceCredential): DeviceCredentialInfo {
  return {
    deviceId: stored.deviceId,
    username: stored.username,
    createdAt: stored.createdAt,
    createdBy: stored.createdBy,
    ...(stored.revokedAt !== undefined && { revokedAt: stored.revokedAt }),
  };
}
