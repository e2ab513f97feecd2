import { afterAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/roles.js';
import { TokenNameTakenError, TokenService, tokenDigest, type ApiToken, type NewApiToken, type TokenStore } from '../../src/auth/tokens.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { ApiTokenRepository } from '../../src/storage/sql/token-repository.js';
import { needs } from '../support/servers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

/** A store in memory that counts its lookups, standing in for the database another engine shares. */
class MemoryTokenStore implements TokenStore {
  readonly rows = new Map<string, NewApiToken & { revokedAt?: number }>();
  lookups = 0;
  failing = false;

  async insert(token: NewApiToken): Promise<void> {
    if ([...this.rows.values()].some((r) => r.name === token.name)) throw new TokenNameTakenError(token.name);
    this.rows.set(token.digest, token);
  }

  async findLive(digest: string): Promise<Principal | undefined> {
    this.lookups++;
    if (this.failing) throw new Error('database unreachable');
    const row = this.rows.get(digest);
    return row && row.revokedAt === undefined ? { name: row.name, role: row.role, ...(row.siteId && { siteId: row.siteId }) } : undefined;
  }

  async list(): Promise<{ items: ApiToken[]; total: number }> {
    const items = [...this.rows.values()].map(({ digest: _d, ...r }) => r);
    return { items, total: items.length };
  }

  async revoke(name: string, at: number): Promise<boolean> {
    const row = [...this.rows.values()].find((r) => r.name === name && r.revokedAt === undefined);
    if (row) row.revokedAt = at;
    return row !== undefined;
  }
}

describe('TokenService: tokens checked against the shared store with a short cache', () => {
  const setup = (cacheMs = 2_000, maxCached?: number) => {
    let clock = 0;
    const store = new MemoryTokenStore();
    const service = new TokenService(store, { cacheMs, clock: () => clock, ...(maxCached !== undefined && { maxCached }) });
    // A second engine on the same database: its own cache, the same store.
    const other = new TokenService(store, { cacheMs, clock: () => clock });
    return { store, service, other, advance: (ms: number) => (clock += ms) };
  };

  it('stores a digest only, and finds the holder by the token', async () => {
    const { store, service } = setup();
    const { token, record } = await service.create({ name: 'h1-equipment', role: 'hospital', siteId: 'h1' }, 'admin', 1_000);
    expect(record).toEqual({ name: 'h1-equipment', role: 'hospital', siteId: 'h1', createdAt: 1_000, createdBy: 'admin' });
    expect(token).toMatch(/^rg_[\w-]{32}$/);
    expect(JSON.stringify([...store.rows.values()])).not.toContain(token);
    expect([...store.rows.keys()]).toEqual([tokenDigest(token)]);
    expect(await service.authenticate(token)).toEqual({ name: 'h1-equipment', role: 'hospital', siteId: 'h1' });
    expect(await service.authenticate(`${token}x`)).toBeUndefined();
  });

  it('a token created on one engine counts on another as soon as it is asked; one revoked there is refused once the cached answer runs out', async () => {
    const { service, other, advance } = setup(2_000);
    const { token } = await service.create({ name: 'engineer-li', role: 'engineer' }, 'admin', 0);
    expect(await other.authenticate(token)).toMatchObject({ name: 'engineer-li' });
    expect(await service.revoke('engineer-li', 5)).toBe(true);
    // The revoking engine refuses it at once …
    expect(await service.authenticate(token)).toBeUndefined();
    // … the other within its cache time.
    expect(await other.authenticate(token)).toMatchObject({ name: 'engineer-li' });
    advance(2_001);
    expect(await other.authenticate(token)).toBeUndefined();
    expect(await service.revoke('engineer-li', 6)).toBe(false);
  });

  it('dates a cached answer from when it was asked for, so a slow lookup does not stretch a revoked token past the cache time', async () => {
    const { store, service, other, advance } = setup(2_000);
    const { token } = await service.create({ name: 'engineer-wang', role: 'engineer' }, 'admin', 0);
    const findLive = store.findLive.bind(store);
    // The database takes 1.5 s to answer.
    store.findLive = async (digest) => {
      const answer = await findLive(digest);
      advance(1_500);
      return answer;
    };
    expect(await other.authenticate(token)).toMatchObject({ name: 'engineer-wang' });
    store.findLive = findLive;
    await service.revoke('engineer-wang', 1);
    advance(501);
    // 2 s after the question, not 2 s after the slow answer.
    expect(await other.authenticate(token)).toBeUndefined();
  });

  it('reuses an answer, found or not, for the cache time only, and shares one lookup among concurrent requests', async () => {
    const { store, service, advance } = setup(1_000);
    const { token } = await service.create({ name: 'supervisor-chen', role: 'supervisor' }, 'admin', 0);
    await Promise.all([service.authenticate(token), service.authenticate(token), service.authenticate(token)]);
    expect(store.lookups).toBe(1);
    await service.authenticate('not-a-token');
    await service.authenticate('not-a-token');
    expect(store.lookups).toBe(2);
    advance(999);
    await service.authenticate(token);
    expect(store.lookups).toBe(2);
    advance(1);
    await service.authenticate(token);
    expect(store.lookups).toBe(3);
  });

  it('with no cache asks the store every time; keeps at most maxCached answers', async () => {
    const uncached = setup(0);
    const { token } = await uncached.service.create({ name: 'a', role: 'engineer' }, 'admin', 0);
    await uncached.service.authenticate(token);
    await uncached.service.authenticate(token);
    expect(uncached.store.lookups).toBe(2);

    const small = setup(5_000, 3);
    const created = await small.service.create({ name: 'b', role: 'engineer' }, 'admin', 0);
    await small.service.authenticate(created.token);
    for (let i = 0; i < 10; i++) await small.service.authenticate(`random-${i}`);
    const before = small.store.lookups;
    // The oldest answer (the real token) was dropped to make room: asked again.
    await small.service.authenticate(created.token);
    expect(small.store.lookups).toBe(before + 1);
  });

  it('refuses a cache longer than 5 s: revocation must reach every engine within that', () => {
    expect(() => new TokenService(new MemoryTokenStore(), { cacheMs: 5_001 })).toThrow(RangeError);
    expect(() => new TokenService(new MemoryTokenStore(), { cacheMs: -1 })).toThrow(RangeError);
  });

  it('passes a store failure on (the API answers 503), and does not remember it', async () => {
    const { store, service } = setup();
    const { token } = await service.create({ name: 'c', role: 'engineer' }, 'admin', 0);
    store.failing = true;
    await expect(service.authenticate(token)).rejects.toThrow('database unreachable');
    store.failing = false;
    expect(await service.authenticate(token)).toMatchObject({ name: 'c' });
  });
});

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const postgresSuite = needs('API token repository on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

function describeRepository(title: string, makeTarget: () => Target, skip = false): void {
  describe.skipIf(skip)(title, () => {
    const target = skip ? undefined : makeTarget();
    const open: SqlDatabase[] = [];
    afterAll(async () => {
      for (const db of open) await db.close();
      await target?.cleanup();
    });

    const repository = async () => {
      const where = await target!.fresh();
      const db = await openSqlDatabase({ ...(where.url && { url: where.url }), sqliteFile: where.sqliteFile });
      open.push(db);
      await migrateToLatest(db);
      return new ApiTokenRepository(db.db);
    };
    const token = (name: string, createdAt: number, extra: Partial<NewApiToken> = {}): NewApiToken => ({ name, role: 'engineer', createdAt, createdBy: 'admin', digest: tokenDigest(name), ...extra });

    it('finds a live token by digest, refuses a taken name, revokes once', async () => {
      const tokens = await repository();
      await tokens.insert(token('h1-equipment', 2_000_000_000_000, { role: 'hospital', siteId: 'h1' }));
      expect(await tokens.findLive(tokenDigest('h1-equipment'))).toEqual({ name: 'h1-equipment', role: 'hospital', siteId: 'h1' });
      expect(await tokens.findLive(tokenDigest('nobody'))).toBeUndefined();
      await expect(tokens.insert(token('h1-equipment', 2_000_000_000_001, { digest: tokenDigest('another') }))).rejects.toBeInstanceOf(TokenNameTakenError);
      expect(await tokens.revoke('h1-equipment', 2_000_000_000_002)).toBe(true);
      expect(await tokens.revoke('h1-equipment', 2_000_000_000_003)).toBe(false);
      expect(await tokens.findLive(tokenDigest('h1-equipment'))).toBeUndefined();
      // A revoked name stays taken: timelines name its holder.
      await expect(tokens.insert(token('h1-equipment', 2_000_000_000_004, { digest: tokenDigest('third') }))).rejects.toBeInstanceOf(TokenNameTakenError);
    });

    it('lists a page, oldest first, with the total of all', async () => {
      const tokens = await repository();
      for (let i = 0; i < 5; i++) await tokens.insert(token(`t${i}`, 2_000_000_000_000 + i));
      await tokens.revoke('t1', 2_000_000_001_000);
      const page = await tokens.list({ limit: 2, offset: 1 });
      expect(page.total).toBe(5);
      expect(page.items).toEqual([
        { name: 't1', role: 'engineer', createdAt: 2_000_000_000_001, createdBy: 'admin', revokedAt: 2_000_000_001_000 },
        { name: 't2', role: 'engineer', createdAt: 2_000_000_000_002, createdBy: 'admin' },
      ]);
    });
  });
}

describeRepository('API token repository on SQLite', sqliteTarget);
describeRepository(postgresSuite.title, () => postgresTarget(PG_URL!), postgresSuite.skip);
