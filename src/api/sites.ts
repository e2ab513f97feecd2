import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EVERYONE, MANAGERS } from '../auth/roles.js';
import { SiteSchema } from '../kernel/device.js';
import type { ApiContext } from './context.js';
import { ErrorBody } from './errors.js';
import { list } from './schemas.js';

const SiteView = SiteSchema.extend({
  devices: z.number().int(),
  modalities: z.record(z.string(), z.number().int()),
  online: z.number().int().describe('devices whose last status is not offline'),
});

export const siteRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const view = (id: string) => {
    const site = ctx.registry.getSite(id)!;
    const devices = ctx.registry.list({ site: id });
    const modalities: Record<string, number> = {};
    for (const d of devices) modalities[d.modality] = (modalities[d.modality] ?? 0) + 1;
    const online = devices.filter((d) => d.status && d.status.state !== 'offline').length;
    return { ...site, devices: devices.length, modalities, online };
  };

  app.get(
    '/api/sites',
    { config: { roles: EVERYONE }, schema: { tags: ['sites'], summary: 'Hospitals (sites) and their device counts; a hospital token sees its own', response: { 200: list(SiteView) } } },
    async (request) => {
      // The registry mirrors the sites in memory (ingest looks them up per message): filtered here.
      const items = ctx.registry
        .listSites()
        .filter((s) => request.access.canSee(s.id))
        .map((s) => view(s.id));
      return { items, total: items.length };
    },
  );

  app.get(
    '/api/sites/:id',
    { config: { roles: EVERYONE }, schema: { tags: ['sites'], summary: 'One site with its device counts', params: z.object({ id: z.string() }), response: { 200: SiteView, 404: ErrorBody } } },
    async (request) => view(request.access.visible(ctx.registry.getSite(request.params.id), (s) => s.id, `no site ${request.params.id}`).id),
  );

  app.post(
    '/api/sites',
    { config: { roles: MANAGERS }, schema: { tags: ['sites'], summary: 'Create a site (hospital)', body: SiteSchema, response: { 201: SiteView, 409: ErrorBody } } },
    async (request, reply) => {
      if (ctx.registry.getSite(request.body.id)) {
        return reply.code(409).send({ error: 'conflict', message: `site ${request.body.id} exists; change it with PATCH /api/sites/${request.body.id}` });
      }
      await ctx.registry.upsertSite(request.body);
      return reply.code(201).send(view(request.body.id));
    },
  );

  app.patch(
    '/api/sites/:id',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['sites'],
        summary: 'Change a site; fields not given stay as they are',
        params: z.object({ id: z.string() }),
        body: SiteSchema.omit({ id: true }).partial(),
        response: { 200: SiteView, 404: ErrorBody },
      },
    },
    async (request) => {
      request.access.visible(ctx.registry.getSite(request.params.id), (s) => s.id, `no site ${request.params.id}`);
      await ctx.registry.updateSite(request.params.id, request.body);
      return view(request.params.id);
    },
  );
};
