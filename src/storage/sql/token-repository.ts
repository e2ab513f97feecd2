import type { Kysely } from 'kysely';
import type { Principal, Role } from '../../auth/roles.js';
import { TokenNameTakenError, tokenNameKey, type ApiToken, type NewApiToken, type TokenPage, type TokenStore } from '../../auth/tokens.js';
import type { Database } from './schema.js';

/** A unique-constraint violation on either database. */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * API tokens with roles in the SQL database. Only a digest of each token is stored (unique, so a
 * lookup is one index probe); the cache in front of it is the auth feature's TokenService.
 */
export class ApiTokenRepository implements TokenStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(token: NewApiToken): Promise<void> {
    // Names are compared folded (case, spacing, full-width forms), which neither database's own
    // lower() does alike; tokens are few, so their names are read and compared here. The exact
    // name is also unique in the table, so two engines inserting the same name at once still clash.
    const key = tokenNameKey(token.name);
    const taken = async () => (await this.db.selectFrom('api_tokens').select('name').execute()).find((row) => tokenNameKey(row.name) === key)?.name;
    const existing = await taken();
    if (existing !== undefined) throw new TokenNameTakenError(token.name, existing);
    try {
      await this.db
        .insertInto('api_tokens')
        .values({ name: token.name, role: token.role, site_id: token.siteId ?? null, digest: token.digest, created_at: token.createdAt, created_by: token.createdBy, revoked_at: null })
        .execute();
    } catch (error) {
      // Another engine took the name between the look and the insert.
      if (isUniqueViolation(error) && (await taken()) !== undefined) throw new TokenNameTakenError(token.name);
      throw error;
    }
  }

  async findLive(digest: string): Promise<Principal | undefined> {
    const row = await this.db.selectFrom('api_tokens').select(['name', 'role', 'site_id']).where('digest', '=', digest).where('revoked_at', 'is', null).executeTakeFirst();
    return row && { name: row.name, role: row.role as Role, ...(row.site_id !== null && { siteId: row.site_id }) };
  }

  async list(page: TokenPage): Promise<{ items: ApiToken[]; total: number }> {
    const total = await this.db.selectFrom('api_tokens').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    const rows = await this.db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id').limit(page.limit).offset(page.offset).execute();
    return {
      total: Number(total?.n ?? 0),
      items: rows.map((r) => ({
        name: r.name,
        role: r.role as Role,
        ...(r.site_id !== null && { siteId: r.site_id }),
        createdAt: Number(r.created_at),
        createdBy: r.created_by,
        ...(r.revoked_at !== null && { revokedAt: Number(r.revoked_at) }),
      })),
    };
  }

  async revoke(name: string, at: number): Promise<boolean> {
    const result = await this.db.updateTable('api_tokens').set({ revoked_at: at }).where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
