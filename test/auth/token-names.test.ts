/**
 * A token's name names one holder in work-order timelines and the audit trail: it is unique,
 * compared without case or spacing, and cannot be one of the names the engine uses for someone
 * else (the configured admin token, an unauthenticated caller, the engine itself).
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuleSet } from '../../rules/rule-set.js';
import type { ApiContext } from '../../src/api/context.js';
import { buildApiServer } from '../../src/api/server.js';
import { silentLogger } from '../../src/app/log.js';
import { RESERVED_TOKEN_NAMES, ReservedTokenNameError, reservedTokenName, TokenNameTakenError, TokenService, tokenDigest, tokenNameKey } from '../../src/auth/tokens.js';
import { DeviceRegistry } from '../../src/devices/registry.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { SqlDeviceStore } from '../../src/storage/sql/device-repository.js';
import { ApiTokenRepository } from '../../src/storage/sql/token-repository.js';
import { tempDir } from '../helpers.js';
import { needs } from '../support/servers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

const ADMIN = 'test-admin-token-0123456789';
const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const onPostgres = needs('token names on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

describe('reserved token names', () => {
  it('are recognised in any case, with any spacing and in full-width letters', () => {
    for (const name of ['admin', 'Admin', ' ADMIN ', 'ad min', 'a\tdmin', 'ａｄｍｉｎ', 'ad\u200bmin', 'Anonymous', 'SYSTEM', 'engine', 'Guardian ']) {
      expect(reservedTokenName(name), name).toBeDefined();
    }
    expect(reservedTokenName(' AD  MIN')).toBe('admin');
    for (const name of ['administrator', 'admin-2', 'engineer-wang', 'guardians', '王工']) expect(reservedTokenName(name), name).toBeUndefined();
    expect([...RESERVED_TOKEN_NAMES]).toEqual(['admin', 'anonymous', 'system', 'engine', 'guardian']);
  });

  it('fold to one key for names that differ only in case or spacing', () => {
    expect(tokenNameKey('Supervisor  Chen')).toBe(tokenNameKey('supervisor chen'));
    expect(tokenNameKey('ＣＨＥＮ')).toBe('chen');
    expect(tokenNameKey('chen-1')).not.toBe(tokenNameKey('chen-2'));
  });
});

function describeRepository(title: string, makeTarget: () => Target, skip?: string): void {
  describe.skipIf(skip !== undefined)(`token names in the SQL store on ${title}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let target: Target;
    let database: SqlDatabase;
    beforeAll(async () => {
      target = makeTarget();
      database = await openSqlDatabase(await target.fresh());
      await migrateToLatest(database);
    });
    afterAll(async () => {
      await database?.close();
      await target?.cleanup();
    });

    it('refuses a name that differs from a kept one, live or revoked, only in case or spacing', async () => {
      const store = new ApiTokenRepository(database.db);
      const service = new TokenService(store);
      await service.create({ name: 'supervisor chen', role: 'supervisor' }, 'admin', 1_000);
      for (const name of ['Supervisor Chen', 'SUPERVISOR  CHEN', 'ｓｕｐｅｒｖｉｓｏｒ chen']) {
        const refused = service.create({ name, role: 'engineer' }, 'admin', 2_000);
        await expect(refused).rejects.toBeInstanceOf(TokenNameTakenError);
        await expect(refused).rejects.toThrow('a token named supervisor chen exists already; names are compared without case or spacing');
      }
      await service.revoke('supervisor chen', 3_000);
      await expect(store.insert({ name: 'Supervisor Chen', role: 'engineer', digest: tokenDigest('x'), createdAt: 4_000, createdBy: 'admin' })).rejects.toBeInstanceOf(TokenNameTakenError);
      await service.create({ name: 'supervisor chen 2', role: 'supervisor' }, 'admin', 5_000);
      expect((await service.list({ limit: 10, offset: 0 })).items.map((t) => t.name)).toEqual(['supervisor chen', 'supervisor chen 2']);
    });

    it('issues no token under a reserved name', async () => {
      const service = new TokenService(new ApiTokenRepository(database.db));
      for (const name of ['Admin', 'anonymous', ' System', 'ENGINE', 'guard ian']) {
        await expect(service.create({ name, role: 'admin' }, 'admin', 1_000)).rejects.toBeInstanceOf(ReservedTokenNameError);
      }
      const names = (await service.list({ limit: 100, offset: 0 })).items.map((t) => t.name);
      expect(names.filter((n) => reservedTokenName(n) !== undefined)).toEqual([]);
    });

    it('finds live tokens issued under a reserved name before names were checked', async () => {
      const store = new ApiTokenRepository(database.db);
      const service = new TokenService(store);
      // As an older release stored them.
      await store.insert({ name: 'System', role: 'admin', digest: tokenDigest('old-1'), createdAt: 1_000, createdBy: 'admin' });
      await store.insert({ name: 'engine', role: 'engineer', digest: tokenDigest('old-2'), createdAt: 1_000, createdBy: 'admin' });
      await service.revoke('engine', 2_000);
      expect(await service.liveWithReservedNames()).toEqual(['System']);
    });
  });
}

describeRepository('SQLite', sqliteTarget);
describeRepository('PostgreSQL', () => postgresTarget(PG_URL!), onPostgres.skip ? 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL' : undefined);

describe('POST /api/tokens names', () => {
  const dir = tempDir();
  let sql: SqlDatabase;
  let app: FastifyInstance;

  const post = async (body: Record<string, unknown>) => {
    const response = await app.inject({ method: 'POST', url: '/api/tokens', headers: { authorization: `Bearer ${ADMIN}` }, payload: body });
    return { status: response.statusCode, body: response.json<{ error: string; message: string; issues?: Array<{ path: string; message: string }> }>() };
  };

  beforeAll(async () => {
    sql = await openSqlDatabase({ sqliteFile: join(dir.path, 'guardian.db') });
    await migrateToLatest(sql);
    const registry = await DeviceRegistry.open(new SqlDeviceStore(sql.db), Date.now);
    const ctx: ApiContext = {
      registry,
      rules: new RuleSet(join(import.meta.dirname, '../../rules/packs')),
      alerts: { list: () => [], states: () => [] },
      workOrders: {} as ApiContext['workOrders'],
      workOrderQuery: {} as ApiContext['workOrderQuery'],
      tokens: new TokenService(new ApiTokenRepository(sql.db)),
      telemetry: {} as ApiContext['telemetry'],
      deadLetters: {} as ApiContext['deadLetters'],
      events: {} as ApiContext['events'],
      silences: {} as ApiContext['silences'],
      silenceQuery: {} as ApiContext['silenceQuery'],
      metrics: new Registry(),
      readiness: [],
      adminToken: ADMIN,
      logger: silentLogger(),
      now: Date.now,
      version: 'test',
    };
    app = await buildApiServer(ctx);
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await sql?.close();
    dir.remove();
  });

  it('answers 400 naming the reserved name', async () => {
    for (const name of ['admin', ' Admin ', 'ANONYMOUS', 'sys tem', 'Engine', 'guardian']) {
      const refused = await post({ name, role: 'engineer' });
      expect(refused.status, name).toBe(400);
      expect(refused.body.error).toBe('bad_request');
      expect(refused.body.issues?.[0]?.path).toBe('body.name');
      expect(refused.body.message).toMatch(/body\.name: (admin|anonymous|system|engine|guardian) is a reserved name/);
    }
  });

  it('answers 409 to a name in use, in another case or spacing too', async () => {
    expect((await post({ name: 'wang', role: 'engineer' })).status).toBe(201);
    expect(await post({ name: 'wang', role: 'engineer' })).toEqual({ status: 409, body: { error: 'name_taken', message: 'a token named wang exists already' } });
    expect(await post({ name: ' WANG ', role: 'supervisor' })).toEqual({ status: 409, body: { error: 'name_taken', message: 'a token named wang exists already; names are compared without case or spacing' } });
  });

  it('refuses control characters in a name', async () => {
    const refused = await post({ name: 'wang\u0000', role: 'engineer' });
    expect(refused.status).toBe(400);
    expect(refused.body.issues?.[0]).toEqual({ path: 'body.name', message: 'must not contain control characters' });
  });
});
