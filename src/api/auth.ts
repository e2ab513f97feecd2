import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without a bearer token (health probes, API docs). */
    public?: boolean;
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Bearer-token authentication for every route not marked `config.public`. Tokens are compared
 * as digests in constant time so response timing does not leak them.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, options: { adminToken: string }) => {
    const expected = digest(options.adminToken);
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config?.public) return;
      if (request.url.startsWith('/docs')) return;
      const header = request.headers.authorization;
      const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
      if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
        await reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="remote-guardian"')
          .send({ error: 'unauthorized', message: header ? 'the bearer token is not valid' : 'send Authorization: Bearer <token>' });
      }
    });
  },
  { name: 'guardian-auth' },
);
