/**
 * One request in the audit trail: a change asked of the API (POST, PUT, PATCH, DELETE, whatever
 * its outcome) or a request refused for who made it (401, 403, 429). It says who, from where,
 * what and how it ended; it never holds a body, a bearer token or another secret.
 */
export interface AuditEntry {
  /** When the answer was sent, epoch ms. */
  readonly at: number;
  /** The principal's name, or `anonymous` when no valid token came with the request. */
  readonly actor: string;
  /** The principal's role; absent for anonymous callers. */
  readonly role?: string;
  /** The client's address as the API sees it. */
  readonly address: string;
  readonly method: string;
  /** The route's pattern, e.g. `/api/work-orders/:id/transitions`; absent when no route matched. */
  readonly route?: string;
  /** The path and query as asked, with secret-looking query values redacted. */
  readonly url: string;
  /** The resource acted on where known: the route's id, or the id of what a POST created. */
  readonly targetId?: string;
  /** The HTTP status answered. */
  readonly status: number;
  /** The request's id, as in the engine's log lines. */
  readonly requestId: string;
}

export interface StoredAuditEntry extends AuditEntry {
  readonly id: number;
}

export interface AuditFilter {
  /** From this instant, included. */
  readonly from?: number;
  /** Before this instant. */
  readonly to?: number;
  readonly actor?: string;
  readonly method?: string;
  /** Answered status within [statusMin, statusMax]. */
  readonly statusMin?: number;
  readonly statusMax?: number;
  /** URLs starting with this (case-sensitive). */
  readonly pathPrefix?: string;
  /** Only entries after this one in list order (older): for reading a long list page by page while it grows. Not counted in `total`. */
  readonly after?: { readonly at: number; readonly id: number };
  readonly limit?: number;
  readonly offset?: number;
}

/** Where the audit trail is kept (SQL table `audit_log`, shared by every engine on the database). */
export interface AuditStore {
  /** Stores entries, all or none. */
  insert(entries: readonly AuditEntry[]): Promise<void>;
  /** Newest first (then by id, newest first); `total` counts every match, not just the page. */
  list(filter?: AuditFilter): Promise<{ items: StoredAuditEntry[]; total: number }>;
  /** Deletes entries from before `before`; answers how many. */
  prune(before: number): Promise<number>;
}
