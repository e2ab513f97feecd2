import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ROLES } from '../auth/roles.js';
import { RESERVED_TOKEN_NAMES, reservedTokenName } from '../auth/tokens.js';
import type { ApiContext } from './context.js';
import { ErrorBody } from './errors.js';
import { IsoTime, list, ListQuery } from './schemas.js';
import { iso } from './time-params.js';

const TokenView = z.object({
  name: z.string(),
  role: z.enum(ROLES),
  siteId: z.string().optional(),
  createdAt: IsoTime,
  createdBy: z.string(),
  revokedAt: IsoTime.optional(),
});

/** API tokens with roles; admin only. The token itself is shown once, when created. */
export const tokenRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const admin = { roles: ['admin'] as const };
  app.get(
    '/api/tokens',
    { config: admin, schema: { tags: ['access'], summary: 'API tokens (without the secrets), oldest first', querystring: ListQuery, response: { 200: list(TokenView) } } },
    async (request) => {
      const { items, total } = await ctx.tokens.list({ limit: request.query.limit, offset: request.query.offset });
      return { items: items.map(({ revokedAt, createdAt, ...t }) => ({ ...t, createdAt: iso(createdAt), ...(revokedAt !== undefined && { revokedAt: iso(revokedAt) }) })), total };
    },
  );

  app.post(
    '/api/tokens',
    {
      config: admin,
      schema: {
        tags: ['access'],
        summary: 'Create a token for a person or system with a role; hospital tokens are limited to one site. A name in use (409) or reserved (400) is refused',
        body: z
          .strictObject({
            name: z
              .string()
              .trim()
              .min(1)
              .max(100)
              .refine((name) => !/\p{Cc}/u.test(name), 'must not contain control characters')
              .describe(`who holds it; shown in work-order timelines and the audit trail. Unique (compared without case or spacing); not one of ${RESERVED_TOKEN_NAMES.join(', ')}`),
            role: z.enum(ROLES),
            siteId: z.string().min(1).optional().describe('hospital role: the site it may see'),
          })
          .superRefine((b, c) => {
            const reserved = reservedTokenName(b.name);
            if (reserved !== undefined) c.addIssue({ code: 'custom', path: ['name'], message: `${reserved} is a reserved name (${RESERVED_TOKEN_NAMES.join(', ')}): timelines and the audit trail use it for someone else; choose the holder's own name` });
            if (b.role === 'hospital' && !b.siteId) c.addIssue({ code: 'custom', path: ['siteId'], message: 'a hospital token needs siteId' });
            if (b.role !== 'hospital' && b.siteId) c.addIssue({ code: 'custom', path: ['siteId'], message: 'only hospital tokens are limited to a site' });
          }),
        response: { 201: TokenView.extend({ token: z.string().describe('shown only now; keep it safe') }), 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const { name, role, siteId } = request.body;
      if (siteId && !ctx.registry.getSite(siteId)) return reply.code(400).send({ error: 'unknown_site', message: `site ${siteId} is not registered` });
      const { token, record } = await ctx.tokens.create({ name, role, ...(siteId && { siteId }) }, request.principal.name, ctx.now());
      ctx.logger.info({ token: name, role, site: siteId, by: request.principal.name }, 'API token created');
      const { revokedAt: _revoked, createdAt, ...rest } = record;
      return reply.code(201).send({ ...rest, createdAt: iso(createdAt), token });
    },
  );

  app.delete(
    '/api/tokens/:name',
    { config: admin, schema: { tags: ['access'], summary: 'Revoke a token; every engine on the database refuses it within 5 seconds', params: z.object({ name: z.string().min(1) }), response: { 204: z.null().describe('revoked'), 404: ErrorBody } } },
    async (request, reply) => {
      if (!(await ctx.tokens.revoke(request.params.name, ctx.now()))) return reply.code(404).send({ error: 'not_found', message: `no live token named ${request.params.name}` });
      ctx.logger.info({ token: request.params.name, by: request.principal.name }, 'API token revoked');
      return reply.code(204).send(null);
    },
  );
};
