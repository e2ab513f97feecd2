import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  DEFAULT_SILENCE_TIME_ZONE,
  exactlyOneWindow,
  SILENCE_STATUS_LABELS,
  ScheduleSchema,
  silenceStatus,
  SilenceSpecFields,
  SilenceSpecSchema,
  TimeZoneSchema,
  toSilence,
  toSpec,
  windowAtOrAfter,
  type Silence,
  type SilenceSpec,
  type SilenceStatus,
} from '../silences/schedule.js';
import { silenceLengthIssue } from '../silences/limits.js';
import { EVERYONE, MANAGERS } from '../auth/roles.js';
import { IdSchema } from '../kernel/device.js';
import type { ApiContext } from './context.js';
import { ErrorBody } from './errors.js';
import { eitherStateOrStatus, IsoTime, list } from './schemas.js';
import { iso } from './time-params.js';

const STATUSES = ['active', 'pending', 'expired'] as const satisfies readonly SilenceStatus[];

const SilenceView = z.object({
  id: z.string(),
  scope: z.object({ siteId: z.string().optional(), deviceId: z.string().optional(), ruleIds: z.array(z.string()).describe('empty: every rule') }),
  author: z.string(),
  reason: z.string(),
  timezone: z.string(),
  window: z.object({ startsAt: IsoTime, endsAt: IsoTime }).optional().describe('one-off window [startsAt, endsAt)'),
  schedule: ScheduleSchema.optional().describe('recurring schedule, in the local time of `timezone`'),
  status: z.enum(STATUSES).describe('active: in force now; pending: a window is still to come; expired: expired by hand, or no window from now on'),
  statusLabel: z.object({ zh: z.string(), en: z.string() }),
  nextWindow: z
    .object({ startsAt: IsoTime, endsAt: IsoTime.optional() })
    .optional()
    .describe('the window in force now, or else the next one (absent once expired); endsAt is absent when windows follow each other without a gap'),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  expiredAt: IsoTime.optional().describe('when it was expired by hand (DELETE)'),
});
type SilenceViewT = z.infer<typeof SilenceView>;

/** POST body: a silence spec; the time zone defaults to the site's (Asia/Shanghai unless the site says otherwise). */
const CreateBody = SilenceSpecFields.extend({
  id: IdSchema.optional().describe('optional; generated (UUID) when absent'),
  timezone: TimeZoneSchema.optional().describe(`IANA time zone of the schedule; default: the site's, else ${DEFAULT_SILENCE_TIME_ZONE}`),
}).superRefine(exactlyOneWindow);

/** PATCH body: the fields to change; `window` replaces a schedule and `schedule` a window. */
const PatchBody = SilenceSpecFields.extend({ timezone: TimeZoneSchema.optional() })
  .partial()
  .superRefine((body, ctx) => {
    if (body.window !== undefined && body.schedule !== undefined) ctx.addIssue({ code: 'custom', message: 'give either window (one-off) or schedule (recurring), not both', path: ['schedule'] });
    if (Object.keys(body).length === 0) ctx.addIssue({ code: 'custom', message: 'give at least one field to change', path: [] });
  });

interface Issue {
  readonly path: string;
  readonly message: string;
  readonly code: string;
}

const IdParams = z.object({ id: z.string() });

const STATUS_ORDER: Record<SilenceStatus, number> = { active: 0, pending: 1, expired: 2 };
/** In force first, then those still to come; each by the window in force or next. */
const byStatusThenNextWindow = (a: SilenceViewT, b: SilenceViewT) =>
  STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || (a.nextWindow?.startsAt ?? '').localeCompare(b.nextWindow?.startsAt ?? '') || a.id.localeCompare(b.id);

