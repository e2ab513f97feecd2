import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, type Registry } from 'prom-client';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { ROLES, type Principal, type Role } from '../auth/roles.js';
import type { ApiTokens } from '../auth/tokens.js';
import { SiteAccess } from './policy.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without a bearer token (health probes, API docs). */
    public?: boolean;
    /**
     * Roles allowed on the route. Every route that is not public must say: there is no default,
     * and a route without it is refused when it is registered.
     */
    roles?: readonly Role[];
    /** Path parameters that are credentials themselves (an acknowledge link's token): never recorded in the audit trail. */
    secretParams?: readonly string[];
  }
  interface FastifyRequest {
    /** The authenticated caller (set on every non-public route). */
    principal: Principal;
    /**
     * Answered 429 by the brake, and not for the first time in its address's window: the audit
     * trail keeps the first 429 of a window, not every one that follows.
     */
    throttledAgain: boolean;
  }
}

/** Why a request was not authenticated: the `reason` label of the failure counter and log. */
export const AUTH_FAILURE_REASONS = ['missing', 'malformed', 'invalid'] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** The brake on guessing tokens: failed authentications allowed per client address and window. */
export interface AuthBrakeSettings {
  /** Failures an address may make in one window; the next request from it answers 429. */
  readonly limit: number;
  readonly windowMs: number;
}

export const DEFAULT_AUTH_BRAKE: AuthBrakeSettings = { limit: 10, windowMs: 60_000 };

export interface AuthOptions {
  readonly adminToken: string;
  readonly tokens?: Pick<ApiTokens, 'authenticate'>;
  /** Where the failure counters are registered (the `/metrics` registry). */
  readonly metrics?: Registry;
  readonly brake?: AuthBrakeSettings;
  /**
   * URL prefixes of routes a third-party plugin serves without a token (the API docs). Their
   * routes carry no `config`, so they are named here rather than marked.
   */
  readonly publicPrefixes?: readonly string[];
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Thrown while a route is registered: it is neither public nor declares who may call it. */
export class UndeclaredRolesError extends Error {
  constructor(route: string, detail: string) {
    super(`route ${route} ${detail}: every route declares config.roles (one or more of ${ROLES.join(', ')}) or config.public`);
    this.name = 'UndeclaredRolesError';
  }
}

/**
 * Deny by default: a route must be public or name its roles, and only known roles. Run for every
 * route as it is registered (Fastify's `onRoute`), so a route added without them stops start-up
 * instead of being open to a default.
 */
export function checkRouteAccess(route: Pick<RouteOptions, 'method' | 'url' | 'config'>, publicPrefixes: readonly string[] = []): void {
  const name = `${Array.isArray(route.method) ? route.method.join(',') : route.method} ${route.url}`;
  if (publicPrefixes.some((prefix) => route.url === prefix || route.url.startsWith(`${prefix}/`))) return;
  const config = route.config as { public?: boolean; roles?: readonly string[] } | undefined;
  if (config?.public === true) {
    if (config.roles !== undefined) throw new UndeclaredRolesError(name, 'is public and also declares roles');
    return;
  }
  if (config?.roles === undefined) throw new UndeclaredRolesError(name, 'declares no roles');
  if (config.roles.length === 0) throw new UndeclaredRolesError(name, 'declares an empty list of roles');
  const unknown = config.roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length > 0) throw new UndeclaredRolesError(name, `declares unknown role(s) ${unknown.join(', ')}`);
}

/** A counter on the registry, or the one registered there already (a server built twice on one registry). */
function counter<L extends string>(registry: Registry | undefined, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: registry ? [registry] : [] });
}

