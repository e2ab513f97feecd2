import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GRADE_LABELS, GRADES } from '../kernel/grades.js';
import { IsoInstantSchema, parseIsoInstant } from '../kernel/time/instant.js';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../kernel/text.js';
import { EVERYONE, MANAGERS, STAFF, type Role } from '../auth/roles.js';
import { FAULT_TYPE_LABELS, FAULT_TYPES } from '../kernel/catalogue/fault-types.js';
import { CLOCK_LABELS, CLOCK_NAMES, type ClockStatus } from '../workorders/clocks.js';
import { allowedActions, OPEN_STATES, STATE_LABELS, WORK_ORDER_ACTIONS, WORK_ORDER_STATES, type WorkOrderAction } from '../workorders/state-machine.js';
import { CHANNEL_LABELS, CHANNELS, RESPONSE_MODES, SatisfactionSchema, WORK_ORDER_KINDS, type WorkOrder, type WorkOrderEvent } from '../workorders/types.js';
import type { ApiContext, WorkOrderDesk } from './context.js';
import { ErrorBody } from './errors.js';
import { DeliveryView, workOrderDeliveries } from './notify.js';
import { eitherStateOrStatus, IsoTime, list, stateFilter } from './schemas.js';
import { iso, resolveTime, TimeParam } from './time-params.js';

const Label = z.object({ zh: z.string(), en: z.string() });

const ClockView = z.object({
  name: z.enum(CLOCK_NAMES),
  label: Label,
  startedAt: IsoTime,
  dueAt: IsoTime,
  metAt: IsoTime.optional(),
  state: z.enum(['running', 'met', 'breached', 'stopped']),
  remainingMs: z.number().describe('time left while running; negative once overdue'),
});

const WorkOrderView = z.object({
  id: z.number().int(),
  number: z.string().describe('readable number, e.g. WO-202611-0042'),
  kind: z.enum(WORK_ORDER_KINDS).describe('corrective, or planned (a predictive warning: due before the forecast crossing)'),
  channel: z.enum(CHANNELS),
  channelLabel: Label,
  status: z.enum(WORK_ORDER_STATES),
  statusLabel: Label,
  grade: z.enum(GRADES),
  gradeLabel: Label,
  siteId: z.string(),
  deviceId: z.string(),
  device: z.object({
    modality: z.string(),
    vendor: z.string(),
    model: z.string(),
    serial: z.string().optional(),
    installDate: z.string().optional(),
    name: z.string().optional(),
    location: z.object({ department: z.string().optional(), floor: z.string().optional(), room: z.string().optional() }).optional(),
  }),
  faultType: z.enum(FAULT_TYPES),
  faultTypeLabel: Label,
  title: z.string(),
  phenomenon: z.string(),
  alarmCodes: z.array(z.string()),
  ruleId: z.string().optional(),
  identity: z.string().optional(),
  reporter: z.object({ name: z.string(), phone: z.string().optional(), department: z.string().optional() }).optional(),
  faultAt: IsoTime,
  reportedAt: IsoTime,
  reportedBy: z.string(),
  notifiedAt: IsoTime.optional(),
  acknowledgedAt: IsoTime.optional(),
  acknowledgedBy: z.string().optional(),
  respondedAt: IsoTime.optional(),
  respondedBy: z.string().optional(),
  responseMode: z.enum(RESPONSE_MODES).optional(),
  startedAt: IsoTime.optional(),
  startedBy: z.string().optional(),
  resolvedAt: IsoTime.optional(),
  resolvedBy: z.string().optional(),
  resolution: z.string().optional(),
  closedAt: IsoTime.optional(),
  closedBy: z.string().optional(),
  satisfaction: z.number().int().optional(),
  satisfactionComment: z.string().optional(),
  cancelledAt: IsoTime.optional(),
  cancelledBy: z.string().optional(),
  assignee: z.string().optional(),
  assignedAt: IsoTime.optional(),
  plannedDueAt: IsoTime.optional(),
  alertState: z.string().optional(),
  resolutionSuggested: z.boolean().describe('the alert behind it has resolved: a person should check and resolve the work order'),
  clocks: z.array(ClockView),
  overdue: z.boolean().describe('a clock is past due and its step not done'),
  allowedActions: z.array(z.enum(WORK_ORDER_ACTIONS)),
  updatedAt: IsoTime,
});

