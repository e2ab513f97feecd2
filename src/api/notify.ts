import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ADMINS, EVERYONE, MANAGERS, STAFF } from '../auth/roles.js';
import { IdSchema } from '../kernel/device.js';
import { GRADE_LABELS, GRADES } from '../kernel/grades.js';
import { isSingleLineText, SINGLE_LINE_TEXT_MESSAGE } from '../kernel/text.js';
import { formatDuration } from '../kernel/time/duration.js';
import { IsoInstantSchema, parseIsoInstant } from '../kernel/time/instant.js';
import type { ChainTarget } from '../notify/escalation.js';
import { ONCALL_ROLES, OVERRIDE_KINDS } from '../notify/roster-schema.js';
import type { ChannelSelector } from '../notify/settings.js';
import { ATTEMPT_OUTCOMES, DELIVERY_STATUSES, type Delivery, type DeliveryAttempt, type DeliveryFilter, type StoredOverride } from '../notify/store.js';
import { sampleNotification } from '../notify/templates.js';
import type { ApiContext, NotifyDesk } from './context.js';
import { ApiError, ErrorBody, notFound } from './errors.js';
import { IsoTime, list } from './schemas.js';
import { iso, resolveTime, TimeParam } from './time-params.js';

const Label = z.object({ zh: z.string(), en: z.string() });
const OverrideRef = z.object({ id: z.string(), kind: z.enum(OVERRIDE_KINDS) });

const OnCallView = z.object({
  role: z.enum(ONCALL_ROLES),
  person: z.string().optional().describe('who is on call (absent when nobody staffs the role)'),
  name: z.string().optional(),
  rotation: z.string().optional(),
  shift: z.object({ start: IsoTime, end: IsoTime }).optional().describe('the shift in force: from its handover to the next'),
  scheduled: z.string().optional().describe('who the rotation schedules, when an override put someone else on call'),
  override: OverrideRef.optional().describe('the override in force (swap, leave, holiday)'),
  missing: z.string().optional().describe('why nobody is on call for the role'),
});

const StepTargetView = z.object({
  ref: z.string().describe('the role or person the step names'),
  role: z.enum(ONCALL_ROLES).optional(),
  person: z.string().optional(),
  name: z.string().optional(),
  rotation: z.string().optional(),
  scheduled: z.string().optional(),
  override: OverrideRef.optional(),
  channels: z.array(z.string()).optional().describe('the person’s channels the step selects, in the person’s order (one that cannot reach the person is skipped when sending)'),
  missing: z.string().optional(),
});

const ChainView = z.object({
  grade: z.enum(GRADES),
  gradeLabel: Label,
  digest: z.boolean().describe('minor faults call nobody: they wait for the morning digest'),
  steps: z.array(
    z.object({
      level: z.number().int().describe('0: the first call; 1: the next level; …'),
      after: z.string().describe('delay after the work order opens (or its fault escalates), e.g. 5m'),
      afterMs: z.number().int(),
      at: IsoTime.describe('when the step goes out for a call made at `at`'),
      channels: z.union([z.enum(['all', 'first']), z.array(z.string())]).describe('all: every channel of each person; first: the first that reaches them; or channel types / ids'),
      to: z.array(StepTargetView),
    }),
  ),
  repeat: z.object({ every: z.string(), everyMs: z.number().int(), times: z.number().int() }).optional().describe('the last step is called again this often, this many times, until someone acknowledges'),
});

const OnCallAnswer = z.object({
  site: z.string(),
  siteName: z.string().optional(),
  at: IsoTime,
  onCall: z.array(OnCallView),
  chains: z.array(ChainView),
});

const OverrideView = z.object({
  id: z.string(),
  rotation: z.string(),
  kind: z.enum(OVERRIDE_KINDS),
  from: IsoTime,
  until: IsoTime.describe('end, excluded'),
  replaces: z.string().optional().describe('only while this person is scheduled; absent: whoever is'),
  replacement: z.string(),
  replacementName: z.string().optional(),
  reason: z.string().optional(),
  createdAt: IsoTime,
  createdBy: z.string(),
});

const OverrideBody = z
  .strictObject({
    id: IdSchema.optional().describe('optional; generated when absent'),
    rotation: IdSchema.describe('the rotation (notify.rotations) whose shifts it changes'),
    kind: z.enum(OVERRIDE_KINDS),
    from: IsoInstantSchema.describe('start, included: ISO-8601 with a zone'),
    until: IsoInstantSchema.describe('end, excluded: ISO-8601 with a zone'),
    replaces: IdSchema.optional().describe('only while this person is scheduled; absent: whoever is'),
    replacement: IdSchema.describe('the person (notify.people) on call instead'),
    reason: z.string().min(1).max(500).refine(isSingleLineText, SINGLE_LINE_TEXT_MESSAGE).optional(),
  })
  .describe('A swap, leave or holiday: `replacement` is on call for the rotation on [from, until)');

