import { createHash, randomBytes } from 'node:crypto';
import type { Principal, Role } from './roles.js';

/** An API token as kept: its holder and role, never the token itself. */
export interface ApiToken {
  /** Who holds it; shown in work-order timelines. */
  readonly name: string;
  readonly role: Role;
  /** hospital role: the only site it sees. */
  readonly siteId?: string;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly revokedAt?: number;
}

/** A token to store: its record and the digest it is found by. */
export interface NewApiToken extends Omit<ApiToken, 'revokedAt'> {
  readonly digest: string;
}

export interface TokenPage {
  readonly limit: number;
  readonly offset: number;
}

export class TokenNameTakenError extends Error {
  /** `existing`: the name as kept, when it differs from the one asked for only in case or spacing. */
  constructor(name: string, existing?: string) {
    super(existing !== undefined && existing !== name ? `a token named ${existing} exists already; names are compared without case or spacing` : `a token named ${name} exists already`);
    this.name = 'TokenNameTakenError';
  }
}

/**
 * Names that stand for someone other than a token's holder in work-order timelines and the audit
 * trail: the configured admin token (`admin`), a caller without a valid token (`anonymous`) and
 * the engine's own steps. No token may take one, in any case or spacing.
 */
export const RESERVED_TOKEN_NAMES = ['admin', 'anonymous', 'system', 'engine', 'guardian'] as const;

export class ReservedTokenNameError extends Error {
  constructor(name: string, reserved: string) {
    super(`the token name ${JSON.stringify(name)} is reserved (${reserved}); reserved names: ${RESERVED_TOKEN_NAMES.join(', ')}`);
    this.name = 'ReservedTokenNameError';
  }
}

/**
 * A token name as names are compared: compatibility forms folded (full-width letters are the
 * letters), lower case, runs of spaces as one. Two names with the same key are the same holder.
 */
export function tokenNameKey(name: string): string {
  return name.normalize('NFKC').toLowerCase().replace(/[\s\p{Cf}]+/gu, ' ').trim();
}

/** The reserved name `name` stands for, ignoring case and every space (`" Ad min "` is `admin`); undefined if none. */
export function reservedTokenName(name: string): string | undefined {
  const bare = tokenNameKey(name).replaceAll(' ', '');
  return RESERVED_TOKEN_NAMES.find((reserved) => reserved === bare);
}

/**
 * Where API tokens are kept (the SQL table `api_tokens`, shared by every engine on the database).
 * Only a digest of each token is stored; a token is found by its digest.
 */
export interface TokenStore {
  /**
   * Stores a new token; a name in use, live or revoked, is refused with TokenNameTakenError. Names
   * are compared by `tokenNameKey`: `Chen` and `chen` are one holder.
   */
  insert(token: NewApiToken): Promise<void>;
  /** The holder of the live (not revoked) token with this digest. */
  findLive(digest: string): Promise<Principal | undefined>;
  /** Oldest first; `total` counts every token, revoked ones too. */
  list(page: TokenPage): Promise<{ items: ApiToken[]; total: number }>;
  /** Revokes the live token of that name; false when there is none. */
  revoke(name: string, at: number): Promise<boolean>;
}

/** API tokens as the HTTP API uses them: check a presented one, issue, list and revoke. */
export interface ApiTokens {
  /** The principal of a presented token if it is live; rejects when the store cannot be asked. */
  authenticate(token: string): Promise<Principal | undefined>;
  /** Issues a token; the token itself is in the answer only, never stored. A reserved name is refused with ReservedTokenNameError. */
  create(input: { name: string; role: Role; siteId?: string }, createdBy: string, now: number): Promise<{ token: string; record: ApiToken }>;
  list(page: TokenPage): Promise<{ items: ApiToken[]; total: number }>;
  revoke(name: string, now: number): Promise<boolean>;
}

export const tokenDigest = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Longest an answer may be reused: a token created or revoked on one engine counts on every other within this. */
export const MAX_TOKEN_CACHE_MS = 5_000;
export const DEFAULT_TOKEN_CACHE_MS = 2_000;

export interface TokenServiceOptions {
  /** How long a lookup's answer (found or not) is reused; 0 asks the store every time. At most 5 s. */
  readonly cacheMs?: number;
  /** Most answers kept; beyond it the oldest go first (random tokens must not grow memory). */
  readonly maxCached?: number;
  /** Monotonic milliseconds for the cache (not the domain clock, which tests move freely). */
  readonly clock?: () => number;
}