const EventView = z.object({
  ts: IsoTime,
  actor: z.string(),
  kind: z.string(),
  from: z.enum(WORK_ORDER_STATES).optional(),
  to: z.enum(WORK_ORDER_STATES).optional(),
  note: z.string().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

const DetailView = WorkOrderView.extend({
  timeline: z.array(EventView),
  notifications: z
    .array(DeliveryView)
    .optional()
    .describe('the pushes of this work order, newest first, each with its attempts (the delivery log); for the service roles, when pushes are set up'),
});

/** Who may take each action (on top of seeing the work order's site). */
export const ACTION_ROLES: Readonly<Record<WorkOrderAction, readonly Role[]>> = {
  notify: STAFF,
  acknowledge: STAFF,
  respond: STAFF,
  start: STAFF,
  hold: STAFF,
  resume: STAFF,
  resolve: STAFF,
  reopen: EVERYONE,
  close: ['admin', 'supervisor', 'hospital'],
  cancel: MANAGERS,
};

const text = (max: number) => z.string().trim().min(1).max(max).refine(isStorableText, STORABLE_TEXT_MESSAGE);

const CreateBody = z
  .strictObject({
    deviceId: z.string().min(1),
    channel: z.enum(['hotline', 'web', 'app', 'sms', 'email']).describe('how the fault was reported (automatic work orders come from alerts)'),
    grade: z.enum(GRADES),
    title: text(200),
    phenomenon: text(4000).describe('故障现象: what the reporter saw'),
    alarmCodes: z.array(text(64)).max(50).optional(),
    faultType: z.enum(FAULT_TYPES).optional(),
    faultAt: IsoInstantSchema.optional().describe('when the fault happened (to the minute); default: now'),
    reporter: z.strictObject({ name: text(100), phone: text(40).optional(), department: text(100).optional() }),
  })
  .describe('A work order reported through a manual channel');

const TransitionBody = z
  .strictObject({
    action: z.enum(WORK_ORDER_ACTIONS),
    note: text(4000).optional(),
    mode: z.enum(RESPONSE_MODES).optional().describe('respond: remote connection or on site'),
    resolution: text(4000).optional().describe('resolve: what was done'),
    satisfaction: SatisfactionSchema.optional().describe('close: the hospital’s satisfaction, 1–5'),
    comment: text(4000).optional().describe('close: the hospital’s comment'),
  })
  .describe('An action of the work-order state machine');

export function workOrderView(service: Pick<WorkOrderDesk, 'clocks'>, w: WorkOrder, now: number): z.output<typeof WorkOrderView> {
  const clocks = service.clocks(w, now);
  const t = (ms: number | undefined) => (ms === undefined ? undefined : iso(ms));
  const optional = {
    ruleId: w.ruleId,
    identity: w.identity,
    reporter: w.reporter,
    notifiedAt: t(w.notifiedAt),
    acknowledgedAt: t(w.acknowledgedAt),
    acknowledgedBy: w.acknowledgedBy,
    respondedAt: t(w.respondedAt),
    respondedBy: w.respondedBy,
    responseMode: w.responseMode,
    startedAt: t(w.startedAt),
    startedBy: w.startedBy,
    resolvedAt: t(w.resolvedAt),
    resolvedBy: w.resolvedBy,
    resolution: w.resolution,
    closedAt: t(w.closedAt),
    closedBy: w.closedBy,
    satisfaction: w.satisfaction,
    satisfactionComment: w.satisfactionComment,
    cancelledAt: t(w.cancelledAt),
    cancelledBy: w.cancelledBy,
    assignee: w.assignee,
    assignedAt: t(w.assignedAt),
    plannedDueAt: t(w.plannedDueAt),
    alertState: w.alertState,
  };
  return {
    id: w.id,
    number: w.number,
    kind: w.kind,
    channel: w.channel,
    channelLabel: CHANNEL_LABELS[w.channel],
    status: w.status,
    statusLabel: STATE_LABELS[w.status],
    grade: w.grade,
    gradeLabel: GRADE_LABELS[w.grade],
    siteId: w.siteId,
    deviceId: w.deviceId,
    device: { ...w.device, ...(w.device.location && { location: { ...w.device.location } }) },
    faultType: w.faultType,
    faultTypeLabel: FAULT_TYPE_LABELS[w.faultType],
    title: w.title,
    phenomenon: w.phenomenon,
    alarmCodes: [...w.alarmCodes],
    faultAt: iso(w.faultAt),
    reportedAt: iso(w.reportedAt),
    reportedBy: w.reportedBy,
    resolutionSuggested: w.resolutionSuggestedAt !== undefined && w.status !== 'resolved' && w.status !== 'closed' && w.status !== 'cancelled',
    clocks: clocks.map(clockView),
    overdue: isOverdue(clocks),
    allowedActions: allowedActions(w.status),
    updatedAt: iso(w.updatedAt),
    ...(Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) as object),
  };
}

const isOverdue = (clocks: readonly ClockStatus[]) => clocks.some((c) => c.state === 'breached' && c.metAt === undefined);

function clockView(c: ClockStatus): z.output<typeof ClockView> {
  return { name: c.name, label: c.label, startedAt: iso(c.startedAt), dueAt: iso(c.dueAt), ...(c.metAt !== undefined && { metAt: iso(c.metAt) }), state: c.state, remainingMs: c.remainingMs };
}

function eventView(e: WorkOrderEvent): z.output<typeof EventView> {
  return { ts: iso(e.ts), actor: e.actor, kind: e.kind, ...(e.from && { from: e.from }), ...(e.to && { to: e.to }), ...(e.note && { note: e.note }), ...(e.data && { data: { ...e.data } }) };
}

/** Work orders: list, detail with timeline and clocks, manual creation, transitions, assignment, comments. */
export const workOrderRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const service = ctx.workOrders;

  /** The work order, if the caller may see it: another site's answers 404 like one that does not exist. */
  const load = async (request: FastifyRequest, id: string): Promise<WorkOrder> => request.access.visible(await service.get(id), (w) => w.siteId, `no work order ${id}`);

  app.get(
    '/api/work-orders',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['work orders'],
        summary: 'Work orders, newest report first; hospital viewers see their own site only',
        description:
          'Filters: status (or its synonym state): comma-separated work-order statuses, `open` (every status before resolved) or `all`; default: all. site, device: one id each; grade, kind: one value; overdue: true or false.',
        querystring: z.object({
          site: z.string().optional(),
          device: z.string().optional(),
          status: stateFilter(WORK_ORDER_STATES, OPEN_STATES, 'work-order status'),
          state: stateFilter(WORK_ORDER_STATES, OPEN_STATES, 'work-order status'),
          grade: z.enum(GRADES).optional(),
          kind: z.enum(WORK_ORDER_KINDS).optional(),
          overdue: z.enum(['true', 'false']).optional().describe('only those with a clock past due (true) or none (false)'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }).superRefine(eitherStateOrStatus),
        response: { 200: list(WorkOrderView) },
      },
    },
    async (request) => {
      const q = request.query;
      const sites = request.access.listScope(q.site);
      if (!sites) return { items: [], total: 0 };
      const now = ctx.now();
      const status = q.status ?? q.state;
      const filter = { ...sites, ...(q.device && { device: q.device }), ...(status && { status }), ...(q.grade && { grade: q.grade }), ...(q.kind && { kind: q.kind }) };
      if (q.overdue === undefined) {
        const { items, total } = await ctx.workOrderQuery.page(filter, { limit: q.limit, offset: q.offset });
        return { items: items.map((w) => workOrderView(service, w, now)), total };
      }
      // Overdue is a property of the clocks, which run on the site's calendar at `now` and are not
      // stored, so this filter alone is applied in memory, after SQL has applied the others.
      const found = (await service.list(filter)).filter((w) => isOverdue(service.clocks(w, now)) === (q.overdue === 'true'));
      return { items: found.slice(q.offset, q.offset + q.limit).map((w) => workOrderView(service, w, now)), total: found.length };
    },
  );

  app.get(
    '/api/escalations',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['work orders'],
        summary: 'Breached response-time clocks (escalations), oldest due first; recorded once each, for follow-up and reports',
        querystring: z.object({
          site: z.string().optional(),
          from: TimeParam.optional().describe('due at or after: ISO-8601 with a zone, epoch ms, now, or relative (-7d)'),
          to: TimeParam.optional().describe('due before; same forms as from'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: {
          200: list(
            z.object({
              workOrderId: z.number().int(),
              number: z.string().optional(),
              clock: z.enum(CLOCK_NAMES),
              label: Label,
              dueAt: IsoTime,
              detectedAt: IsoTime,
              grade: z.enum(GRADES),
              siteId: z.string(),
            }),
          ),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const sites = request.access.listScope(q.site);
      if (!sites) return { items: [], total: 0 };
      const now = ctx.now();
      const { items, total } = await ctx.workOrderQuery.breaches({ ...sites, ...(q.from && { from: resolveTime(q.from, now)! }), ...(q.to && { to: resolveTime(q.to, now)! }) }, { limit: q.limit, offset: q.offset });
      return {
        total,
        items: items.map((b) => {
          const clock = b.clock as (typeof CLOCK_NAMES)[number];
          return {
            workOrderId: b.workOrderId,
            ...(b.number && { number: b.number }),
            clock,
            label: CLOCK_LABELS[clock],
            dueAt: iso(b.dueAt),
            detectedAt: iso(b.detectedAt),
            grade: b.grade,
            siteId: b.siteId,
          };
        }),
      };
    },
  );

  app.get(
    '/api/work-orders/:id',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['work orders'],
        summary: 'One work order (by id or number) with its clocks, timeline and, for the service roles, its pushes',
        params: z.object({ id: z.string().min(1).describe('id or readable number (WO-202611-0042)') }),
        response: { 200: DetailView, 404: ErrorBody },
      },
    },
    async (request) => {
      const workOrder = await load(request, request.params.id);
      // Who was called on which channel is the service's business, not the hospital's.
      const notifications = ctx.notify && STAFF.includes(request.principal.role) ? await workOrderDeliveries(ctx.notify, workOrder.id) : undefined;
      return {
        ...workOrderView(service, workOrder, ctx.now()),
        timeline: (await service.timeline(workOrder.id)).map(eventView),
        ...(notifications && { notifications }),
      };
    },
  );

  app.post(
    '/api/work-orders',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['work orders'],
        summary: 'Open a work order reported by hotline, web, app, SMS or e-mail',
        body: CreateBody,
        response: { 201: WorkOrderView, 400: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const device = ctx.registry.get(body.deviceId);
      if (!device) return reply.code(400).send({ error: 'unknown_device', message: `device ${body.deviceId} is not registered` });
      request.access.requireSite(device.site, `device ${body.deviceId} is not at your site`);
      const workOrder = await service.create(
        {
          deviceId: body.deviceId,
          channel: body.channel,
          grade: body.grade,
          title: body.title,
          phenomenon: body.phenomenon,
          ...(body.alarmCodes && { alarmCodes: body.alarmCodes }),
          ...(body.faultType && { faultType: body.faultType }),
          ...(body.faultAt && { faultAt: parseIsoInstant(body.faultAt)! }),
          reporter: body.reporter,
        },
        request.principal.name,
      );
      return reply.code(201).header('location', `/api/work-orders/${workOrder.number}`).send(workOrderView(service, workOrder, ctx.now()));
    },
  );

  app.post(
    '/api/work-orders/:id/transitions',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['work orders'],
        summary: 'Move a work order through its lifecycle; 409 with the allowed actions when the state machine does not allow it',
        params: z.object({ id: z.string().min(1) }),
        body: TransitionBody,
        response: { 200: WorkOrderView, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody.extend({ status: z.string().optional(), allowedActions: z.array(z.string()).optional() }) },
      },
    },
    async (request, reply) => {
      const { action } = request.body;
      if (!ACTION_ROLES[action].includes(request.principal.role)) {
        return reply.code(403).send({ error: 'forbidden', message: `role ${request.principal.role} may not ${action} a work order; allowed: ${ACTION_ROLES[action].join(', ')}` });
      }
      await load(request, request.params.id);
      const body = request.body;
      const updated = await service.transition(
        request.params.id,
        {
          action,
          ...(body.note && { note: body.note }),
          ...(body.mode && { mode: body.mode }),
          ...(body.resolution && { resolution: body.resolution }),
          ...(body.satisfaction !== undefined && { satisfaction: body.satisfaction }),
          ...(body.comment && { comment: body.comment }),
        },
        request.principal.name,
      );
      return workOrderView(service, updated, ctx.now());
    },
  );

  app.post(
    '/api/work-orders/:id/assign',
    {
      config: { roles: STAFF },
      schema: {
        tags: ['work orders'],
        summary: 'Hand the work order over to an engineer (starts the 1-hour handover confirmation clock)',
        params: z.object({ id: z.string().min(1) }),
        body: z.strictObject({ assignee: text(100), note: text(4000).optional() }),
        response: { 200: WorkOrderView, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      await load(request, request.params.id);
      return workOrderView(service, await service.assign(request.params.id, request.body.assignee, request.principal.name, request.body.note), ctx.now());
    },
  );

  app.post(
    '/api/work-orders/:id/comments',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['work orders'],
        summary: 'Add a comment or progress update; feedback: true records the feedback to the hospital',
        params: z.object({ id: z.string().min(1) }),
        body: z.strictObject({ note: text(4000), feedback: z.boolean().optional() }),
        response: { 201: WorkOrderView, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await load(request, request.params.id);
      const updated = await service.comment(request.params.id, request.principal.name, request.body.note, { feedback: request.body.feedback === true });
      return reply.code(201).send(workOrderView(service, updated, ctx.now()));
    },
  );
};
