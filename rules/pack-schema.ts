/**
 * Rule packs: what service engineers ask the engine to watch, one YAML file per modality under
 * rules/packs/. The schema is strict so that a typo in a key is refused instead of silently
 * disabling part of a rule, and every message names the rule field that is wrong.
 */
import { z } from 'zod';
import { metricDefinition, MODALITIES, type Modality } from '../src/kernel/catalogue/metrics.js';
import { parseDuration } from '../src/kernel/time/duration.js';
import { FAULT_TYPES } from '../src/kernel/catalogue/fault-types.js';
import { compareGrades, GRADES, type Grade, type GradeLevel, type MessageTemplate, type ThresholdDirection } from '../src/kernel/grades.js';

/** Placeholders the alert renderer fills in for every rule. */
export const COMMON_PLACEHOLDERS = ['value', 'unit', 'device', 'metric', 'grade', 'rule', 'model', 'site', 'location'] as const;

/** Placeholders each rule kind adds. */
export const KIND_PLACEHOLDERS = {
  threshold: ['threshold'],
  rate: ['rate', 'window'],
  trend: ['threshold', 'eta', 'slope', 'uncertainty'],
  nodata: ['silence', 'after'],
  anomaly: ['baseline', 'score'],
  composite: [],
  event_count: ['count', 'window', 'code'],
  stuck: ['after', 'unchanged'],
} as const satisfies Record<string, readonly string[]>;

/** Every placeholder the renderer knows; anything else in a template is most likely a typo. */
export const MESSAGE_PLACEHOLDERS = [...new Set<string>([...COMMON_PLACEHOLDERS, ...Object.values(KIND_PLACEHOLDERS).flat()])];

const ID_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;

