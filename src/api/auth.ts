import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { STAFF, type Principal, type Role } from '../auth/roles.js';
import type { ApiTokens } from '../auth/tokens.js';
import { SiteAccess } from './policy.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without a bearer token (health probes, API docs). */
    public?: boolean;
    /** Roles allowed on the route; default: the service staff (admin, supervisor, engineer). */
    roles?: readonly Role[];
  }
  interface FastifyRequest {
    /** The authenticated caller (set on every non-public route). */
    principal: Principal;
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Bearer-token authentication and role checks for every route not marked `config.public`. The
 * configured admin token is compared as a digest in constant time; other tokens are looked up by
 * digest in the token store (shared by every engine on the database). No valid token: 401. A role
 * the route does not allow: 403. A store that cannot be asked: 503 (not 401: the token may be good).
 */
export const authPlugin = fp(
  async (app: FastifyInstance, options: { adminToken: string; tokens?: Pick<ApiTokens, 'authenticate'> }) => {
    const expected = digest(options.adminToken);
    app.decorateRequest('principal', null as unknown as Principal);
    app.decorateRequest('access', null as unknown as SiteAccess);
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config?.public) return;
      if (request.url.startsWith('/docs')) return;
      const header = request.headers.authorization;
      const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
      const token = match?.[1];
      let principal: Principal | undefined;
      if (token !== undefined && timingSafeEqual(digest(token), expected)) principal = { name: 'admin', role: 'admin' };
      else if (token !== undefined && options.tokens) {
        try {
          principal = await options.tokens.authenticate(token);
        } catch (error) {
          request.log.error({ err: error }, 'could not check a bearer token');
          return reply.code(503).header('retry-after', '1').send({ error: 'unavailable', message: 'the token store cannot be reached; try again shortly' });
        }
      }
      if (!principal) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="remote-guardian"')
          .send({ error: 'unauthorized', message: header ? 'the bearer token is not valid' : 'send Authorization: Bearer <token>' });
      }
      request.principal = principal;
      request.access = new SiteAccess(principal);
      const allowed = request.routeOptions.config?.roles ?? STAFF;
      if (!allowed.includes(principal.role)) {
        return reply.code(403).send({ error: 'forbidden', message: `role ${principal.role} may not ${request.method} ${request.routeOptions.url ?? request.url}; allowed: ${allowed.join(', ')}` });
      }
    });
  },
  { name: 'guardian-auth' },
);
