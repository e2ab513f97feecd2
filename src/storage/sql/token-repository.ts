import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Principal, Role } from '../../auth/roles.js';
import type { Database } from './schema.js';

export interface ApiToken {
  readonly name: string;
  readonly role: Role;
  readonly siteId?: string;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly revokedAt?: number;
}

export const tokenDigest = (token: string): string => createHash('sha256').update(token).digest('hex');

export class TokenNameTakenError extends Error {
  constructor(name: string) {
    super(`a token named ${name} exists already`);
    this.name = 'TokenNameTakenError';
  }
}

/**
 * API tokens with roles. Only a digest of each token is stored; the token itself is shown once,
 * when it is created. Lookups hit an in-memory copy refreshed on every change.
 */
export class ApiTokenRepository {
  private byDigest = new Map<string, Principal>();

  private constructor(private readonly db: Kysely<Database>) {}

  static async open(db: Kysely<Database>): Promise<ApiTokenRepository> {
    const repository = new ApiTokenRepository(db);
    await repository.refresh();
    return repository;
  }

  async refresh(): Promise<void> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().where('revoked_at', 'is', null).execute();
    this.byDigest = new Map(rows.map((r) => [r.digest, { name: r.name, role: r.role as Role, ...(r.site_id !== null && { siteId: r.site_id }) }]));
  }

  /** The principal of a presented token, if it is a live one. */
  lookup(token: string): Principal | undefined {
    return this.byDigest.get(tokenDigest(token));
  }

  async create(input: { name: string; role: Role; siteId?: string }, createdBy: string, now: number): Promise<{ token: string; record: ApiToken }> {
    const token = `rg_${randomBytes(24).toString('base64url')}`;
    const existing = await this.db.selectFrom('api_tokens').select('id').where('name', '=', input.name).executeTakeFirst();
    if (existing) throw new TokenNameTakenError(input.name);
    await this.db
      .insertInto('api_tokens')
      .values({ name: input.name, role: input.role, site_id: input.siteId ?? null, digest: tokenDigest(token), created_at: now, created_by: createdBy, revoked_at: null })
      .execute();
    await this.refresh();
    return { token, record: { name: input.name, role: input.role, ...(input.siteId && { siteId: input.siteId }), createdAt: now, createdBy } };
  }

  async list(): Promise<ApiToken[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().orderBy('created_at').execute();
    return rows.map((r) => ({
      name: r.name,
      role: r.role as Role,
      ...(r.site_id !== null && { siteId: r.site_id }),
      createdAt: r.created_at,
      createdBy: r.created_by,
      ...(r.revoked_at !== null && { revokedAt: r.revoked_at }),
    }));
  }

  /** Revokes a token by name; false when there is no live token of that name. */
  async revoke(name: string, now: number): Promise<boolean> {
    const result = await this.db.updateTable('api_tokens').set({ revoked_at: now }).where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
    await this.refresh();
    return Number(result.numUpdatedRows) > 0;
  }
}
