/**
 * The `notify:` section of the config file (design §7): links, channels, people and rosters
 * (`roster-schema.ts`), escalation policies per grade, the morning digest, retries. Validated at
 * start-up like every setting; cross references (a person's channel, a step's people) are checked
 * with their path.
 */
import { z } from 'zod';
import { IdSchema } from '../kernel/device.js';
import { GRADES, type Grade } from '../kernel/grades.js';
import { ChannelConfigSchema, durationSetting } from './channels/schema.js';
import { checkRosterReferences, HANDOVER_PATTERN, ONCALL_ROLES, RosterShape, type OnCallRole } from './roster-schema.js';
import { CHANNEL_TYPES, type ChannelType } from './types.js';

const ChannelSelectorSchema = z
  .union([z.literal('all'), z.literal('first'), z.array(z.union([z.enum(CHANNEL_TYPES), IdSchema])).min(1)])
  .describe('all: every channel of the person; first: the first that reaches them (the next after a permanent failure); or channel types / ids');
export type ChannelSelector = z.output<typeof ChannelSelectorSchema>;

export const EscalationStepSchema = z.strictObject({
  /** From the notice (the work order opening, its escalation to this grade). */
  after: durationSetting('0m'),
  /** Roles of the on-call chain (primary, secondary, supervisor, manager) or people ids. */
  to: z.array(z.union([z.enum(ONCALL_ROLES), IdSchema])).min(1).max(50),
  channels: ChannelSelectorSchema.default('first'),
});
export type EscalationStepSetting = z.output<typeof EscalationStepSchema>;

const RepeatSchema = z.strictObject({
  /** The last step is called again this long after it went out… */
  every: durationSetting('15m').refine((ms) => ms >= 60_000, 'must be at least 1m'),
  /** …this many times, until someone acknowledges. */
  times: z.coerce.number().int().min(1).max(100),
});

const StepsSchema = z.array(EscalationStepSchema).min(1).max(20);

/** A grade's policy: `digest` (the morning digest), a list of steps, or steps with a repeat. */
const PolicySchema = z
  .union([z.literal('digest'), StepsSchema, z.strictObject({ steps: StepsSchema, repeat: RepeatSchema.optional() })])
  .transform((v): EscalationPolicy => (v === 'digest' ? { digest: true, steps: [] } : Array.isArray(v) ? { digest: false, steps: v } : { digest: false, steps: v.steps, ...(v.repeat && { repeat: v.repeat }) }))
  .superRefine((policy, ctx) => {
    policy.steps.forEach((step, i) => {
      const before = policy.steps[i - 1];
      if (before !== undefined && step.after <= before.after) ctx.addIssue({ code: 'custom', message: 'must be later than the step before', path: [i, 'after'] });
    });
  });

export interface EscalationPolicy {
  /** Waits for the morning digest instead of calling anyone. */
  readonly digest: boolean;
  readonly steps: readonly EscalationStepSetting[];
  readonly repeat?: { readonly every: number; readonly times: number };
}

const MINUTE = 60_000;
const step = (after: number, to: readonly (OnCallRole | string)[], channels: ChannelSelector): EscalationStepSetting => ({ after, to: [...to], channels });
const NO_SMS: ChannelType[] = ['wecom', 'dingtalk', 'webhook', 'email'];

/**
 * The tender's defaults: emergency → primary at once on every channel, unacknowledged at 5 min →
 * secondary + supervisor, at 15 min → service manager (again every 15 min, 4 times); severe →
 * primary at once (SMS included), 15 min → secondary (again every 30 min, twice); general →
 * primary at once without SMS, 30 min → secondary; minor → the morning digest.
 */
export const DEFAULT_ESCALATION: Readonly<Record<Grade, EscalationPolicy>> = {
  emergency: { digest: false, steps: [step(0, ['primary'], 'all'), step(5 * MINUTE, ['secondary', 'supervisor'], 'all'), step(15 * MINUTE, ['manager'], 'all')], repeat: { every: 15 * MINUTE, times: 4 } },
  severe: { digest: false, steps: [step(0, ['primary'], 'all'), step(15 * MINUTE, ['secondary'], 'all')], repeat: { every: 30 * MINUTE, times: 2 } },
  general: { digest: false, steps: [step(0, ['primary'], NO_SMS), step(30 * MINUTE, ['secondary'], NO_SMS)] },
  minor: { digest: true, steps: [] },
};

const EscalationSchema = z.partialRecord(z.enum(GRADES), PolicySchema).default({});