const template = z.string({ error: 'must be text' }).min(1, 'must not be empty').superRefine((text, ctx) => {
  for (const match of text.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? '';
    if (!MESSAGE_PLACEHOLDERS.includes(name)) {
      ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${name}}} (known: ${MESSAGE_PLACEHOLDERS.join(', ')})` });
    }
  }
});

export const BilingualSchema = z.strictObject({ zh: template, en: template }) satisfies z.ZodType<MessageTemplate>;

const text = z.strictObject({ zh: z.string().min(1), en: z.string().min(1) });

function duration(opts: { positive: boolean }) {
  return z.union([z.string(), z.number()], { error: 'must be a duration such as 30s, 10m, 2h or 14d' }).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `'${value}' is not a duration (use e.g. 30s, 10m, 2h, 14d)` });
      return z.NEVER;
    }
    if (opts.positive ? ms <= 0 : ms < 0) {
      ctx.addIssue({ code: 'custom', message: `'${value}' must be ${opts.positive ? 'longer than zero' : 'zero or longer'}` });
      return z.NEVER;
    }
    return ms;
  });
}
/** Milliseconds after parsing. */
const positiveDuration = duration({ positive: true });
const nonNegativeDuration = duration({ positive: false });

const ruleId = z.string({ error: 'must be text' }).max(64, 'must be at most 64 characters').regex(ID_PATTERN, 'must be kebab-case, e.g. helium-level-low');
const metricName = z.string({ error: 'must be a metric name' }).min(1);
const gradeSchema = z.enum(GRADES, { error: `must be one of ${GRADES.join(', ')}` });
const finite = z.number({ error: 'must be a number' }).refine(Number.isFinite, 'must be a finite number');

const common = {
  id: ruleId,
  enabled: z.boolean().default(true),
  message: BilingualSchema,
  description: text.optional(),
  /** The condition must hold this long before the alert is raised. */
  for: nonNegativeDuration.optional(),
  /** The clear condition must hold this long before the alert is cleared. */
  clear_for: nonNegativeDuration.optional(),
  /** Fault type of the work orders this rule opens (sets the repair target); default: from the metric. */
  fault_type: z.enum(FAULT_TYPES, { error: `must be one of ${FAULT_TYPES.join(', ')}` }).optional(),
};

/** Grades present in a partial record, least serious first. */
function presentGrades<T>(record: Partial<Record<Grade, T>>): Array<[Grade, T]> {
  return GRADES.flatMap((g) => (record[g] === undefined ? [] : [[g, record[g]] as [Grade, T]]));
}

function nonEmpty(record: Record<string, unknown>): boolean {
  return Object.keys(record).length > 0;
}

const gradeLevel = z.strictObject({ raise: finite, clear: finite }) satisfies z.ZodType<GradeLevel>;
const bandLevel = z
  .strictObject({ low: finite, high: finite, hysteresis: finite.default(0) })
  .superRefine((b, ctx) => {
    if (b.low >= b.high) ctx.addIssue({ code: 'custom', path: ['low'], message: `low (${b.low}) must be below high (${b.high})` });
    else if (b.hysteresis < 0 || 2 * b.hysteresis >= b.high - b.low) {
      ctx.addIssue({ code: 'custom', path: ['hysteresis'], message: 'hysteresis must be zero or more and less than half the band width' });
    }
  });

const direction = z.enum(['above', 'below'], { error: 'must be above or below' }) satisfies z.ZodType<ThresholdDirection>;

export const ThresholdRuleSchema = z
  .strictObject({
    ...common,
    kind: z.literal('threshold'),
    metric: metricName,
    direction: z.enum(['above', 'below', 'outside'], { error: 'must be above, below or outside' }),
    /** above/below: raise and clear level per grade; the gap is the hysteresis. */
    levels: z.partialRecord(gradeSchema, gradeLevel).optional(),
    /** outside: the allowed band per grade; more serious grades have wider bands. */
    band: z.partialRecord(gradeSchema, bandLevel).optional(),
    /** Raise only when n of the last m samples breach, so one noisy sample does not alert. */
    n_of_m: z
      .strictObject({ n: z.int().min(1), m: z.int().min(1).max(1000) })
      .refine((x) => x.n <= x.m, { path: ['n'], message: 'n must not exceed m' })
      .optional(),
  })
  .superRefine((rule, ctx) => {
    if (rule.direction === 'outside') {
      if (rule.levels) ctx.addIssue({ code: 'custom', path: ['levels'], message: "direction 'outside' takes band, not levels" });
      if (!rule.band || !nonEmpty(rule.band)) {
        ctx.addIssue({ code: 'custom', path: rule.band ? ['band'] : [], message: "direction 'outside' needs band with at least one grade" });
        return;
      }
      let prev: [Grade, { low: number; high: number }] | undefined;
      for (const [grade, b] of presentGrades(rule.band)) {
        if (prev && (b.low > prev[1].low || b.high < prev[1].high || (b.low === prev[1].low && b.high === prev[1].high))) {
          ctx.addIssue({ code: 'custom', path: ['band', grade], message: `band of ${grade} must be wider than the band of ${prev[0]}` });
        }
        prev = [grade, b];
      }
      return;
    }
    if (rule.band) ctx.addIssue({ code: 'custom', path: ['band'], message: `direction '${rule.direction}' takes levels, not band` });
    if (!rule.levels || !nonEmpty(rule.levels)) {
      ctx.addIssue({ code: 'custom', path: rule.levels ? ['levels'] : [], message: `direction '${rule.direction}' needs levels with at least one grade` });
      return;
    }
    const above = rule.direction === 'above';
    let prev: [Grade, GradeLevel] | undefined;
    for (const [grade, l] of presentGrades(rule.levels)) {
      if (above ? l.clear >= l.raise : l.clear <= l.raise) {
        ctx.addIssue({
          code: 'custom',
          path: ['levels', grade, 'clear'],
          message: `clear (${l.clear}) must be ${above ? 'below' : 'above'} raise (${l.raise}) for direction '${rule.direction}'`,
        });
      }
      if (prev && (above ? l.raise <= prev[1].raise : l.raise >= prev[1].raise)) {
        ctx.addIssue({
          code: 'custom',
          path: ['levels', grade, 'raise'],
          message: `raise of ${grade} (${l.raise}) must be ${above ? 'above' : 'below'} raise of ${prev[0]} (${prev[1].raise})`,
        });
      }
      prev = [grade, l];
    }
  });

/** Checks that a per-grade number grows with the grade (more serious = larger). */
function increasingByGrade(record: Partial<Record<Grade, number>>, key: string, ctx: z.RefinementCtx, what: string): void {
  let prev: [Grade, number] | undefined;
  for (const [grade, v] of presentGrades(record)) {
    if (prev && v <= prev[1]) ctx.addIssue({ code: 'custom', path: [key, grade], message: `${what} of ${grade} (${v}) must be above ${what} of ${prev[0]} (${prev[1]})` });
    prev = [grade, v];
  }
}

export const RateRuleSchema = z
  .strictObject({
    ...common,
    kind: z.literal('rate'),
    metric: metricName,
    window: positiveDuration,
    direction: z.enum(['rise', 'fall', 'either'], { error: 'must be rise, fall or either' }).default('either'),
    /** Change per hour (absolute, in the metric's unit) that raises each grade. */
    per_hour: z.partialRecord(gradeSchema, z.number().positive('must be a positive change per hour')),
  })
  .superRefine((rule, ctx) => {
    if (!nonEmpty(rule.per_hour)) ctx.addIssue({ code: 'custom', path: ['per_hour'], message: 'needs at least one grade' });
    increasingByGrade(rule.per_hour, 'per_hour', ctx, 'per_hour');
  });

export const TrendRuleSchema = z
  .strictObject({
    ...common,
    kind: z.literal('trend'),
    metric: metricName,
    /** History the robust fit uses. */
    window: positiveDuration,
    direction,
    /** Level whose crossing is forecast. */
    threshold: finite,
    /** How far ahead to forecast; crossings beyond the longest grade time are shown, not raised. */
    horizon: positiveDuration,
    /** Grade by forecast time to crossing: the nearer the crossing, the more serious. */
    grades: z.partialRecord(gradeSchema, positiveDuration),
    min_points: z.int().min(3, 'a fit needs at least 3 points').default(12),
    /** Confidence of the time-to-threshold band. */
    confidence: z.number().gt(0).lt(1, 'must be between 0 and 1').default(0.9),
  })
  .superRefine((rule, ctx) => {
    const grades = presentGrades(rule.grades);
    if (grades.length === 0) ctx.addIssue({ code: 'custom', path: ['grades'], message: 'needs at least one grade' });
    let prev: [Grade, number] | undefined;
    for (const [grade, ms] of grades) {
      if (ms > rule.horizon) ctx.addIssue({ code: 'custom', path: ['grades', grade], message: `time of ${grade} must not exceed horizon` });
      if (prev && ms >= prev[1]) ctx.addIssue({ code: 'custom', path: ['grades', grade], message: `time of ${grade} must be shorter than time of ${prev[0]}` });
      prev = [grade, ms];
    }
  });

export const NoDataRuleSchema = z.strictObject({
  ...common,
  kind: z.literal('nodata'),
  /** A metric name, or `any` for silence of the whole device. */
  metric: metricName,
  after: positiveDuration,
  grade: gradeSchema,
  /** alert: silence raises this rule; ok: silence is expected (no alert); keep_state: other alerts keep their state. */
  treat_as: z.enum(['alert', 'ok', 'keep_state'], { error: 'must be alert, ok or keep_state' }).default('alert'),
});

export const AnomalyRuleSchema = z
  .strictObject({
    ...common,
    kind: z.literal('anomaly'),
    metric: metricName,
    method: z.enum(['mad', 'ewma'], { error: 'must be mad or ewma' }),
    /** Baseline history of the device itself. */
    window: positiveDuration,
    /** Deviation, in robust standard deviations, that counts as anomalous. */
    k: z.number().positive('must be positive'),
    /** ewma smoothing factor. */
    alpha: z.number().gt(0).lte(1, 'must be in (0, 1]').optional(),
    side: z.enum(['above', 'below', 'both'], { error: 'must be above, below or both' }).default('both'),
    /** How long the deviation must last; single spikes never alert, so it cannot be zero. */
    persist: positiveDuration,
    grade: gradeSchema,
  })
  .superRefine((rule, ctx) => {
    if (rule.alpha !== undefined && rule.method !== 'ewma') ctx.addIssue({ code: 'custom', path: ['alpha'], message: 'alpha applies to method ewma only' });
  });

export const MetricConditionSchema = z.strictObject({
  metric: metricName,
  op: z.enum(['<', '<=', '>', '>=', '=='], { error: "must be one of '<', '<=', '>', '>=', '=='" }),
  value: finite,
});
export const RuleConditionSchema = z.strictObject({ rule: ruleId, state: z.literal('firing', { error: "must be 'firing'" }) });

export const CompositeRuleSchema = z.strictObject({
  ...common,
  kind: z.literal('composite'),
  mode: z.enum(['all', 'any'], { error: 'must be all or any' }),
  conditions: z
    .array(z.union([MetricConditionSchema, RuleConditionSchema], { error: 'must be {metric, op, value} or {rule, state: firing}' }))
    .min(1, 'needs at least one condition'),
  grade: gradeSchema,
});

export const EventCountRuleSchema = z
  .strictObject({
    ...common,
    kind: z.literal('event_count'),
    /** An event or alarm code reported by the device… */
    code: z.string().min(1).optional(),
    /** …or a counter metric whose increments are the events. */
    metric: metricName.optional(),
    window: positiveDuration,
    /** Events within the window that raise each grade. */
    levels: z.partialRecord(gradeSchema, z.int().min(1, 'must be at least 1')),
  })
  .superRefine((rule, ctx) => {
    if ((rule.code === undefined) === (rule.metric === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'needs exactly one of code or metric' });
    if (!nonEmpty(rule.levels)) ctx.addIssue({ code: 'custom', path: ['levels'], message: 'needs at least one grade' });
    increasingByGrade(rule.levels, 'levels', ctx, 'count');
  });

/**
 * A stuck sensor: a metric that keeps reporting but no longer changes. A live probe always has
 * some noise, so readings that stay within `tolerance` of each other for `after` (and at least
 * `min_samples` of them, so a rarely reported metric is not mistaken for a stuck one) mean the
 * probe or its transmitter has frozen — and a frozen helium probe hides a leak.
 */
export const StuckRuleSchema = z.strictObject({
  ...common,
  kind: z.literal('stuck'),
  metric: metricName,
  /** How long the readings must stay unchanged. */
  after: positiveDuration,
  /** The largest spread of readings still counted as unchanged; 0: exactly the same value. */
  tolerance: z.number({ error: 'must be a number' }).min(0, 'must be zero or more').default(0),
  /** Readings needed within `after` before a flat line counts. */
  min_samples: z.int({ error: 'must be a whole number' }).min(2, 'must be at least 2').default(10),
  grade: gradeSchema,
});

/**
 * Every rule kind, the one list: the schema's error message, the engine's plugin table
 * (`kinds/index.ts`, which must have one plugin per kind) and the API's alert kind read it.
 */
export const RULE_KINDS = ['threshold', 'rate', 'trend', 'nodata', 'anomaly', 'composite', 'event_count', 'stuck'] as const;

export const RuleSchema = z.discriminatedUnion(
  'kind',
  [ThresholdRuleSchema, RateRuleSchema, TrendRuleSchema, NoDataRuleSchema, AnomalyRuleSchema, CompositeRuleSchema, EventCountRuleSchema, StuckRuleSchema],
  { error: `kind must be one of ${RULE_KINDS.join(', ')}` },
);

/** A partial rule merged onto a rule of the same id; id and kind cannot change. */
export const RulePatchSchema = z.record(z.string(), z.unknown(), { error: 'must be a map of rule fields' });

const overridesSchema = z.strictObject({
  models: z.record(z.string().min(1), z.record(z.string(), RulePatchSchema)).optional(),
  devices: z.record(z.string().min(1), z.record(z.string(), RulePatchSchema)).optional(),
});

export const RulePackSchema = z
  .strictObject({
    pack: ruleId,
    modality: z.enum(MODALITIES, { error: `must be one of ${MODALITIES.join(', ')}` }),
    description: text.optional(),
    rules: z.array(RuleSchema, { error: 'must be a list of rules' }),
    overrides: overridesSchema.optional(),
  })
  .superRefine((pack, ctx) => {
    const seen = new Map<string, number>();
    pack.rules.forEach((rule, i) => {
      const first = seen.get(rule.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id '${rule.id}' (first at rules[${first}])` });
      else seen.set(rule.id, i);
      for (const issue of ruleReferenceIssues(rule, pack.modality, pack.rules)) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, ...issue.path], message: issue.message });
      }
    });
    for (const scope of ['models', 'devices'] as const) {
      for (const [target, patches] of Object.entries(pack.overrides?.[scope] ?? {})) {
        for (const [id, patch] of Object.entries(patches)) {
          const path = ['overrides', scope, target, id];
          const rule = pack.rules.find((r) => r.id === id);
          if (!rule) {
            ctx.addIssue({ code: 'custom', path, message: `no rule '${id}' in pack '${pack.pack}'` });
            continue;
          }
          for (const key of ['id', 'kind'] as const) {
            if (key in patch && patch[key] !== rule[key]) ctx.addIssue({ code: 'custom', path: [...path, key], message: `${key} cannot be overridden` });
          }
          const merged = RuleSchema.safeParse(mergePatch(rule, patch));
          if (!merged.success) {
            for (const issue of merged.error.issues) ctx.addIssue({ code: 'custom', path: [...path, ...issue.path], message: issue.message });
            continue;
          }
          for (const issue of ruleReferenceIssues(merged.data, pack.modality, pack.rules)) {
            ctx.addIssue({ code: 'custom', path: [...path, ...issue.path], message: issue.message });
          }
        }
      }
    }
  });

