import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { STAFF } from '../auth/roles.js';
import type { ApiContext } from './context.js';

/** Liveness, readiness and the Prometheus scrape endpoint. */
export const healthRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: z.object({ status: z.literal('ok'), version: z.string() }) } },
    },
    async () => ({ status: 'ok' as const, version: ctx.version }),
  );

  const Readiness = z.object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() })),
  });
  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: { tags: ['health'], summary: 'Readiness: broker connection, stores and, in the demo, its backfill stored, evaluated and its work orders opened', response: { 200: Readiness, 503: Readiness } },
    },
    async (_request, reply) => {
      const checks: Record<string, { ok: boolean; error?: string }> = {};
      await Promise.all(
        ctx.readiness.map(async (r) => {
          try {
            await r.check();
            checks[r.name] = { ok: true };
          } catch (error) {
            checks[r.name] = { ok: false, error: (error as Error).message };
          }
        }),
      );
      const ready = Object.values(checks).every((c) => c.ok);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );

  app.get('/metrics', { config: { roles: STAFF }, schema: { tags: ['health'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } }, async (_request, reply) => {
    const body = await ctx.metrics.metrics();
    return reply.header('content-type', ctx.metrics.contentType).send(body);
  });
};