/** Silences (maintenance windows, 维护窗口): rules keep running, notifications and work orders are held. */
export const silenceRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const service = ctx.silences;

  const view = (s: Silence, now: number): SilenceViewT => {
    const status = silenceStatus(s, now);
    const next = status === 'expired' ? undefined : windowAtOrAfter(s, now);
    return {
      id: s.id,
      scope: { ...s.scope, ruleIds: [...s.scope.ruleIds] },
      author: s.author,
      reason: s.reason,
      timezone: s.timezone,
      ...(s.window && { window: { startsAt: iso(s.window.startsAt), endsAt: iso(s.window.endsAt) } }),
      ...(s.schedule && { schedule: s.schedule }),
      status,
      statusLabel: SILENCE_STATUS_LABELS[status],
      ...(next && { nextWindow: { startsAt: iso(next.start), ...(Number.isFinite(next.end) && { endsAt: iso(next.end) }) } }),
      createdAt: iso(s.createdAt),
      updatedAt: iso(s.updatedAt),
      ...(s.expiredAt !== undefined && { expiredAt: iso(s.expiredAt) }),
    };
  };

  const siteOf = (s: { scope: { siteId?: string; deviceId?: string } }) => s.scope.siteId ?? (s.scope.deviceId !== undefined ? ctx.registry.get(s.scope.deviceId)?.site : undefined);

  /** What the schema cannot know: the site, device and rules exist, and a window is still to come. */
  const check = (spec: SilenceSpec, now: number): Issue[] => {
    const issues: Issue[] = [];
    const { siteId, deviceId, ruleIds } = spec.scope;
    if (siteId !== undefined && !ctx.registry.getSite(siteId)) issues.push({ code: 'unknown_site', path: 'body.scope.siteId', message: `site ${siteId} is not registered (GET /api/sites lists them)` });
    const device = deviceId !== undefined ? ctx.registry.get(deviceId) : undefined;
    if (deviceId !== undefined && !device) issues.push({ code: 'unknown_device', path: 'body.scope.deviceId', message: `device ${deviceId} is not registered (GET /api/devices lists them)` });
    if (device && siteId !== undefined && device.site !== siteId) {
      issues.push({ code: 'scope_mismatch', path: 'body.scope.deviceId', message: `device ${device.id} is at site ${device.site}, not ${siteId}` });
    }
    if (ruleIds.length) {
      const packs = ctx.rules.list().filter((p) => !device || p.modality === device.modality);
      const known = new Set(packs.flatMap((p) => p.rules.map((r) => r.id)));
      ruleIds.forEach((id, i) => {
        if (!known.has(id)) issues.push({ code: 'unknown_rule', path: `body.scope.ruleIds.${i}`, message: `no rule ${id} in the rule packs in force${device ? ` for ${device.modality}` : ''} (GET /api/rules lists them)` });
      });
    }
    if (issues.length === 0) {
      const probe = toSilence(spec, { id: '', createdAt: now, updatedAt: now });
      if (spec.window && probe.window!.endsAt <= now) {
        issues.push({ code: 'bad_window', path: 'body.window.endsAt', message: `ends in the past (${spec.window.endsAt}); a silence must end after now` });
      } else if (spec.schedule && !windowAtOrAfter(probe, now)) {
        issues.push({ code: 'bad_window', path: 'body.schedule', message: 'has no window from now on (look at validUntil and the day lists)' });
      } else {
        const tooLong = silenceLengthIssue(probe, now, service.maxDurationMs);
        if (tooLong) issues.push({ code: 'too_long', path: `body.${tooLong.path}`, message: tooLong.message });
      }
    }
    return issues;
  };

  const refuse = (reply: FastifyReply, issues: readonly Issue[]) =>
    reply.code(400).send({
      error: issues[0]!.code,
      message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
      issues: issues.map(({ path, message }) => ({ path, message })),
    });

  const notFound = (reply: FastifyReply, id: string) => reply.code(404).send({ error: 'not_found', message: `no silence ${id}` });

  app.get(
    '/api/silences',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['silences'],
        summary: 'Silences (maintenance windows): in force now first, then by next window',
        querystring: z.object({
          state: z.enum([...STATUSES, 'open', 'all']).optional().describe('only this status, open (active and pending, the default) or all; synonym: status'),
          status: z.enum([...STATUSES, 'open', 'all']).optional().describe('the same filter as state: a status, open (active and pending) or all'),
          site: z.string().optional().describe('silences of this site, including those of its devices'),
          device: z.string().optional().describe('silences covering this device: its own and its site’s'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }).superRefine(eitherStateOrStatus),
        response: { 200: list(SilenceView) },
      },
    },
    async (request) => {
      const { status, ...rest } = request.query;
      const chosen = rest.state ?? status;
      const q = { ...rest, state: chosen === 'open' ? undefined : chosen };
      const sites = request.access.listScope(q.site);
      if (!sites) return { items: [], total: 0 };
      const now = ctx.now();
      const deviceSite = q.device !== undefined ? ctx.registry.get(q.device)?.site : undefined;
      const scope = { ...sites, ...(q.device !== undefined && { device: { id: q.device, ...(deviceSite !== undefined && { site: deviceSite }) } }) };
      // What is in force or still to come is read whole: few rows, and both whether a recurring
      // silence is still live and the order (by next window) come from its schedule, not from SQL.
      const unfinished = (await ctx.silenceQuery.unfinished(scope, now)).map((s) => view(s, now));
      const live = unfinished.filter((v) => v.status !== 'expired').sort(byStatusThenNextWindow);
      if (q.state !== 'expired' && q.state !== 'all') {
        const matching = q.state === undefined ? live : live.filter((v) => v.status === q.state);
        return { items: matching.slice(q.offset, q.offset + q.limit), total: matching.length };
      }
      // The history only grows: it is counted and paged in SQL, after the live ones for state=all.
      const overIds = unfinished.filter((v) => v.status === 'expired').map((v) => v.id);
      const before = q.state === 'all' ? live : [];
      const shown = before.slice(q.offset, q.offset + q.limit);
      const history = await ctx.silenceQuery.finished(scope, now, overIds, { limit: q.limit - shown.length, offset: Math.max(0, q.offset - before.length) });
      return { items: [...shown, ...history.items.map((s) => view(s, now))], total: before.length + history.total };
    },
  );

  app.get(
    '/api/silences/:id',
    { config: { roles: EVERYONE }, schema: { tags: ['silences'], summary: 'One silence with its status and next window', params: IdParams, response: { 200: SilenceView, 404: ErrorBody } } },
    async (request) => {
      const silence = request.access.visible(await ctx.silenceQuery.get(request.params.id), siteOf, `no silence ${request.params.id}`);
      return view(silence, ctx.now());
    },
  );

  app.post(
    '/api/silences',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['silences'],
        summary: 'Create a silence: a one-off window or a recurring schedule for a site or device',
        body: CreateBody,
        response: { 201: SilenceView, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const { id, ...body } = request.body;
      const timezone = body.timezone ?? zoneOf(body.scope) ?? DEFAULT_SILENCE_TIME_ZONE;
      const spec = SilenceSpecSchema.parse({ ...body, timezone });
      const now = ctx.now();
      const issues = check(spec, now);
      if (issues.length) return refuse(reply, issues);
      const silence = await service.create(spec, id !== undefined ? { id } : {});
      return reply.code(201).header('location', `/api/silences/${encodeURIComponent(silence.id)}`).send(view(silence, now));
    },
  );

  app.patch(
    '/api/silences/:id',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['silences'],
        summary: 'Change a silence; fields not given stay (scope, window and schedule are replaced whole)',
        params: IdParams,
        body: PatchBody,
        response: { 200: SilenceView, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const old = service.get(request.params.id);
      if (!old) return notFound(reply, request.params.id);
      const now = ctx.now();
      if (silenceStatus(old, now) === 'expired') {
        return reply.code(409).send({ error: 'conflict', message: `silence ${old.id} has expired and is kept as history; create a new one with POST /api/silences` });
      }
      const merged: Record<string, unknown> = { ...toSpec(old), ...request.body };
      if (request.body.window !== undefined) delete merged.schedule;
      if (request.body.schedule !== undefined) delete merged.window;
      if (request.body.timezone === undefined) merged.timezone = old.timezone;
      const parsed = SilenceSpecSchema.safeParse(merged);
      if (!parsed.success) return refuse(reply, parsed.error.issues.map((i) => ({ code: 'bad_request', path: ['body', ...i.path].join('.'), message: i.message })));
      const issues = check(parsed.data, now);
      if (issues.length) return refuse(reply, issues);
      const silence = await service.update(old.id, parsed.data);
      return silence ? view(silence, now) : notFound(reply, old.id);
    },
  );

  app.delete(
    '/api/silences/:id',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['silences'],
        summary: 'Expire a silence now; it is kept as history (GET /api/silences?state=expired)',
        params: IdParams,
        response: { 204: z.null().describe('expired'), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const expired = await service.expire(request.params.id);
      if (!expired) return notFound(reply, request.params.id);
      return reply.code(204).send(null);
    },
  );

  function zoneOf(scope: { siteId?: string; deviceId?: string }): string | undefined {
    const site = siteOf({ scope });
    return site !== undefined ? ctx.registry.getSite(site)?.timezone : undefined;
  }
};