interface Cached {
  readonly principal: Principal | undefined;
  readonly until: number;
}

/**
 * API tokens with roles, checked against the store with a short cache. Several engines share one
 * database and each issues and revokes tokens, so none can hold the set in memory: a token is
 * looked up by digest, and the answer is reused for `cacheMs` at most. Creation and revocation
 * thus reach every engine within that time, and at once on the engine that made them.
 */
export class TokenService implements ApiTokens {
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<Principal | undefined>>();
  /** Bumped by each local revocation: a lookup that started before it is not remembered. */
  private revocations = 0;
  private readonly cacheMs: number;
  private readonly maxCached: number;
  private readonly clock: () => number;

  constructor(
    private readonly store: TokenStore,
    options: TokenServiceOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? DEFAULT_TOKEN_CACHE_MS;
    if (!(this.cacheMs >= 0 && this.cacheMs <= MAX_TOKEN_CACHE_MS)) throw new RangeError(`the token cache must be 0 to ${MAX_TOKEN_CACHE_MS} ms, not ${this.cacheMs}`);
    this.maxCached = options.maxCached ?? 10_000;
    this.clock = options.clock ?? (() => performance.now());
  }

  async authenticate(token: string): Promise<Principal | undefined> {
    const digest = tokenDigest(token);
    const cached = this.cache.get(digest);
    if (cached && cached.until > this.clock()) return cached.principal;
    // Concurrent requests with the same token share one lookup.
    const pending = this.inFlight.get(digest);
    if (pending) return pending;
    const revocations = this.revocations;
    // The answer is as old as the moment it was asked for: a slow query must not stretch how long
    // a token revoked on another engine keeps working here.
    const askedAt = this.clock();
    const lookup = this.store
      .findLive(digest)
      .then((principal) => {
        if (revocations === this.revocations) this.remember(digest, principal, askedAt);
        return principal;
      })
      .finally(() => {
        if (this.inFlight.get(digest) === lookup) this.inFlight.delete(digest);
      });
    this.inFlight.set(digest, lookup);
    return lookup;
  }

  async create(input: { name: string; role: Role; siteId?: string }, createdBy: string, now: number): Promise<{ token: string; record: ApiToken }> {
    const reserved = reservedTokenName(input.name);
    if (reserved !== undefined) throw new ReservedTokenNameError(input.name, reserved);
    const token = `rg_${randomBytes(24).toString('base64url')}`;
    const record: ApiToken = { name: input.name, role: input.role, ...(input.siteId !== undefined && { siteId: input.siteId }), createdAt: now, createdBy };
    await this.store.insert({ ...record, digest: tokenDigest(token) });
    return { token, record };
  }

  list(page: TokenPage): Promise<{ items: ApiToken[]; total: number }> {
    return this.store.list(page);
  }

  /** Live tokens issued under a reserved name before names were checked: their holders should get new ones. */
  async liveWithReservedNames(): Promise<string[]> {
    const names: string[] = [];
    for (let offset = 0; ; offset += 1_000) {
      const { items } = await this.store.list({ limit: 1_000, offset });
      for (const t of items) if (t.revokedAt === undefined && reservedTokenName(t.name) !== undefined) names.push(t.name);
      if (items.length < 1_000) return names;
    }
  }

  async revoke(name: string, now: number): Promise<boolean> {
    const revoked = await this.store.revoke(name, now);
    // Refused here at once; other engines refuse it when their cached answer runs out.
    this.revocations++;
    this.inFlight.clear();
    for (const [digest, entry] of this.cache) if (entry.principal?.name === name) this.cache.delete(digest);
    return revoked;
  }

  private remember(digest: string, principal: Principal | undefined, askedAt: number): void {
    if (this.cacheMs === 0) return;
    const now = this.clock();
    this.cache.delete(digest);
    // Answers are inserted in the order they expire (one lifetime for all, a renewed one moves to
    // the end), so the expired and, when full, the oldest are at the front.
    for (const [key, entry] of this.cache) {
      if (entry.until > now && this.cache.size < this.maxCached) break;
      this.cache.delete(key);
    }
    this.cache.set(digest, { principal, until: askedAt + this.cacheMs });
  }
}
