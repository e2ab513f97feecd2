import type { Logger } from 'pino';
import { metricDefinition } from '../src/catalogue/metrics.js';
import type { DeviceRegistry, RegisteredDevice } from '../src/devices/registry.js';
import type { AlertRepository } from '../src/storage/sql/alert-repository.js';
import type { Sample } from '../src/storage/telemetry-store.js';
import { deserialiseAlert, evaluate, newAlertRecord, serialiseAlert, type AlertRecord, type AlertTransition, type RuleTiming } from './lifecycle.js';
import type { ThresholdRule, TrendRule } from './pack-schema.js';
import { describeEta, forecastCrossing, theilSen } from './trend.js';
import type { RuleSet } from './rule-set.js';
import { bandGrade, nOfM, thresholdGrade, type BandLevels } from './threshold.js';
import { GRADE_LABELS, GRADES, type Grade, type MessageTemplate } from './types.js';

/** One alert: a rule on a device, with its lifecycle record and the rule's own evaluation state. */
export interface EngineAlert {
  readonly deviceId: string;
  readonly ruleId: string;
  readonly pack: string;
  readonly record: AlertRecord;
  /**
   * The rule's own evaluation state: threshold grade with hysteresis (may differ from the alert's
   * grade while pending), the N-of-M window, and for trend rules the last forecast.
   */
  readonly condition: { readonly grade?: Grade; readonly window: readonly boolean[]; readonly forecast?: Forecast };
  readonly message: MessageTemplate;
  readonly updatedAt: number;
}

/** A trend rule's forecast of when its threshold is crossed (epoch ms), with its confidence band. */
export interface Forecast {
  readonly crossingAt: number;
  readonly earliest: number;
  readonly latest: number;
  /** Fitted slope in the metric's unit per day. */
  readonly slopePerDay: number;
  readonly points: number;
}

/** Trend history is kept as bucket means, at most about this many per window, so long windows stay small. */
const TREND_BUCKETS = 150;
/** A trend is refitted at most this many times per window of event time (a fit is O(points²)). */
const TREND_FITS_PER_WINDOW = 50;

/** Flapping: more than this many state changes within the window holds notifications. */
const FLAP: RuleTiming['flap'] = { windowMs: 3_600_000, maxTransitions: 6 };

const key = (deviceId: string, ruleId: string) => `${deviceId}\u0000${ruleId}`;

/** `outside` bands as the pack writes them → the two-sided levels `bandGrade` reads. */
function bandLevels(band: NonNullable<ThresholdRule['band']>): BandLevels {
  const out: Record<string, { low: { raise: number; clear: number }; high: { raise: number; clear: number } }> = {};
  for (const [grade, b] of Object.entries(band)) {
    if (!b) continue;
    out[grade] = { low: { raise: b.low, clear: b.low + b.hysteresis }, high: { raise: b.high, clear: b.high - b.hysteresis } };
  }
  return out as BandLevels;
}

/**
 * An alert's message in both languages: the placeholders every rule shares, the rule kind's own
 * (`extra`), and those that differ by language (`perLanguage`, such as a duration).
 */
function renderAlertMessage(
  device: RegisteredDevice,
  rule: { metric: string; message: MessageTemplate },
  value: number,
  grade: Grade | undefined,
  extra: Readonly<Record<string, string>>,
  perLanguage: (language: 'zh' | 'en') => Readonly<Record<string, string>> = () => ({}),
): MessageTemplate {
  const common = {
    device: device.name ? `${device.name} (${device.id})` : device.id,
    value: String(Math.round(value * 100) / 100),
    unit: metricDefinition(device.modality, rule.metric)?.unit ?? '',
    metric: rule.metric,
    ...extra,
  };
  return {
    zh: renderMessage(rule.message.zh, { ...common, ...perLanguage('zh'), grade: grade ? GRADE_LABELS[grade].zh : '' }),
    en: renderMessage(rule.message.en, { ...common, ...perLanguage('en'), grade: grade ?? '' }),
  };
}

/** Fills `{{name}}` placeholders; unknown ones stay as written. */
export function renderMessage(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => vars[name] ?? whole);
}

/**
 * Evaluates the rules in force on samples as they become durable, in event time, and keeps one
 * alert per (device, rule). Threshold rules are evaluated today; the other kinds of the pack
 * format are loaded and listed but not evaluated yet.
 */
export class RuleEngine {
  private readonly alerts = new Map<string, EngineAlert>();
  /** Trend rules' recent history per (device, rule): bucket start → sum and count. */
  private readonly history = new Map<string, { buckets: Map<number, { sum: number; count: number }>; latest: number; lastFitAt: number }>();
  /** Evaluation state of rules whose alert is still normal (nothing to persist yet). */
  private readonly quiet = new Map<string, EngineAlert['condition']>();
  private readonly dirty = new Set<string>();
  private saving: Promise<void> = Promise.resolve();
  private readonly listeners: Array<(alert: EngineAlert, transitions: readonly AlertTransition[]) => void> = [];