/** Metric names must exist for the pack's modality; composite rules may only refer to other rules of the pack. */
function ruleReferenceIssues(
  rule: Rule,
  modality: Modality,
  all: readonly Rule[],
): Array<{ path: PropertyKey[]; message: string }> {
  const issues: Array<{ path: PropertyKey[]; message: string }> = [];
  const checkMetric = (name: string, path: PropertyKey[]): void => {
    if (!metricDefinition(modality, name)) issues.push({ path, message: `unknown metric '${name}' for modality ${modality}` });
  };
  const available: readonly string[] = [...COMMON_PLACEHOLDERS, ...KIND_PLACEHOLDERS[rule.kind]];
  for (const language of ['zh', 'en'] as const) {
    for (const match of rule.message[language].matchAll(PLACEHOLDER)) {
      const name = match[1] ?? '';
      if (MESSAGE_PLACEHOLDERS.includes(name) && !available.includes(name)) {
        issues.push({ path: ['message', language], message: `placeholder {{${name}}} is not filled for ${rule.kind} rules (available: ${available.join(', ')})` });
      }
    }
  }
  switch (rule.kind) {
    case 'nodata':
      if (rule.metric !== 'any') checkMetric(rule.metric, ['metric']);
      break;
    case 'composite':
      rule.conditions.forEach((c, j) => {
        if ('metric' in c) checkMetric(c.metric, ['conditions', j, 'metric']);
        else if (c.rule === rule.id) issues.push({ path: ['conditions', j, 'rule'], message: 'a rule cannot refer to itself' });
        else if (!all.some((r) => r.id === c.rule)) issues.push({ path: ['conditions', j, 'rule'], message: `no rule '${c.rule}' in this pack` });
      });
      break;
    case 'event_count':
      if (rule.metric !== undefined) {
        const def = metricDefinition(modality, rule.metric);
        if (!def) checkMetric(rule.metric, ['metric']);
        else if (def.kind !== 'counter') issues.push({ path: ['metric'], message: `metric '${rule.metric}' is a ${def.kind}, event_count needs a counter` });
      }
      break;
    default: {
      // A counter's value is the events since the last report, so its size depends on how often
      // the device reports: a level, rate, trend or baseline of it would change with the interval.
      const def = metricDefinition(modality, rule.metric);
      if (!def) checkMetric(rule.metric, ['metric']);
      else if (rule.kind === 'stuck' && def.kind !== 'gauge') {
        issues.push({ path: ['metric'], message: `metric '${rule.metric}' is a ${def.kind}: it stays unchanged when healthy, stuck rules need a gauge` });
      } else if (def.kind === 'counter') {
        issues.push({ path: ['metric'], message: `metric '${rule.metric}' is a counter (events since the last report); ${rule.kind} rules need a gauge — count its events with an event_count rule` });
      }
    }
  }
  return issues;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge of maps; lists and scalars in the patch replace what the rule had. */
export function mergePatch(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) out[key] = key in base ? mergePatch(base[key], value) : value;
  return out;
}