const AttemptView = z.object({
  at: IsoTime,
  outcome: z.enum(ATTEMPT_OUTCOMES),
  status: z.number().int().optional().describe('HTTP status or SMTP reply code'),
  error: z.string().optional(),
  durationMs: z.number().int().optional(),
  by: z.string().describe('the engine process that made it'),
});

export const DeliveryView = z.object({
  id: z.number().int(),
  deliveryId: z.string().describe('stable id of this notification to this person on this channel (X-Guardian-Delivery)'),
  workOrderId: z.number().int().optional(),
  event: z.string().describe('opened, escalated, reopened, recovered, resolved, digest or test'),
  level: z.number().int().describe('escalation level: 0 the first call'),
  person: z.string(),
  personName: z.string().optional(),
  channel: z.string(),
  channelType: z.string().optional(),
  status: z.enum(DELIVERY_STATUSES).describe('pending (waiting for its time or a retry), sent, failed (given up), cancelled (acknowledged before it went out), folded (sent inside a digest)'),
  attempts: z.number().int(),
  digest: z.boolean(),
  responsible: z.boolean().describe('a call to a responsible person: its first success starts the acknowledge clock'),
  dueAt: IsoTime,
  createdAt: IsoTime,
  updatedAt: IsoTime,
  sentAt: IsoTime.optional(),
  lastError: z.string().optional(),
  foldedInto: z.string().optional().describe('the delivery id of the digest it went out in'),
  log: z.array(AttemptView).describe('every attempt, oldest first'),
});
export type DeliveryViewT = z.output<typeof DeliveryView>;

const TestBody = z.strictObject({
  channel: IdSchema.describe('a channel id of notify.channels'),
  person: IdSchema.optional().describe('a person of notify.people; default: the first who uses the channel'),
});

const TestAnswer = z.object({
  channel: z.string(),
  person: z.string().optional(),
  ok: z.boolean(),
  status: z.number().int().optional().describe('HTTP status or SMTP reply code of the receiver'),
  detail: z.string().optional(),
  retryable: z.boolean().optional().describe('when it failed: worth trying again (5xx, timeout, 429, refused connection)'),
  retryAfterMs: z.number().optional(),
  error: z.string().optional(),
});

/** A delay in its largest whole unit: `0m`, `5m`, `90m`, `2h`. */
const delay = (ms: number) => (ms === 0 ? '0m' : formatDuration(ms));

/** Names of people and types of channels, for views. */
function directory(notify: NotifyDesk) {
  const people = new Map(notify.people().map((p) => [p.id, p]));
  const channelTypes = new Map(notify.channelIds().map((c) => [c.id, c.type]));
  return { people, channelTypes };
}

/** A delivery with its log, as the API shows it (also in `GET /api/work-orders/:id`). */
export function deliveryView(d: Delivery & { log: readonly DeliveryAttempt[] }, names: ReturnType<typeof directory>): DeliveryViewT {
  const personName = names.people.get(d.person)?.name;
  const channelType = names.channelTypes.get(d.channel);
  return {
    id: d.id,
    deliveryId: d.deliveryId,
    ...(d.workOrderId !== undefined && { workOrderId: d.workOrderId }),
    event: d.event,
    level: d.level,
    person: d.person,
    ...(personName !== undefined && { personName }),
    channel: d.channel,
    ...(channelType !== undefined && { channelType }),
    status: d.status,
    attempts: d.attempts,
    digest: d.digest,
    responsible: d.responsible,
    dueAt: iso(d.dueAt),
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    ...(d.sentAt !== undefined && { sentAt: iso(d.sentAt) }),
    ...(d.lastError !== undefined && { lastError: d.lastError }),
    ...(d.foldedInto !== undefined && { foldedInto: d.foldedInto }),
    log: d.log.map((a) => ({
      at: iso(a.at),
      outcome: a.outcome,
      ...(a.status !== undefined && { status: a.status }),
      ...(a.error !== undefined && { error: a.error }),
      ...(a.durationMs !== undefined && { durationMs: a.durationMs }),
      by: a.by,
    })),
  };
}

