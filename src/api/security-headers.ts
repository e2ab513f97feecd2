import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * The API answers JSON only: its pages may load nothing, be framed by nobody, post nowhere.
 * `upgrade-insecure-requests` is left out because the engine itself speaks plain HTTP (TLS is the
 * reverse proxy's job, see the README), and with it a browser on plain HTTP could not load `/docs`.
 */
const API_CSP = {
  useDefaults: false,
  directives: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] },
};

/**
 * The Swagger UI at `/docs`: its own scripts, styles, fonts and the spec at `/docs/json`, all from
 * this origin (no inline scripts; styles may be inline), still never framed. Passed to
 * @fastify/swagger-ui as `staticCSP`, which sets it on the `/docs` routes only.
 */
export const DOCS_CSP =
  "default-src 'self'; base-uri 'self'; connect-src 'self'; font-src 'self' data:; form-action 'self'; frame-ancestors 'none'; " +
  "img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'";

/**
 * Security headers on every response (helmet): `X-Content-Type-Options: nosniff`, the CSP above,
 * `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, and no HSTS (plain HTTP here; the TLS
 * proxy in front adds it). Every answer of a route that needs a token — all of `/api/*`, `/metrics`,
 * and their 401/403/404 — also gets `Cache-Control: no-store`; the public probes and `/docs` do not.
 * Register before the auth plugin so its headers are also on the answers auth sends early.
 */
export const securityHeaders = fp(
  async (app: FastifyInstance) => {
    await app.register(helmet, {
      contentSecurityPolicy: API_CSP,
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: false,
    });
    app.addHook('onSend', async (request, reply, payload) => {
      if (!request.routeOptions.config?.public && !request.url.startsWith('/docs')) reply.header('cache-control', 'no-store');
      return payload;
    });
  },
  { name: 'guardian-security-headers' },
);