export type Rule = z.output<typeof RuleSchema>;
export type RuleKind = Rule['kind'];
/** RULE_KINDS lists exactly the kinds RuleSchema accepts: the compiler says so when one is added to one and not the other. */
const _everyKindListed: [RuleKind] extends [(typeof RULE_KINDS)[number]] ? ([(typeof RULE_KINDS)[number]] extends [RuleKind] ? true : never) : never = true;
export type ThresholdRule = z.output<typeof ThresholdRuleSchema>;
export type RateRule = z.output<typeof RateRuleSchema>;
export type TrendRule = z.output<typeof TrendRuleSchema>;
export type NoDataRule = z.output<typeof NoDataRuleSchema>;
export type AnomalyRule = z.output<typeof AnomalyRuleSchema>;
export type CompositeRule = z.output<typeof CompositeRuleSchema>;
export type EventCountRule = z.output<typeof EventCountRuleSchema>;
export type StuckRule = z.output<typeof StuckRuleSchema>;
export type RulePatch = z.output<typeof RulePatchSchema>;
export type RulePack = z.output<typeof RulePackSchema>;
export type RulePackInput = z.input<typeof RulePackSchema>;

/** The most serious grade a rule can raise, for listings and sorting. */
export function highestGrade(rule: Rule): Grade {
  const grades: Grade[] = (() => {
    switch (rule.kind) {
      case 'threshold':
        return Object.keys(rule.levels ?? rule.band ?? {}) as Grade[];
      case 'rate':
        return Object.keys(rule.per_hour) as Grade[];
      case 'trend':
        return Object.keys(rule.grades) as Grade[];
      case 'event_count':
        return Object.keys(rule.levels) as Grade[];
      default:
        return [rule.grade];
    }
  })();
  return grades.reduce<Grade>((a, b) => (compareGrades(a, b) >= 0 ? a : b), 'minor');
}