  constructor(
    private readonly options: { rules: RuleSet; registry: DeviceRegistry; repository: AlertRepository; logger: Logger; now?: () => number },
  ) {}

  /** Restores the alerts of the last run, so a restart neither fires again nor forgets. */
  async warm(): Promise<void> {
    for (const stored of await this.options.repository.all()) {
      try {
        this.alerts.set(key(stored.deviceId, stored.ruleId), {
          deviceId: stored.deviceId,
          ruleId: stored.ruleId,
          pack: stored.pack,
          record: deserialiseAlert(stored.record),
          condition: JSON.parse(stored.condition) as EngineAlert['condition'],
          message: { zh: stored.messageZh, en: stored.messageEn },
          updatedAt: stored.updatedAt,
        });
      } catch (error) {
        this.options.logger.warn({ err: error, device: stored.deviceId, rule: stored.ruleId }, 'stored alert unreadable; starting it afresh');
      }
    }
  }

  /** Called with each transition that changed an alert (for notification, later work orders). */
  onTransition(listener: (alert: EngineAlert, transitions: readonly AlertTransition[]) => void): void {
    this.listeners.push(listener);
  }

  list(): EngineAlert[] {
    return [...this.alerts.values()];
  }

  /** Evaluates the threshold rules of each device on its samples, oldest first. */
  onSamples(samples: readonly Sample[]): void {
    const byDevice = new Map<string, Sample[]>();
    for (const s of samples) {
      const list = byDevice.get(s.deviceId);
      if (list) list.push(s);
      else byDevice.set(s.deviceId, [s]);
    }
    for (const [deviceId, deviceSamples] of byDevice) {
      const device = this.options.registry.get(deviceId);
      if (!device) continue;
      const pack = this.options.rules.list().find((p) => p.modality === device.modality)?.pack ?? '';
      for (const rule of this.options.rules.forDevice(device)) {
        if (rule.kind !== 'threshold' && rule.kind !== 'trend') continue;
        const values = deviceSamples.filter((s) => s.metric === rule.metric).sort((a, b) => a.ts - b.ts);
        for (const sample of values) {
          if (rule.kind === 'threshold') this.step(device, pack, rule, sample);
          else this.trendStep(device, pack, rule, sample);
        }
      }
    }
    if (this.dirty.size > 0) this.scheduleSave();
  }

  /** Writes pending alert changes. */
  async flush(): Promise<void> {
    this.scheduleSave();
    await this.saving;
  }

  private step(device: RegisteredDevice, pack: string, rule: ThresholdRule, sample: Sample): void {
    const id = key(device.id, rule.id);
    const previous = this.alerts.get(id)?.condition ?? this.quiet.get(id) ?? { window: [] };
    const grade =
      rule.direction === 'outside'
        ? bandGrade(sample.value, previous.grade, bandLevels(rule.band ?? {}))
        : thresholdGrade(sample.value, previous.grade, rule.levels ?? {}, rule.direction);
    let active = grade !== undefined;
    let window = previous.window;
    if (rule.n_of_m) {
      window = [...window, active].slice(-rule.n_of_m.m);
      active = nOfM(window, rule.n_of_m.n);
    }
    this.apply(device, pack, rule, sample, { active, ...(grade && { grade }) }, { ...(grade && { grade }), window }, (g) => this.render(device, rule, sample.value, g));
  }

