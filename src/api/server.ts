import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { auditPlugin } from './audit.js';
import { authPlugin, DEFAULT_AUTH_BRAKE } from './auth.js';
import type { ApiContext } from './context.js';
import { deadLetterRoutes } from './dead-letters.js';
import { deviceRoutes } from './devices.js';
import { deviceCredentialRoutes } from './device-credentials.js';
import { installErrorHandler } from './errors.js';
import { healthRoutes } from './health.js';
import { ackRoutes } from './ack.js';
import { alertRoutes } from './alerts.js';
import { notifyRoutes } from './notify.js';
import { ruleRoutes } from './rules.js';
import { DOCS_CSP, securityHeaders } from './security-headers.js';
import { siteRoutes } from './sites.js';
import { silenceRoutes } from './silences.js';
import { tokenRoutes } from './tokens.js';
import { workOrderRoutes } from './work-orders.js';

/** The OpenAPI description: what the whole API is for and the conventions every route keeps. */
export const API_DESCRIPTION = [
  'Remote monitoring and predictive maintenance of hospital CT and MR scanners: sites and their scanners (with status, latest values, worst open alert, open work orders and the nearest forecast crossing), telemetry and device events, the alerts the rules raise, silences (maintenance windows), work orders with their response-time clocks and escalations, who is on call and the delivery log of pushes (with the public acknowledge pages of the links in messages), rule packs, rejected messages (dead letters), API tokens, health and metrics.',
  '',
  'Authenticate with `Authorization: Bearer <token>`. Each route names the roles that may call it (admin, supervisor, engineer, hospital; see docs/permissions.md); a hospital token sees its own site only. No valid token: 401; too many failed authentications from one address: 429 with Retry-After; a role the route does not allow: 403.',
  '',
  'Bodies are JSON: send `Content-Type: application/json`. Lists answer `{items, total}` with `limit` and `offset`; list filters share one vocabulary (`site`, `device`, `grade`, `state`/`status` with comma-separated values, `open`, `all`). Times are ISO-8601 UTC. Errors answer `{error, message}`; a 400 names each field (`body.title: is required`).',
].join('\n');

/** Composes the API: one plugin per area, each with its own routes and schemas. */
export async function buildApiServer(ctx: ApiContext): Promise<FastifyInstance> {
  const trustProxy = ctx.http?.trustProxy;
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Unique across restarts and engines: the audit trail and the log lines name requests by it.
    genReqId: () => randomUUID(),
    // Acknowledge links carry a signed token in the path (/ack/<token>), longer than the router's default 100.
    routerOptions: { maxParamLength: 600 },
    // Behind a reverse proxy, whose X-Forwarded-For names the client (the auth brake keys on it).
    ...(trustProxy !== undefined && trustProxy !== false && { trustProxy: typeof trustProxy === 'boolean' ? trustProxy : [...trustProxy] }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  // First, so every answer carries the headers: the docs, the probes, and what auth refuses early.
  await app.register(securityHeaders);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Remote Guardian API (远程守护)',
        description: API_DESCRIPTION,
        version: ctx.version,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP });
  await app.register(authPlugin, {
    adminToken: ctx.adminToken,
    tokens: ctx.tokens,
    metrics: ctx.metrics,
    brake: { limit: ctx.http?.authFailureLimit ?? DEFAULT_AUTH_BRAKE.limit, windowMs: ctx.http?.authFailureWindowMs ?? DEFAULT_AUTH_BRAKE.windowMs },
    publicPrefixes: ['/docs'],
  });
  // After auth (its route check covers /api/audit), before the routes (its hooks apply to them).
  if (ctx.audit) await app.register(auditPlugin, { audit: ctx.audit, now: ctx.now });

  await app.register(healthRoutes, { ctx });
  await app.register(siteRoutes, { ctx });
  await app.register(deviceRoutes, { ctx });
  await app.register(deviceCredentialRoutes, { ctx });
  await app.register(deadLetterRoutes, { ctx });
  await app.register(ruleRoutes, { ctx });
  await app.register(alertRoutes, { ctx });
  await app.register(silenceRoutes, { ctx });
  await app.register(workOrderRoutes, { ctx });
  await app.register(tokenRoutes, { ctx });
  if (ctx.notify) {
    await app.register(notifyRoutes, { ctx });
    await app.register(ackRoutes, { ctx });
  }
  return app;
}