export const NotifyShape = RosterShape.extend({
  /** Off: nothing is pushed (work orders still open and their clocks still run). Default: on when a channel and a rotation are configured. */
  enabled: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'])])
    .transform((v) => (typeof v === 'boolean' ? v : ['true', '1', 'on', 'yes'].includes(v)))
    .optional(),
  /** Base of the links in messages (acknowledge, work order), e.g. https://guardian.example-hospital.cn. Default: the API's own address. */
  publicUrl: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(?:\/[^\s]*)?$/, 'must be an http:// or https:// URL')
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  /** zh-CN: Chinese first, English second; en: English only. */
  language: z.enum(['zh-CN', 'en']).default('zh-CN'),
  /** Signs acknowledge links; unset → generated once in `<dataDir>/notify-link-secret`. Engines sharing a database need the same one. */
  linkSecret: z.string().min(32, 'must be at least 32 characters').optional(),
  /** How long an acknowledge link works. */
  linkTtl: durationSetting('72h').refine((ms) => ms >= 5 * MINUTE, 'must be at least 5m'),
  channels: z.record(IdSchema, ChannelConfigSchema).default({}),
  escalation: EscalationSchema,
  /** Minor faults wait for this local time (the site's zone) and go out as one digest per person. */
  digest: z.strictObject({ at: z.string().regex(HANDOVER_PATTERN, 'must be a local time HH:mm').default('08:30') }).prefault({}),
  /** Recovery (已恢复) and resolution (已解决) go to whoever was told of the fault. */
  informRecovery: z.boolean().default(true),
  retry: z
    .strictObject({
      /** Attempts per delivery before it fails and the person's next channel is tried. */
      attempts: z.coerce.number().int().min(1).max(50).default(8),
      /** First wait; it doubles (with jitter) up to `max`. A receiver's Retry-After is honoured. */
      first: durationSetting('2s'),
      max: durationSetting('5m'),
    })
    .prefault({}),
  /** How often the outbox is polled for work other engines recorded (this engine's own is sent at once). */
  poll: durationSetting('1s').refine((ms) => ms >= 50, 'must be at least 50ms'),
  /** A claim on a notice or delivery holds this long: a process that dies gives its rows up after it. */
  lease: durationSetting('1m').refine((ms) => ms >= 5_000, 'must be at least 5s'),
  /** Finished deliveries and their log are kept this long. */
  retention: durationSetting('180d'),
});

/** Cross references of the notify section, with their paths. */
function checkNotifyReferences(notify: z.output<typeof NotifyShape>, ctx: z.RefinementCtx): void {
  checkRosterReferences(notify, ctx);
  const channelIds = new Set(Object.keys(notify.channels));
  for (const [id, person] of Object.entries(notify.people)) {
    person.channels.forEach((c, i) => {
      if (!channelIds.has(c)) ctx.addIssue({ code: 'custom', message: `unknown channel "${c}" (not in notify.channels)`, path: ['people', id, 'channels', i] });
    });
    for (const c of Object.keys(person.contacts)) {
      if (!channelIds.has(c)) ctx.addIssue({ code: 'custom', message: `unknown channel "${c}" (not in notify.channels)`, path: ['people', id, 'contacts', c] });
    }
  }
  const roles = new Set<string>(ONCALL_ROLES);
  const types = new Set<string>(CHANNEL_TYPES);
  for (const [grade, policy] of Object.entries(notify.escalation)) {
    policy?.steps.forEach((s, i) => {
      s.to.forEach((to, j) => {
        if (!roles.has(to) && notify.people[to] === undefined) ctx.addIssue({ code: 'custom', message: `"${to}" is neither a role (${ONCALL_ROLES.join(', ')}) nor a person in notify.people`, path: ['escalation', grade, 'steps', i, 'to', j] });
      });
      if (Array.isArray(s.channels)) {
        s.channels.forEach((c, j) => {
          if (!types.has(c) && !channelIds.has(c)) ctx.addIssue({ code: 'custom', message: `"${c}" is neither a channel type (${CHANNEL_TYPES.join(', ')}) nor a channel in notify.channels`, path: ['escalation', grade, 'steps', i, 'channels', j] });
        });
      }
    });
  }
}

export const NotifySettingsSchema = NotifyShape.strict().superRefine(checkNotifyReferences);
export type NotifySettings = z.output<typeof NotifySettingsSchema>;

/** A grade's policy in force: the configured one, or the tender's default. */
export function policyFor(settings: Pick<NotifySettings, 'escalation'>, grade: Grade): EscalationPolicy {
  return settings.escalation[grade] ?? DEFAULT_ESCALATION[grade];
}

/** Whether pushes are on: as set, or when a channel and a rotation are configured. */
export function notifyEnabled(settings: Pick<NotifySettings, 'enabled' | 'channels' | 'rotations'>): boolean {
  return settings.enabled ?? (Object.keys(settings.channels).length > 0 && settings.rotations.length > 0);
}