  /**
   * Trend rules: the samples are folded into bucket means over the rule's window; each time a new
   * bucket starts, a Theil–Sen fit forecasts when the threshold is crossed, and the nearer that
   * is, the more serious the grade. Too little history evaluates nothing (rather than "fine"), so
   * a restart with an empty window does not resolve an open forecast.
   */
  private trendStep(device: RegisteredDevice, pack: string, rule: TrendRule, sample: Sample): void {
    const id = key(device.id, rule.id);
    const bucketMs = Math.max(60_000, Math.floor(rule.window / TREND_BUCKETS));
    let history = this.history.get(id);
    if (!history) this.history.set(id, (history = { buckets: new Map(), latest: Number.NEGATIVE_INFINITY, lastFitAt: Number.NEGATIVE_INFINITY }));
    const { buckets } = history;
    const start = sample.ts - (((sample.ts % bucketMs) + bucketMs) % bucketMs);
    const bucket = buckets.get(start) ?? { sum: 0, count: 0 };
    bucket.sum += sample.value;
    bucket.count += 1;
    buckets.set(start, bucket);
    if (start <= history.latest) return;
    history.latest = start;
    for (const b of buckets.keys()) if (b < sample.ts - rule.window) buckets.delete(b);
    if (sample.ts - history.lastFitAt < Math.max(bucketMs, rule.window / TREND_FITS_PER_WINDOW)) return;
    history.lastFitAt = sample.ts;
    const points = [...buckets].map(([ts, b]) => ({ ts: ts + bucketMs / 2, value: b.sum / b.count }));
    if (points.length < rule.min_points) return;
    const fit = theilSen(points, sample.ts, rule.confidence);
    if (!fit) return;
    const crossing = forecastCrossing(fit, rule.threshold, rule.direction === 'above' ? 'above' : 'below');
    const eta = crossing ? crossing.at - sample.ts : Number.POSITIVE_INFINITY;
    let grade: Grade | undefined;
    if (eta <= rule.horizon) for (const g of GRADES) if (rule.grades[g] !== undefined && eta <= rule.grades[g]!) grade = g;
    const forecast: Forecast | undefined = crossing && {
      crossingAt: Math.round(crossing.at),
      earliest: Math.round(crossing.earliest),
      latest: Number.isFinite(crossing.latest) ? Math.round(crossing.latest) : Number.MAX_SAFE_INTEGER,
      slopePerDay: fit.slope * 86_400_000,
      points: fit.points,
    };
    const render = (g: Grade | undefined): MessageTemplate =>
      renderAlertMessage(device, rule, sample.value, g, { threshold: String(rule.threshold) }, (language) => ({ eta: describeEta(eta, language) }));
    this.apply(device, pack, rule, sample, { active: grade !== undefined, ...(grade && { grade }) }, { ...(grade && { grade }), window: [], ...(forecast && { forecast }) }, render);
  }

  /** Runs the lifecycle for one evaluation and keeps, persists and announces the result. */
  private apply(
    device: RegisteredDevice,
    pack: string,
    rule: ThresholdRule | TrendRule,
    sample: Sample,
    outcome: { active: boolean; grade?: Grade },
    condition: EngineAlert['condition'],
    render: (grade: Grade | undefined) => MessageTemplate,
  ): void {
    const id = key(device.id, rule.id);
    const current = this.alerts.get(id);
    const timing: RuleTiming = { forMs: rule.for ?? 0, clearForMs: rule.clear_for ?? 0, flap: FLAP };
    const result = evaluate(current?.record ?? newAlertRecord(), { ts: sample.ts, condition: { active: outcome.active, ...(outcome.active && outcome.grade && { grade: outcome.grade }), value: sample.value } }, timing);
    if (result.ignored) return;
    if (!current && result.record.state === 'normal') {
      // Nothing to persist yet, but the hysteresis grade and N-of-M window carry on.
      this.quiet.set(id, condition);
      return;
    }
    this.quiet.delete(id);
    const message = render(result.record.grade ?? outcome.grade);
    const alert: EngineAlert = {
      deviceId: device.id,
      ruleId: rule.id,
      pack,
      record: result.record,
      condition,
      message,
      updatedAt: (this.options.now ?? Date.now)(),
    };
    this.alerts.set(id, alert);
    this.dirty.add(id);
    if (result.transitions.length > 0) {
      for (const t of result.transitions) {
        if (t.notify) this.options.logger.info({ device: device.id, rule: rule.id, from: t.from, to: t.to, kind: t.kind, grade: t.grade, message: message.en }, 'alert transition');
      }
      for (const listener of this.listeners) listener(alert, result.transitions);
    }
  }

  private render(device: RegisteredDevice, rule: ThresholdRule, value: number, grade: Grade | undefined): MessageTemplate {
    const threshold =
      grade === undefined
        ? ''
        : rule.direction === 'outside'
          ? String(value < (rule.band?.[grade]?.low ?? -Infinity) ? rule.band?.[grade]?.low : rule.band?.[grade]?.high)
          : String(rule.levels?.[grade]?.raise ?? '');
    return renderAlertMessage(device, rule, value, grade, { threshold });
  }

  private scheduleSave(): void {
    this.saving = this.saving.then(async () => {
      if (this.dirty.size === 0) return;
      const ids = [...this.dirty];
      this.dirty.clear();
      const batch = ids.map((id) => this.alerts.get(id)).filter((a): a is EngineAlert => a !== undefined);
      try {
        await this.options.repository.save(
          batch.map((a) => ({
            deviceId: a.deviceId,
            ruleId: a.ruleId,
            pack: a.pack,
            state: a.record.state,
            ...(a.record.grade && { grade: a.record.grade }),
            ...(a.record.lastValue !== undefined && { lastValue: a.record.lastValue }),
            record: serialiseAlert(a.record),
            condition: JSON.stringify(a.condition),
            messageZh: a.message.zh,
            messageEn: a.message.en,
            updatedAt: a.updatedAt,
          })),
        );
      } catch (error) {
        for (const id of ids) this.dirty.add(id);
        this.options.logger.error({ err: error }, 'could not save alerts; will retry with the next change');
      }
    });
  }
}
