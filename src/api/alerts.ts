import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ALERT_STATES, type AlertState } from '../kernel/alerts.js';
import { RULE_KINDS } from '../../rules/pack-schema.js';
import { GRADES, GRADE_LABELS, compareGrades } from '../kernel/grades.js';
import { LocationSchema } from '../kernel/device.js';
import { EVERYONE } from '../auth/roles.js';
import type { ApiContext } from './context.js';
import { eitherStateOrStatus, IsoTime, list, stateFilter } from './schemas.js';
import { iso } from './time-params.js';

const AlertView = z.object({
  deviceId: z.string(),
  site: z.string().optional(),
  location: LocationSchema.optional(),
  ruleId: z.string(),
  pack: z.string(),
  state: z.enum(ALERT_STATES),
  grade: z.enum(GRADES).optional(),
  gradeLabel: z.object({ zh: z.string(), en: z.string() }).optional(),
  value: z.number().optional(),
  message: z.object({ zh: z.string(), en: z.string() }),
  activeAt: IsoTime.optional(),
  firedAt: IsoTime.optional(),
  resolvedAt: IsoTime.optional(),
  forecast: z
    .object({ crossingAt: IsoTime, earliest: IsoTime, latest: IsoTime.optional(), slopePerDay: z.number(), points: z.number().int() })
    .optional()
    .describe('trend rules: when the threshold is forecast to be crossed, with its confidence band'),
  anomaly: z
    .object({ score: z.number(), baseline: z.number(), spikes: z.number().int(), lastSpikeAt: IsoTime.optional() })
    .optional()
    .describe('anomaly rules: the last deviation (robust standard deviations) from the device’s own baseline, and the short spikes recorded without alerting'),
  kind: z.enum(RULE_KINDS).optional().describe(`rule kind: ${RULE_KINDS.join(', ')}`),
  silencedBy: z.string().optional().describe('the silence (maintenance window) holding this alert’s notifications'),
  triggerCount: z.number().int(),
  flapping: z.boolean(),
  updatedAt: IsoTime,
});

/** Alerts still open: not back to normal and not resolved (what `state=open` lists). */
export const OPEN_ALERT_STATES: readonly AlertState[] = ALERT_STATES.filter((s) => s !== 'normal' && s !== 'resolved');

/** Alerts raised by the rules: by default those not back to normal, most serious first. */
export const alertRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get(
    '/api/alerts',
    {
      config: { roles: EVERYONE },
      schema: {
        tags: ['alerts'],
        summary: 'Alerts (one per device and rule), most serious and newest first',
        description:
          'Filters: state (or its synonym status): comma-separated alert states, `open` (not back to normal and not resolved: pending, firing, recovering, nodata, error) or `all`; default: every state but normal. site, device: one id each; grade: one grade.',
        querystring: z
          .object({
            state: stateFilter(ALERT_STATES, OPEN_ALERT_STATES, 'alert state'),
            status: stateFilter(ALERT_STATES, OPEN_ALERT_STATES, 'alert state'),
            device: z.string().optional(),
            site: z.string().optional(),
            grade: z.enum(GRADES).optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
            offset: z.coerce.number().int().min(0).default(0),
          })
          .superRefine(eitherStateOrStatus),
        response: { 200: list(AlertView) },
      },
    },
    async (request) => {
      const q = request.query;
      const sites = request.access.listScope(q.site);
      if (!sites) return { items: [], total: 0 };
      const states = q.state ?? q.status;
      // The engine's alerts are its working state, held in memory and evaluated on every sample
      // (the SQL copy is only what a restart resumes from), so they are filtered and paged here.
      const matching = ctx.alerts
        .list()
        .map((a) => ({ alert: a, device: ctx.registry.get(a.deviceId) }))
        .filter(({ alert, device }) => {
          if (states ? !states.includes(alert.record.state) : alert.record.state === 'normal') return false;
          if (q.device && alert.deviceId !== q.device) return false;
          if (sites.site !== undefined && device?.site !== sites.site) return false;
          if (!request.access.canSee(device?.site)) return false;
          if (q.grade && alert.record.grade !== q.grade) return false;
          return true;
        })
        .sort(
          (a, b) =>
            (b.alert.record.grade && a.alert.record.grade ? compareGrades(b.alert.record.grade, a.alert.record.grade) : b.alert.record.grade ? 1 : a.alert.record.grade ? -1 : 0) ||
            b.alert.updatedAt - a.alert.updatedAt,
        );
      const items = matching.slice(q.offset, q.offset + q.limit).map(({ alert, device }) => {
        const r = alert.record;
        const kind = device ? ctx.rules.forDevice(device).find((rule) => rule.id === alert.ruleId)?.kind : undefined;
        return {
          deviceId: alert.deviceId,
          ...(device && { site: device.site }),
          ...(device?.location && { location: device.location }),
          ruleId: alert.ruleId,
          pack: alert.pack,
          state: r.state,
          ...(r.grade && { grade: r.grade, gradeLabel: GRADE_LABELS[r.grade] }),
          ...(r.lastValue !== undefined && { value: r.lastValue }),
          message: alert.message,
          ...(r.activeAt !== undefined && { activeAt: iso(r.activeAt) }),
          ...(r.firedAt !== undefined && { firedAt: iso(r.firedAt) }),
          ...(r.resolvedAt !== undefined && { resolvedAt: iso(r.resolvedAt) }),
          ...(alert.condition.forecast && {
            forecast: {
              crossingAt: iso(alert.condition.forecast.crossingAt),
              earliest: iso(alert.condition.forecast.earliest),
              ...(alert.condition.forecast.latest < Number.MAX_SAFE_INTEGER && { latest: iso(alert.condition.forecast.latest) }),
              slopePerDay: alert.condition.forecast.slopePerDay,
              points: alert.condition.forecast.points,
            },
          }),
          ...(alert.condition.score !== undefined &&
            alert.condition.baseline !== undefined && {
              anomaly: {
                score: alert.condition.score,
                baseline: alert.condition.baseline,
                spikes: alert.condition.spikes ?? 0,
                ...(alert.condition.lastSpikeAt !== undefined && { lastSpikeAt: iso(alert.condition.lastSpikeAt) }),
              },
            }),
          ...(kind && { kind }),
          ...(alert.silencedBy !== undefined && { silencedBy: alert.silencedBy }),
          triggerCount: r.triggerCount,
          flapping: r.flapping,
          updatedAt: iso(alert.updatedAt),
        };
      });
      return { items, total: matching.length };
    },
  );
};
