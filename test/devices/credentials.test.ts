import { afterAll, describe, expect, it } from 'vitest';
import { DeviceCredentialService, hashSecret, passwordFileLine, verifySecret } from '../../src/devices/credentials.js';
import type { DeviceCredentialStore } from '../../src/kernel/ports/device-credential-store.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { DeviceCredentialRepository } from '../../src/storage/sql/device-credential-repository.js';
import { needs } from '../support/servers.js';
import { postgresTarget, sqliteTarget, type Target } from '../support/sql-targets.js';

const PG_URL = process.env.GUARDIAN_TEST_DATABASE_URL?.trim() || undefined;
const postgres = needs('device credentials on PostgreSQL', PG_URL !== undefined, 'no PostgreSQL at GUARDIAN_TEST_DATABASE_URL');

describe('secret hashes in Mosquitto’s $7$ format', () => {
  it('hashes with PBKDF2-SHA512, a 12-byte salt and a 64-byte key, and verifies only the same secret', async () => {
    const hash = await hashSecret('correct horse battery staple', 1_000);
    const [, seven, iterations, salt, key] = hash.split('$');
    expect(seven).toBe('7');
    expect(iterations).toBe('1000');
    expect(Buffer.from(salt!, 'base64')).toHaveLength(12);
    expect(Buffer.from(key!, 'base64')).toHaveLength(64);
    expect(await verifySecret('correct horse battery staple', hash)).toBe(true);
    expect(await verifySecret('correct horse battery stapler', hash)).toBe(false);
    // Two hashes of one secret differ (their salts), and each verifies.
    const again = await hashSecret('correct horse battery staple', 1_000);
    expect(again).not.toBe(hash);
    expect(await verifySecret('correct horse battery staple', again)).toBe(true);
  });

  it('matches a known PBKDF2-SHA512 vector, so a broker computing the same function accepts it', async () => {
    // RFC 6070-style check against node's own pbkdf2 with a fixed salt: the format, not the function, is ours.
    const salt = Buffer.from('000102030405060708090a0b', 'hex');
    const hash = await hashSecret('password', 1, salt);
    expect(hash).toBe(`$7$1$${salt.toString('base64')}$${(await import('node:crypto')).pbkdf2Sync('password', salt, 1, 64, 'sha512').toString('base64')}`);
  });

  it('refuses malformed hashes instead of throwing', async () => {
    for (const bad of ['', 'plain', '$6$1$abc$def', '$7$0$AAAA$AAAA', '$7$x$AAAA$AAAA', '$7$1$$AAAA', '$7$1$AAAA$']) expect(await verifySecret('x', bad), bad).toBe(false);
  });

  it('writes a password-file line as user:hash', () => {
    expect(passwordFileLine('MR-1', '$7$1$a$b')).toBe('MR-1:$7$1$a$b');
  });
});

/** Counts the store's reads and hashes, to show what a check costs. */
function counting(store: DeviceCredentialStore): DeviceCredentialStore & { gets: number } {
  const counted = {
    gets: 0,
    put: (c: Parameters<DeviceCredentialStore['put']>[0]) => store.put(c),
    get: (id: string) => {
      counted.gets++;
      return store.get(id);
    },
    revoke: (id: string, at: number) => store.revoke(id, at),
    list: () => store.list(),
  };
  return counted;
}

const engines: Array<{ name: string; target: () => Target; skip: boolean }> = [
  { name: 'SQLite', target: sqliteTarget, skip: false },
  { name: postgres.title, target: () => postgresTarget(PG_URL!), skip: postgres.skip },
];

