import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { authPlugin } from './auth.js';
import type { ApiContext } from './context.js';
import { deadLetterRoutes } from './dead-letters.js';
import { deviceRoutes } from './devices.js';
import { installErrorHandler } from './errors.js';
import { healthRoutes } from './health.js';
import { alertRoutes } from './alerts.js';
import { ruleRoutes } from './rules.js';
import { DOCS_CSP, securityHeaders } from './security-headers.js';
import { siteRoutes } from './sites.js';
import { silenceRoutes } from './silences.js';
import { tokenRoutes } from './tokens.js';
import { workOrderRoutes } from './work-orders.js';

/** Composes the API: one plugin per area, each with its own routes and schemas. */
export async function buildApiServer(ctx: ApiContext): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: ctx.logger.child({ component: 'http' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 1024 * 1024 }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  // First, so every answer carries the headers: the docs, the probes, and what auth refuses early.
  await app.register(securityHeaders);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Remote Guardian API (远程守护)',
        description: 'Telemetry, devices and ingest of the Remote Guardian engine. Authenticate with `Authorization: Bearer <token>`.',
        version: ctx.version,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP });
  await app.register(authPlugin, { adminToken: ctx.adminToken, tokens: ctx.tokens });

  await app.register(healthRoutes, { ctx });
  await app.register(siteRoutes, { ctx });
  await app.register(deviceRoutes, { ctx });
  await app.register(deadLetterRoutes, { ctx });
  await app.register(ruleRoutes, { ctx });
  await app.register(alertRoutes, { ctx });
  await app.register(silenceRoutes, { ctx });
  await app.register(workOrderRoutes, { ctx });
  await app.register(tokenRoutes, { ctx });
  return app;
}
