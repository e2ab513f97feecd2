import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MODALITIES } from '../kernel/catalogue/metrics.js';
import { MANAGERS, STAFF } from '../auth/roles.js';
import type { ApiContext } from './context.js';
import { ErrorBody } from './errors.js';
import { IsoTime } from './schemas.js';
import { iso } from './time-params.js';

const RuleView = z.object({
  pack: z.string(),
  modality: z.enum(MODALITIES),
  id: z.string(),
  kind: z.string(),
  enabled: z.boolean(),
  metric: z.string().optional(),
  definition: z.record(z.string(), z.unknown()).describe('the rule as loaded (durations in ms)'),
});

const PackErrorView = z.object({ file: z.string(), line: z.number().int(), column: z.number().int(), path: z.string(), message: z.string() });

/** The rule packs in force, and reloading them. */
export const ruleRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get(
    '/api/rules',
    {
      config: { roles: STAFF },
      schema: {
        tags: ['rules'],
        summary: 'Rules in force; with device, the rules that apply to it after model and device overrides',
        querystring: z.object({ modality: z.enum(MODALITIES).optional(), device: z.string().optional() }),
        response: {
          200: z.object({ items: z.array(RuleView), total: z.number().int(), dir: z.string(), loadedAt: IsoTime }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const { modality, device: deviceId } = request.query;
      const items: Array<z.infer<typeof RuleView>> = [];
      // The packs are files loaded into memory; nothing here is in SQL.
      if (deviceId) {
        const device = request.access.visible(ctx.registry.get(deviceId), (d) => d.site, `no device ${deviceId}`);
        const pack = ctx.rules.list().find((p) => p.modality === device.modality);
        for (const rule of ctx.rules.forDevice(device)) items.push(view(pack?.pack ?? '', device.modality, rule));
      } else {
        for (const pack of ctx.rules.list()) {
          if (modality && pack.modality !== modality) continue;
          for (const rule of pack.rules) items.push(view(pack.pack, pack.modality, rule));
        }
      }
      return { items, total: items.length, dir: ctx.rules.dir, loadedAt: iso(ctx.rules.loadedAtMs) };
    },
  );

  app.post(
    '/api/rules/reload',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['rules'],
        summary: 'Reload the rule packs from their folder; a bad pack is refused and the running rules stay',
        response: {
          200: z.object({ packs: z.number().int(), rules: z.number().int() }),
          422: ErrorBody.extend({ errors: z.array(PackErrorView) }),
        },
      },
    },
    async (_request, reply) => {
      const result = await ctx.rules.load(ctx.now());
      if (!result.ok) {
        return reply.code(422).send({ error: 'invalid_rule_packs', message: `${result.errors.length} problem(s); the running rules stay`, errors: result.errors });
      }
      return { packs: result.packs, rules: result.rules };
    },
  );
};

function view(pack: string, modality: (typeof MODALITIES)[number], rule: { id: string; kind: string; enabled: boolean; metric?: unknown }): z.infer<typeof RuleView> {
  return {
    pack,
    modality,
    id: rule.id,
    kind: rule.kind,
    enabled: rule.enabled,
    ...(typeof rule.metric === 'string' && { metric: rule.metric }),
    definition: rule as unknown as Record<string, unknown>,
  };
}
