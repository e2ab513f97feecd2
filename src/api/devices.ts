import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { metricDefinition, MODALITIES } from '../kernel/catalogue/metrics.js';
import { formatDuration, parseDuration } from '../kernel/time/duration.js';
import type { RegisteredDevice } from '../kernel/device.js';
import { DeviceSchema, LocationSchema } from '../kernel/device.js';
import { isTimeZone, utcOffsetMs } from '../kernel/time/zone.js';
import type { EngineAlert } from '../../rules/engine.js';
import { EVERYONE, MANAGERS } from '../auth/roles.js';
import { ALERT_STATES } from '../kernel/alerts.js';
import { compareGrades, GRADES, type Grade } from '../kernel/grades.js';
import { WORK_ORDER_STATES } from '../workorders/state-machine.js';
import { WORK_ORDER_KINDS } from '../workorders/types.js';
import { OPEN_ALERT_STATES } from './alerts.js';
import type { ApiContext } from './context.js';
import { IssuedCredential, issuedView } from './device-credentials.js';
import { ErrorBody } from './errors.js';
import { IsoTime, list } from './schemas.js';
import { iso, resolveTime, TimeParam } from './time-params.js';

const LatestView = z.object({
  value: z.number(),
  ts: IsoTime,
  unit: z.string(),
  zh: z.string().optional(),
  en: z.string().optional(),
  flagged: z.boolean().describe('true when the metric is outside the modality catalogue'),
});

const DeviceView = z.object({
  id: z.string(),
  site: z.string(),
  siteName: z.string().optional(),
  modality: z.enum(MODALITIES),
  vendor: z.string(),
  model: z.string(),
  serial: z.string().optional(),
  installDate: z.string().optional(),
  name: z.string().optional(),
  location: LocationSchema.optional(),
  source: z.enum(['fleet', 'api', 'auto']),
  status: z.object({ state: z.string(), ts: IsoTime }).optional(),
  lastSeen: IsoTime.optional(),
  unknownMetrics: z.array(z.string()),
  latest: z.record(z.string(), LatestView),
  worstGrade: z.enum(GRADES).optional().describe('the most serious grade of its open alerts and open work orders; absent when it has none'),
  openAlerts: z
    .array(z.object({ ruleId: z.string(), state: z.enum(ALERT_STATES), grade: z.enum(GRADES).optional() }))
    .describe('its open alerts (not back to normal and not resolved), most serious first; GET /api/alerts?device=… has the details'),
  openWorkOrders: z
    .array(z.object({ id: z.number().int(), number: z.string(), status: z.enum(WORK_ORDER_STATES), grade: z.enum(GRADES), kind: z.enum(WORK_ORDER_KINDS) }))
    .describe('its open work orders (every status before resolved), oldest first'),
  nextCrossing: z
    .object({ ruleId: z.string(), metric: z.string(), level: z.number(), direction: z.enum(['above', 'below']), crossingAt: IsoTime, grade: z.enum(GRADES).optional() })
    .optional()
    .describe('the nearest forecast threshold crossing among its open trend alerts: which metric reaches which level, and when'),
});

type DeviceViewT = z.infer<typeof DeviceView>;
type Risk = Pick<DeviceViewT, 'worstGrade' | 'openAlerts' | 'openWorkOrders' | 'nextCrossing'>;

/** Grades in order, with no grade lowest. */
const gradeRank = (grade: Grade | undefined) => (grade === undefined ? -1 : GRADES.indexOf(grade));

/** Most points a telemetry query returns per metric; a smaller step over a long range is refused. */
const MAX_POINTS = 20_000;
const MAX_STEP = 366 * 86_400_000;
/** Bucket widths the automatic step picks from. */
const NICE_STEPS = ['1s', '5s', '10s', '30s', '1m', '5m', '10m', '15m', '30m', '1h', '2h', '6h', '12h', '1d', '7d'].map((s) => parseDuration(s)!);