/**
 * Bearer-token authentication and role checks for every route not marked `config.public`. The
 * configured admin token is compared as a digest in constant time; other tokens are looked up by
 * digest in the token store (shared by every engine on the database). No valid token: 401. A role
 * the route does not allow: 403. A store that cannot be asked: 503 (not 401: the token may be good).
 *
 * Failed authentications are logged (address and reason, never the token) and counted; an address
 * that presented `brake.limit` wrong tokens within `brake.windowMs` is answered 429 with
 * `Retry-After` on every authenticated route until its window ends — whatever token it sends then,
 * or the answer would tell a right guess from a wrong one. A request without a token counts as a
 * failure too (or it could be refused, and recorded, without end); requests that authenticate are
 * not counted. The count is per engine process, in memory.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, options: AuthOptions) => {
    const expected = digest(options.adminToken);
    const publicPrefixes = options.publicPrefixes ?? [];
    const brake = options.brake ?? DEFAULT_AUTH_BRAKE;
    const failuresByAddress = new RateLimiterMemory({ keyPrefix: 'auth-failures', points: brake.limit, duration: brake.windowMs / 1000 });
    const failures = counter(options.metrics, 'guardian_http_auth_failures_total', 'HTTP requests refused for want of a valid bearer token, by reason (missing, malformed, invalid)', ['reason']);
    const throttled = counter(options.metrics, 'guardian_http_auth_throttled_total', 'HTTP requests answered 429 because their address failed authentication too often', []);

    app.addHook('onRoute', (route) => {
      checkRouteAccess(route, publicPrefixes);
      // The OpenAPI document says who may call each route, as the route itself decides.
      const roles = route.config?.roles;
      if (roles !== undefined && route.schema !== undefined && !route.schema.hide) {
        route.schema = { ...route.schema, description: [route.schema.description, `Roles: ${roles.join(', ')}.`].filter(Boolean).join('\n\n') };
      }
    });
    app.decorateRequest('principal', null as unknown as Principal);
    app.decorateRequest('access', null as unknown as SiteAccess);
    app.decorateRequest('throttledAgain', false);

    const isPublic = (request: FastifyRequest) => {
      if (request.routeOptions.config?.public === true) return true;
      const url = request.routeOptions.url;
      return url !== undefined && publicPrefixes.some((prefix) => url === prefix || url.startsWith(`${prefix}/`));
    };
    const routeOf = (request: FastifyRequest) => `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`;

    const refuse = async (request: FastifyRequest, reply: FastifyReply, reason: AuthFailureReason) => {
      failures.inc({ reason });
      request.log.warn({ address: request.ip, reason, route: routeOf(request) }, 'authentication failed');
      // Missing, garbled or wrong: each counts, so no address is refused (and audited) without end.
      await failuresByAddress.penalty(request.ip);
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="remote-guardian"')
        .send({ error: 'unauthorized', message: reason === 'missing' ? 'send Authorization: Bearer <token>' : 'the bearer token is not valid' });
    };

    app.addHook('onRequest', async (request, reply) => {
      if (isPublic(request)) return;
      const record = await failuresByAddress.get(request.ip);
      if (record && record.consumedPoints >= brake.limit) {
        throttled.inc();
        // Points past the limit are 429s already answered in this window (a penalty keeps its end).
        request.throttledAgain = record.consumedPoints > brake.limit;
        await failuresByAddress.penalty(request.ip);
        const seconds = Math.max(1, Math.ceil(record.msBeforeNext / 1000));
        request.log.warn({ address: request.ip, route: routeOf(request), retryAfterSeconds: seconds }, 'too many failed authentications from this address; refused');
        return reply
          .code(429)
          .header('retry-after', String(seconds))
          .send({ error: 'too_many_failures', message: `too many failed authentications from this address; try again in ${seconds} s` });
      }
      const header = request.headers.authorization;
      if (header === undefined || header === '') return refuse(request, reply, 'missing');
      const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
      if (token === undefined) return refuse(request, reply, 'malformed');
      let principal: Principal | undefined;
      if (timingSafeEqual(digest(token), expected)) principal = { name: 'admin', role: 'admin' };
      else if (options.tokens) {
        try {
          principal = await options.tokens.authenticate(token);
        } catch (error) {
          request.log.error({ err: error }, 'could not check a bearer token');
          return reply.code(503).header('retry-after', '1').send({ error: 'unavailable', message: 'the token store cannot be reached; try again shortly' });
        }
      }
      if (!principal) return refuse(request, reply, 'invalid');
      request.principal = principal;
      request.access = new SiteAccess(principal);
      // No such route: an authenticated caller is told so (404) by the not-found handler.
      if (request.is404) return;
      // Deny by default: a route without roles (which registration refuses) lets nobody in.
      const allowed = request.routeOptions.config?.roles ?? [];
      if (!allowed.includes(principal.role)) {
        return reply.code(403).send({ error: 'forbidden', message: `role ${principal.role} may not ${routeOf(request)}; allowed: ${allowed.join(', ') || 'nobody'}` });
      }
    });
  },
  { name: 'guardian-auth' },
);