for (const engine of engines) {
  describe.skipIf(engine.skip)(`device credentials in the SQL database (${engine.name})`, () => {
    let target: Target | undefined;
    const opened: SqlDatabase[] = [];
    const open = async () => {
      target ??= engine.target();
      const sql = await openSqlDatabase(await target.fresh());
      opened.push(sql);
      await migrateToLatest(sql);
      return sql;
    };
    afterAll(async () => {
      for (const sql of opened) await sql.close();
      await target?.cleanup();
    });

    it('issues a secret shown once, keeps only its hash, and checks it', async () => {
      const sql = await open();
      let now = 1_700_000_000_000;
      const service = new DeviceCredentialService(new DeviceCredentialRepository(sql.db), { now: () => now, iterations: 1_000 });
      const issued = await service.issue('MR-1', 'admin');
      expect(issued).toMatchObject({ deviceId: 'MR-1', username: 'MR-1', createdAt: now, rotated: false });
      expect(issued.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const rows = await sql.db.selectFrom('device_credentials' as never).selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(issued.password);
      expect((await service.check('MR-1', issued.password)).result).toBe('ok');
      expect((await service.check('MR-1', 'guess')).result).toBe('wrong');
      expect((await service.check('MR-2', issued.password)).result).toBe('unknown');
      expect(await service.get('MR-1')).toEqual({ deviceId: 'MR-1', username: 'MR-1', createdAt: now, createdBy: 'admin' });

      now += 1_000;
      const rotated = await service.issue('MR-1', 'supervisor-chen');
      expect(rotated.rotated).toBe(true);
      expect((await service.check('MR-1', issued.password)).result).toBe('wrong');
      expect((await service.check('MR-1', rotated.password)).result).toBe('ok');

      now += 1_000;
      expect(await service.revoke('MR-1')).toBe(true);
      expect(await service.revoke('MR-1')).toBe(false);
      expect((await service.check('MR-1', rotated.password)).result).toBe('revoked');
      expect(await service.get('MR-1')).toMatchObject({ revokedAt: now });
      // Issuing again after a revocation gives a live credential (not counted as a rotation).
      const renewed = await service.issue('MR-1', 'admin');
      expect(renewed.rotated).toBe(false);
      expect((await service.check('MR-1', renewed.password)).result).toBe('ok');
    });

    it('sees a credential rotated or revoked by another engine on the same database at the next check', async () => {
      const sql = await open();
      const here = new DeviceCredentialService(new DeviceCredentialRepository(sql.db), { iterations: 1_000 });
      const there = new DeviceCredentialService(new DeviceCredentialRepository(sql.db), { iterations: 1_000 });
      const first = await here.issue('CT-9', 'admin');
      expect((await here.check('CT-9', first.password)).result).toBe('ok');
      const second = await there.issue('CT-9', 'admin');
      expect((await here.check('CT-9', first.password)).result).toBe('wrong');
      expect((await here.check('CT-9', second.password)).result).toBe('ok');
      await there.revoke('CT-9');
      expect((await here.check('CT-9', second.password)).result).toBe('revoked');
    });

    it('runs PBKDF2 once per secret: a device reconnecting costs one read', async () => {
      const sql = await open();
      const store = counting(new DeviceCredentialRepository(sql.db));
      let hashed = 0;
      const service = new DeviceCredentialService(store, { iterations: 1_000, verify: (secret, encoded) => (hashed++, verifySecret(secret, encoded)) });
      const issued = await service.issue('CT-1', 'admin');
      const reads = store.gets;
      for (let i = 0; i < 20; i++) expect((await service.check('CT-1', issued.password)).result).toBe('ok');
      expect(hashed).toBe(1);
      // Each check reads the row (a rotation elsewhere counts at once), and only that.
      expect(store.gets - reads).toBe(20);
      // A wrong secret is never taken from the cache; a rotated hash is verified afresh.
      expect((await service.check('CT-1', `${issued.password}x`)).result).toBe('wrong');
      expect(hashed).toBe(2);
      const rotated = await service.issue('CT-1', 'admin');
      expect((await service.check('CT-1', rotated.password)).result).toBe('ok');
      expect((await service.check('CT-1', rotated.password)).result).toBe('ok');
      expect(hashed).toBe(3);
    });

    it('dates a matching check by its credential, and looks a certificate holder’s credential up without hashing', async () => {
      const sql = await open();
      let hashed = 0;
      let clock = 1_000;
      const service = new DeviceCredentialService(new DeviceCredentialRepository(sql.db), {
        iterations: 1_000,
        now: () => clock,
        verify: (secret, encoded) => (hashed++, verifySecret(secret, encoded)),
      });
      const issued = await service.issue('CT-5', 'admin');
      expect(await service.check('CT-5', issued.password)).toEqual({ result: 'ok', createdAt: 1_000 });
      clock = 2_000;
      const rotated = await service.issue('CT-5', 'admin');
      expect(await service.check('CT-5', rotated.password)).toEqual({ result: 'ok', createdAt: 2_000 });
      const before = hashed;
      expect(await service.check('CT-5', undefined)).toEqual({ result: 'live', createdAt: 2_000 });
      expect(await service.check('CT-6', undefined)).toEqual({ result: 'unknown' });
      await service.revoke('CT-5');
      expect(await service.check('CT-5', undefined)).toEqual({ result: 'revoked' });
      expect(hashed).toBe(before);
    });

    it('lists every credential with its hash, for a broker’s password file', async () => {
      const sql = await open();
      const service = new DeviceCredentialService(new DeviceCredentialRepository(sql.db), { iterations: 1_000 });
      const a = await service.issue('A-1', 'cli');
      await service.issue('B-1', 'cli');
      await service.revoke('B-1');
      const listed = await service.list();
      expect(listed.map((c) => [c.deviceId, c.revokedAt !== undefined])).toEqual([
        ['A-1', false],
        ['B-1', true],
      ]);
      expect(await verifySecret(a.password, listed[0]!.secretHash)).toBe(true);
    });
  });
}