export const deviceRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  /** The device, if it exists and the caller may see its site; 404 otherwise. */
  const visibleDevice = (request: FastifyRequest, id: string): RegisteredDevice => request.access.visible(ctx.registry.get(id), (d) => d.site, `no device ${id}`);

  /**
   * What puts each scanner at risk now, for a page of devices at once: the engine's alerts are in
   * memory (one pass over them), the open work orders one query for the whole page.
   */
  const risks = async (devices: readonly RegisteredDevice[]): Promise<Map<string, Risk>> => {
    const wanted = new Set(devices.map((d) => d.id));
    const open = new Map<string, EngineAlert[]>();
    for (const alert of ctx.alerts.states()) {
      if (!wanted.has(alert.deviceId) || !OPEN_ALERT_STATES.includes(alert.record.state)) continue;
      const list = open.get(alert.deviceId);
      if (list) list.push(alert);
      else open.set(alert.deviceId, [alert]);
    }
    const workOrders = wanted.size > 0 ? await ctx.workOrderQuery.openOf([...wanted]) : [];
    const result = new Map<string, Risk>();
    for (const device of devices) {
      const alerts = (open.get(device.id) ?? []).sort((a, b) => gradeRank(b.record.grade) - gradeRank(a.record.grade) || a.ruleId.localeCompare(b.ruleId));
      const orders = workOrders.filter((w) => w.deviceId === device.id);
      const grades = [...alerts.map((a) => a.record.grade), ...orders.map((w) => w.grade)].filter((g): g is Grade => g !== undefined);
      const worst = grades.sort(compareGrades).at(-1);
      let crossing: Risk['nextCrossing'];
      const rules = alerts.some((a) => a.condition.forecast) ? ctx.rules.forDevice(device) : [];
      for (const alert of alerts) {
        const forecast = alert.condition.forecast;
        if (!forecast || (crossing && Date.parse(crossing.crossingAt) <= forecast.crossingAt)) continue;
        const rule = rules.find((r) => r.id === alert.ruleId);
        if (rule?.kind !== 'trend') continue;
        crossing = { ruleId: rule.id, metric: rule.metric, level: rule.threshold, direction: rule.direction, crossingAt: iso(forecast.crossingAt), ...(alert.record.grade && { grade: alert.record.grade }) };
      }
      result.set(device.id, {
        ...(worst && { worstGrade: worst }),
        openAlerts: alerts.map((a) => ({ ruleId: a.ruleId, state: a.record.state, ...(a.record.grade && { grade: a.record.grade }) })),
        openWorkOrders: orders.map((w) => ({ id: w.id, number: w.number, status: w.status, grade: w.grade, kind: w.kind })),
        ...(crossing && { nextCrossing: crossing }),
      });
    }
    return result;
  };

  const view = async (device: RegisteredDevice, risk: Risk): Promise<DeviceViewT> => {
    const latest: Record<string, z.infer<typeof LatestView>> = {};
    for (const value of await ctx.telemetry.latest(device.id)) {
      const def = metricDefinition(device.modality, value.metric);
      latest[value.metric] = {
        value: value.value,
        ts: iso(value.ts),
        unit: def?.unit ?? '',
        ...(def && { zh: def.zh, en: def.en }),
        flagged: !def,
      };
    }
    const siteName = ctx.registry.getSite(device.site)?.name;
    const { status, lastSeen, ...rest } = device;
    return {
      ...rest,
      unknownMetrics: [...device.unknownMetrics],
      ...(siteName && { siteName }),
      ...(status && { status: { state: status.state, ts: iso(status.ts) } }),
      ...(lastSeen !== undefined && { lastSeen: iso(lastSeen) }),
      latest,
      ...risk,
    };
  };
  /** Views of devices with their risk, for a page (a bounded number of queries whatever its size). */
  const views = async (devices: readonly RegisteredDevice[]): Promise<DeviceViewT[]> => {
    const risk = await risks(devices);
    return Promise.all(devices.map((d) => view(d, risk.get(d.id)!)));
  };
  const single = async (device: RegisteredDevice): Promise<DeviceViewT> => (await views([device]))[0]!;

  app.get(
    '/api/devices',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['devices'],
        summary: 'Registered scanners with status and latest values; a hospital token sees its own site’s',
        querystring: z.object({
          site: z.string().optional(),
          modality: z.enum(MODALITIES).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(500),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: list(DeviceView) },
      },
    },
    async (request) => {
      const q = request.query;
      const sites = request.access.listScope(q.site);
      if (!sites) return { items: [], total: 0 };
      // The registry mirrors the fleet in memory (ingest looks a device up per message), so the
      // list is filtered there; only the page's latest values are read from the telemetry store.
      const devices = ctx.registry.list({ ...sites, ...(q.modality && { modality: q.modality }) });
      const items = await views(devices.slice(q.offset, q.offset + q.limit));
      return { items, total: devices.length };
    },
  );

  app.get(
    '/api/devices/:id',
    { config: { roles: EVERYONE }, schema: { tags: ['devices'], summary: 'One scanner with its status and latest values', params: z.object({ id: z.string() }), response: { 200: DeviceView, 404: ErrorBody } } },
    async (request) => single(visibleDevice(request, request.params.id)),
  );

  app.post(
    '/api/devices',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['devices'],
        summary: 'Register a device at a registered site; the answer carries its MQTT credential, shown only then',
        body: DeviceSchema,
        response: { 201: DeviceView.extend({ credential: IssuedCredential.optional() }), 409: ErrorBody, 422: ErrorBody },
      },
    },
    async (request, reply) => {
      request.access.requireSite(request.body.site, `site ${request.body.site} is not yours`);
      const device = await ctx.registry.create(request.body, 'api');
      // A scanner's identity on the broker is issued with its registration.
      const credential = ctx.deviceCredentials && issuedView(await ctx.deviceCredentials.issue(device.id, request.principal.name));
      return reply.code(201).send({ ...(await single(device)), ...(credential && { credential }) });
    },
  );

  app.patch(
    '/api/devices/:id',
    {
      config: { roles: MANAGERS },
      schema: {
        tags: ['devices'],
        summary: 'Change a device; fields not given stay as they are (site and modality cannot change)',
        params: z.object({ id: z.string() }),
        body: DeviceSchema.omit({ id: true }).partial(),
        response: { 200: DeviceView, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      visibleDevice(request, request.params.id);
      return single(await ctx.registry.update(request.params.id, request.body));
    },
  );

  const Point = z.union([
    z.object({ ts: IsoTime, value: z.number() }),
    z.object({ ts: IsoTime, min: z.number(), mean: z.number(), max: z.number(), count: z.number().int() }),
  ]);
  app.get(
    '/api/devices/:id/telemetry',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['devices'],
        summary: 'Time series of a device: raw samples or min/mean/max per step',
        description:
          'from/to: ISO-8601 with a zone, epoch ms, "now" or relative (-24h). step: a duration (5m, 1h, 1d), "raw" for the samples themselves, or omitted for an automatic step (about 500 buckets). Buckets are aligned to the site\'s time zone (tz to override), so a 1d step starts at local midnight. metric: one name or a comma-separated list; omitted → every metric of the device.',
        params: z.object({ id: z.string() }),
        querystring: z.object({
          metric: z.string().optional(),
          from: TimeParam.default('-24h'),
          to: TimeParam.default('now'),
          tz: z
            .string()
            .refine(isTimeZone, 'must be an IANA time zone such as Asia/Shanghai')
            .optional()
            .describe("time zone whose midnight daily buckets start at; default: the site's (Asia/Shanghai)"),
          step: z
            .string()
            .refine((s) => s === 'raw' || s === 'auto' || ((parseDuration(s) ?? 0) >= 1000 && (parseDuration(s) ?? 0) <= MAX_STEP), 'must be a duration from 1s to 366d (30s, 5m, 1h), "raw" or "auto"')
            .default('auto'),
        }),
        response: {
          200: z.object({
            deviceId: z.string(),
            from: IsoTime,
            to: IsoTime,
            step: z.string().describe('"raw" or the bucket width as a duration'),
            timeZone: z.string().describe('buckets are aligned to this zone: a 1d step starts at its midnight'),
            stepMs: z.number().int().optional(),
            series: z.array(z.object({ metric: z.string(), unit: z.string(), zh: z.string().optional(), en: z.string().optional(), points: z.array(Point) })),
          }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const device = visibleDevice(request, request.params.id);
      const now = ctx.now();
      const from = resolveTime(request.query.from, now)!;
      const to = resolveTime(request.query.to, now)!;
      if (to <= from) return reply.code(400).send({ error: 'bad_request', message: 'to must be after from' });
      const stored = await ctx.telemetry.metrics(device.id);
      const metrics = request.query.metric ? [...new Set(request.query.metric.split(',').map((m) => m.trim()).filter(Boolean))] : stored;
      const unknown = metrics.filter((m) => !metricDefinition(device.modality, m) && !stored.includes(m));
      if (unknown.length > 0) {
        return reply.code(400).send({ error: 'bad_request', message: `${device.id} (${device.modality}) has no metric ${unknown.join(', ')}` });
      }
      const stepText = request.query.step;
      let stepMs: number | undefined;
      if (stepText === 'auto') stepMs = NICE_STEPS.find((s) => (to - from) / s <= 500) ?? NICE_STEPS[NICE_STEPS.length - 1]!;
      else if (stepText !== 'raw') stepMs = parseDuration(stepText)!;
      if (stepMs !== undefined && (to - from) / stepMs > MAX_POINTS) {
        return reply.code(400).send({ error: 'bad_request', message: `step ${stepText} over this range gives more than ${MAX_POINTS} points; use a larger step` });
      }
      const timeZone = request.query.tz ?? ctx.registry.getSite(device.site)?.timezone ?? 'UTC';
      const offset = -utcOffsetMs(timeZone, from);
      const series = await Promise.all(
        metrics.map(async (metric) => {
          const def = metricDefinition(device.modality, metric);
          const points =
            stepMs === undefined
              ? (await ctx.telemetry.raw({ deviceId: device.id, metric, from, to, limit: MAX_POINTS + 1 })).map((s) => ({ ts: iso(s.ts), value: s.value }))
              : (await ctx.telemetry.aggregate({ deviceId: device.id, metric, from, to, step: stepMs, offset })).map((p) => ({ ...p, ts: iso(p.ts) }));
          return { metric, unit: def?.unit ?? '', ...(def && { zh: def.zh, en: def.en }), points };
        }),
      );
      const tooMany = series.find((s) => s.points.length > MAX_POINTS);
      if (tooMany) {
        return reply.code(400).send({ error: 'bad_request', message: `more than ${MAX_POINTS} raw samples of ${tooMany.metric} in this range; narrow it or give a step` });
      }
      return {
        deviceId: device.id,
        from: iso(from),
        to: iso(to),
        step: stepMs === undefined ? 'raw' : formatDuration(stepMs),
        timeZone,
        ...(stepMs !== undefined && { stepMs }),
        series,
      };
    },
  );

  app.get(
    '/api/devices/:id/events',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['devices'],
        summary: 'Discrete events a device reported (error codes, arcs, quench), newest first',
        params: z.object({ id: z.string() }),
        querystring: z.object({
          code: z.string().optional(),
          from: TimeParam.optional(),
          to: TimeParam.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: {
          200: list(z.object({ id: z.number().int(), ts: IsoTime, code: z.string(), message: z.string().optional(), data: z.record(z.string(), z.unknown()).optional(), receivedAt: IsoTime })),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const device = visibleDevice(request, request.params.id);
      const now = ctx.now();
      const q = request.query;
      const { items, total } = await ctx.events.list({
        deviceId: device.id,
        limit: q.limit,
        offset: q.offset,
        ...(q.code && { code: q.code }),
        ...(q.from && { from: resolveTime(q.from, now)! }),
        ...(q.to && { to: resolveTime(q.to, now)! }),
      });
      return { total, items: items.map(({ deviceId: _d, ...e }) => ({ ...e, ts: iso(e.ts), receivedAt: iso(e.receivedAt) })) };
    },
  );
};