/** A work order's deliveries with their attempts, newest first (at most `limit`). */
export async function workOrderDeliveries(notify: NotifyDesk, workOrderId: number, limit = 1_000): Promise<DeliveryViewT[]> {
  const names = directory(notify);
  const { items } = await notify.deliveries({ workOrderId }, { limit, offset: 0 });
  return items.map((d) => deliveryView(d, names));
}

/** The channels a step's selector picks for a person, in the person's order. */
function selectedChannels(selector: ChannelSelector, personChannels: readonly string[], channelTypes: ReadonlyMap<string, string>): string[] {
  const known = personChannels.filter((c) => channelTypes.has(c));
  if (selector === 'all') return known;
  if (selector === 'first') return known.slice(0, 1);
  const wanted = new Set<string>(selector);
  return known.filter((c) => wanted.has(c) || wanted.has(channelTypes.get(c)!));
}

function overrideView(o: StoredOverride, names: ReturnType<typeof directory>): z.output<typeof OverrideView> {
  const replacementName = names.people.get(o.replacement)?.name;
  return {
    id: o.id,
    rotation: o.rotation,
    kind: o.kind,
    from: iso(o.from),
    until: iso(o.until),
    ...(o.replaces !== undefined && { replaces: o.replaces }),
    replacement: o.replacement,
    ...(replacementName !== undefined && { replacementName }),
    ...(o.reason !== undefined && { reason: o.reason }),
    createdAt: iso(o.createdAt),
    createdBy: o.createdBy,
  };
}

/**
 * Pushes as people see them: who is on call and the escalation chain of each grade, on-call
 * overrides (swap, leave, holiday) that take effect without a restart, the delivery log, and a
 * test message on a channel. Registered when the engine gives the notify service.
 */
