import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { REJECT_REASONS } from '../../collectors/reasons.js';
import { STAFF } from '../auth/roles.js';
import type { ApiContext } from './context.js';
import { ListQuery, IsoTime } from './schemas.js';
import { iso, resolveTime, TimeParam } from './time-params.js';

const DeadLetterView = z.object({
  id: z.number().int(),
  receivedAt: IsoTime,
  reason: z.string(),
  reasonText: z.string(),
  detail: z.string(),
  topic: z.string(),
  site: z.string().optional(),
  deviceId: z.string().optional(),
  payload: z.string().describe('the payload as received, truncated to the configured limit'),
  payloadBytes: z.number().int(),
  truncated: z.boolean(),
});

export const deadLetterRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get(
    '/api/dead-letters',
    {
      config: { roles: STAFF },
      schema: {
        tags: ['ingest'],
        summary: 'Rejected messages with the reason, newest first',
        querystring: ListQuery.extend({
          reason: z.enum(Object.keys(REJECT_REASONS) as [keyof typeof REJECT_REASONS]).optional(),
          device: z.string().optional(),
          site: z.string().optional(),
          from: TimeParam.optional(),
          to: TimeParam.optional(),
        }),
        response: {
          200: z.object({
            items: z.array(DeadLetterView),
            total: z.number().int(),
            byReason: z.record(z.string(), z.number().int()).describe('dead letters kept, per reason'),
          }),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const sites = request.access.listScope(q.site);
      if (!sites) return { items: [], total: 0, byReason: {} };
      const now = ctx.now();
      const { items, total } = await ctx.deadLetters.list({
        limit: q.limit,
        offset: q.offset,
        ...(q.reason && { reason: q.reason }),
        ...(q.device && { deviceId: q.device }),
        ...sites,
        ...(q.from && { from: resolveTime(q.from, now)! }),
        ...(q.to && { to: resolveTime(q.to, now)! }),
      });
      return {
        total,
        byReason: await ctx.deadLetters.countByReason(),
        items: items.map((d) => ({
          ...d,
          receivedAt: iso(d.receivedAt),
          reasonText: REJECT_REASONS[d.reason as keyof typeof REJECT_REASONS] ?? d.reason,
          truncated: Buffer.byteLength(d.payload) < d.payloadBytes,
        })),
      };
    },
  );
};
