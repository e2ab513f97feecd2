import { canSeeSite, siteLimit, type Principal } from '../auth/roles.js';
import { forbidden, notFound } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the caller may see (set with `principal` on every non-public route). */
    access: SiteAccess;
  }
}

/** A list's site filter: every site (no `site`), one site, or — `null` — nothing the caller may see. */
export type ListScope = { readonly site?: string } | null;

/**
 * The API's one policy for site scope: a hospital's staff see their own site's data only, staff
 * see every site. Every plugin asks it rather than checking roles itself:
 *
 * - lists narrow their `?site=` filter with `listScope` (and pass it to the query, so paging and
 *   totals count only what the caller may see);
 * - a single resource of another site answers 404 through `visible`, exactly as one that does not
 *   exist, so a hospital cannot learn what other sites have;
 * - acting on another site's device (reporting a fault there) is refused with 403 by `requireSite`.
 */
export class SiteAccess {
  constructor(readonly principal: Principal) {}

  /** Whether the caller may see data of `siteId`; data of no known site only staff see. */
  canSee(siteId: string | undefined): boolean {
    return canSeeSite(this.principal, siteId);
  }

  /** The site filter of a list asked for `requested` (the `?site=` parameter). */
  listScope(requested?: string): ListScope {
    const limit = siteLimit(this.principal);
    if (limit === undefined) return requested === undefined ? {} : { site: requested };
    if (limit.siteId === undefined || (requested !== undefined && requested !== limit.siteId)) return null;
    return { site: limit.siteId };
  }

  /** The resource if it exists and the caller may see its site; otherwise 404 with `message`. */
  visible<T>(resource: T | undefined, siteOf: (resource: T) => string | undefined, message: string): T {
    if (resource === undefined || !this.canSee(siteOf(resource))) throw notFound(message);
    return resource;
  }

  /** Refuses (403) an action on a site the caller may not see. */
  requireSite(siteId: string, message: string): void {
    if (!this.canSee(siteId)) throw forbidden(message);
  }
}