export const notifyRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const notify = ctx.notify;
  if (!notify) return;

  app.get(
    '/api/oncall',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['on call'],
        summary: 'Who is on call at a site at a time, per role, and the escalation chain of each grade (or one)',
        description: 'site: required, except for a hospital token (its own site). at: ISO-8601 with a zone, epoch ms, now or relative (-2h); default now. grade: one grade; default every grade, most serious first.',
        querystring: z.object({
          site: IdSchema.optional(),
          at: TimeParam.optional(),
          grade: z.enum(GRADES).optional(),
        }),
        response: { 200: OnCallAnswer, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = request.access.listScope();
      const site = q.site ?? limit?.site;
      if (site === undefined) throw new ApiError(400, 'bad_request', 'query.site: is required (GET /api/sites lists them)');
      request.access.requireSite(site, `site ${site} is not yours`);
      const known = ctx.registry.getSite(site);
      if (!known) throw notFound(`site ${site} is not registered (GET /api/sites lists them)`);
      const now = ctx.now();
      const at = q.at === undefined ? now : resolveTime(q.at, now)!;
      const names = directory(notify);
      const nameOf = (person: string | undefined) => (person === undefined ? undefined : names.people.get(person)?.name);
      const { roles, chains } = await notify.onCall(site, at, q.grade);
      const target = (t: ChainTarget) => {
        const name = nameOf(t.person);
        return {
          ref: t.ref,
          ...(t.role !== undefined && { role: t.role }),
          ...(t.person !== undefined && { person: t.person }),
          ...(name !== undefined && { name }),
          ...(t.rotation !== undefined && { rotation: t.rotation }),
          ...(t.scheduled !== undefined && { scheduled: t.scheduled }),
          ...(t.override !== undefined && { override: { id: t.override.id, kind: t.override.kind as (typeof OVERRIDE_KINDS)[number] } }),
          ...(t.missing !== undefined && { missing: t.missing }),
        };
      };
      return {
        site,
        siteName: known.name,
        at: iso(at),
        onCall: roles.map((r) => {
          const { ref: _ref, role, ...rest } = target(r);
          return { role: role ?? (r.ref as (typeof ONCALL_ROLES)[number]), ...rest, ...(r.shift && { shift: { start: iso(r.shift.start), end: iso(r.shift.end) } }) };
        }),
        chains: chains.map((c) => ({
          grade: c.grade,
          gradeLabel: GRADE_LABELS[c.grade],
          digest: c.digest,
          steps: c.steps.map((s) => ({
            level: s.level,
            after: delay(s.afterMs),
            afterMs: s.afterMs,
            at: iso(s.at),
            channels: s.channels,
            to: s.to.map((t) => {
              const person = t.person === undefined ? undefined : names.people.get(t.person);
              return { ...target(t), ...(person && { channels: selectedChannels(s.channels, person.channels, names.channelTypes) }) };
            }),
          })),
          ...(c.repeat && { repeat: { every: delay(c.repeat.everyMs), everyMs: c.repeat.everyMs, times: c.repeat.times } }),
        })),
      };
    },
  );

  app.get(
    '/api/oncall/overrides',
    {
      config: { roles: STAFF },
      schema: {
        tags: ['on call'],
        summary: 'On-call overrides made through the API (those in the config file are in notify.overrides), by start',
        querystring: z.object({
          rotation: IdSchema.optional(),
          current: z.enum(['true', 'false']).optional().describe('true: only those not over yet (until after now)'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: list(OverrideView) },
      },
    },
    async (request) => {
      const q = request.query;
      const now = ctx.now();
      const names = directory(notify);
      const matching = (await notify.overrides())
        .filter((o) => (q.rotation === undefined || o.rotation === q.rotation) && (q.current !== 'true' || o.until > now))
        .sort((a, b) => a.from - b.from || a.id.localeCompare(b.id));
      return { items: matching.slice(q.offset, q.offset + q.limit).map((o) => overrideView(o, names)), total: matching.length };
    },
  );

  app.post(
    '/api/oncall/overrides',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['on call'],
        summary: 'Add an on-call override (swap, leave, holiday); it counts at once, on every engine within seconds',
        body: OverrideBody,
        response: { 201: OverrideView, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const created = await notify.addOverride(
        {
          ...(b.id !== undefined && { id: b.id }),
          rotation: b.rotation,
          kind: b.kind,
          from: parseIsoInstant(b.from)!,
          until: parseIsoInstant(b.until)!,
          ...(b.replaces !== undefined && { replaces: b.replaces }),
          replacement: b.replacement,
          ...(b.reason !== undefined && { reason: b.reason }),
        },
        request.principal.name,
      );
      return reply.code(201).header('location', `/api/oncall/overrides/${encodeURIComponent(created.id)}`).send(overrideView(created, directory(notify)));
    },
  );

  app.delete(
    '/api/oncall/overrides/:id',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['on call'],
        summary: 'Remove an on-call override made through the API',
        params: z.object({ id: z.string().min(1) }),
        response: { 204: z.null().describe('removed'), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!(await notify.removeOverride(request.params.id))) throw notFound(`no override ${request.params.id} made through the API`);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/notifications',
    {
      config: { roles: STAFF },
      schema: {
        tags: ['on call'],
        summary: 'The delivery log: every message to a person on a channel, newest first, each with its attempts',
        querystring: z.object({
          workOrder: z.string().min(1).optional().describe('a work order’s id or number (WO-202611-0042)'),
          person: IdSchema.optional(),
          channel: IdSchema.optional(),
          status: z.enum(DELIVERY_STATUSES).optional(),
          from: TimeParam.optional().describe('made at or after: ISO-8601 with a zone, epoch ms, now, or relative (-7d)'),
          to: TimeParam.optional().describe('made before; same forms as from'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: list(DeliveryView), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const q = request.query;
      const now = ctx.now();
      const workOrderId = q.workOrder === undefined ? undefined : (await ctx.workOrders.get(q.workOrder)).id;
      const filter: DeliveryFilter = {
        ...(workOrderId !== undefined && { workOrderId }),
        ...(q.person !== undefined && { person: q.person }),
        ...(q.channel !== undefined && { channel: q.channel }),
        ...(q.status !== undefined && { status: q.status }),
        ...(q.from !== undefined && { from: resolveTime(q.from, now)! }),
        ...(q.to !== undefined && { to: resolveTime(q.to, now)! }),
      };
      const names = directory(notify);
      const { items, total } = await notify.deliveries(filter, { limit: q.limit, offset: q.offset });
      return { items: items.map((d) => deliveryView(d, names)), total };
    },
  );

  app.post(
    '/api/notify/test',
    {
      config: { roles: ADMINS },
      schema: {
        tags: ['on call'],
        summary: 'Send a sample message (an emergency on an MR scanner, marked as a test) on a channel, and answer what the receiver said',
        body: TestBody,
        response: { 200: TestAnswer, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { channel, person } = request.body;
      const result = await notify.test(channel, person, (recipient) => sampleNotification({ recipient, deliveryId: `test-${randomUUID()}` }));
      request.log.info({ channel, person, ok: result.ok, status: result.status }, 'test message sent');
      return { channel, ...(person !== undefined && { person }), ...result };
    },
  );
};
