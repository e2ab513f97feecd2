import { sql, type Generated, type Kysely } from 'kysely';
import type { AuditEntry, AuditFilter, AuditStore, StoredAuditEntry } from '../../kernel/ports/audit-store.js';
import type { Database } from './schema.js';
import { storableText } from './text.js';

/** The `audit_log` table (migration 0008_audit). */
export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string;
  role: string | null;
  address: string;
  method: string;
  route: string | null;
  url: string;
  target_id: string | null;
  status: number;
  request_id: string;
}

type AuditDatabase = Database & { audit_log: AuditLogTable };

/** Text cut to a column's length in characters (both databases count characters), made storable. */
const clip = (text: string, max: number) => storableText([...text].slice(0, max).join(''));
const clipOrNull = (text: string | undefined, max: number) => (text === undefined ? null : clip(text, max));

/** Longest URL kept: enough for any route of the API and its filters. */
const MAX_URL = 2_000;

/**
 * The audit trail in the SQL database, shared by every engine on it. Entries arrive in batches
 * from the recorder and are written in one transaction; reads are newest first.
 */
export class AuditRepository implements AuditStore {
  private readonly db: Kysely<AuditDatabase>;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<{ audit_log: AuditLogTable }>();
  }

  async insert(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const rows = entries.map((e) => ({
      at: e.at,
      actor: clip(e.actor, 100),
      role: clipOrNull(e.role, 16),
      address: clip(e.address, 64),
      method: clip(e.method, 10),
      route: clipOrNull(e.route, 300),
      url: clip(e.url, MAX_URL),
      target_id: clipOrNull(e.targetId, 200),
      status: e.status,
      request_id: clip(e.requestId, 64),
    }));
    // Bounded statements (SQLite caps bound parameters per statement) in one transaction: the
    // recorder retries a failed batch whole, so a half-written one would be doubled.
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += 500) await trx.insertInto('audit_log').values(rows.slice(i, i + 500)).execute();
    });
  }

  async list(filter: AuditFilter = {}): Promise<{ items: StoredAuditEntry[]; total: number }> {
    let query = this.db.selectFrom('audit_log');
    if (filter.from !== undefined) query = query.where('at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('at', '<', filter.to);
    if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
    if (filter.method !== undefined) query = query.where('method', '=', filter.method);
    if (filter.statusMin !== undefined) query = query.where('status', '>=', filter.statusMin);
    if (filter.statusMax !== undefined) query = query.where('status', '<=', filter.statusMax);
    // substr compares exactly on both databases; LIKE differs in case and needs escaping.
    if (filter.pathPrefix) query = query.where(sql<string>`substr(url, 1, ${[...filter.pathPrefix].length})`, '=', filter.pathPrefix);
    const totalRow = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    const after = filter.after;
    if (after) query = query.where((eb) => eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]));
    const rows = await query
      .selectAll()
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .offset(filter.offset ?? 0)
      .execute();
    return {
      total: Number(totalRow?.n ?? 0),
      items: rows.map((r) => ({
        id: Number(r.id),
        at: Number(r.at),
        actor: r.actor,
        ...(r.role !== null && { role: r.role }),
        address: r.address,
        method: r.method,
        ...(r.route !== null && { route: r.route }),
        url: r.url,
        ...(r.target_id !== null && { targetId: r.target_id }),
        status: Number(r.status),
        requestId: r.request_id,
      })),
    };
  }

  async prune(before: number): Promise<number> {
    const result = await this.db.deleteFrom('audit_log').where('at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
