import type { Logger } from 'pino';
import { metricDefinition } from '../src/catalogue/metrics.js';
import type { DeviceRegistry, RegisteredDevice } from '../src/devices/registry.js';
import type { AlertRepository } from '../src/storage/sql/alert-repository.js';
import type { Sample } from '../src/storage/telemetry-store.js';
import { deserialiseAlert, evaluate, newAlertRecord, serialiseAlert, type AlertRecord, type AlertTransition, type RuleTiming } from './lifecycle.js';
import type { ThresholdRule } from './pack-schema.js';
import type { RuleSet } from './rule-set.js';
import { bandGrade, nOfM, thresholdGrade, type BandLevels } from './threshold.js';
import { GRADE_LABELS, type Grade, type MessageTemplate } from './types.js';

/** One alert: a rule on a device, with its lifecycle record and the rule's own evaluation state. */
export interface EngineAlert {
  readonly deviceId: string;
  readonly ruleId: string;
  readonly pack: string;
  readonly record: AlertRecord;
  /** Threshold grade with hysteresis (may differ from the alert's grade while pending) and the N-of-M window. */
  readonly condition: { readonly grade?: Grade; readonly window: readonly boolean[] };
  readonly message: MessageTemplate;
  readonly updatedAt: number;
}

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
        if (rule.kind !== 'threshold') continue;
        const values = deviceSamples.filter((s) => s.metric === rule.metric).sort((a, b) => a.ts - b.ts);
        for (const sample of values) this.step(device, pack, rule, sample);
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
    const current = this.alerts.get(id);
    const previous = current?.condition ?? this.quiet.get(id) ?? { window: [] };
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
    const timing: RuleTiming = { forMs: rule.for ?? 0, clearForMs: rule.clear_for ?? 0, flap: FLAP };
    const result = evaluate(current?.record ?? newAlertRecord(), { ts: sample.ts, condition: { active, ...(active && grade && { grade }), value: sample.value } }, timing);
    if (result.ignored) return;
    if (!current && result.record.state === 'normal') {
      // Nothing to persist yet, but the hysteresis grade and N-of-M window carry on.
      this.quiet.set(id, { ...(grade && { grade }), window });
      return;
    }
    this.quiet.delete(id);
    const alertGrade = result.record.grade ?? grade;
    const message = this.render(device, rule, sample.value, alertGrade);
    const alert: EngineAlert = {
      deviceId: device.id,
      ruleId: rule.id,
      pack,
      record: result.record,
      condition: { ...(grade && { grade }), window },
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
    const def = metricDefinition(device.modality, rule.metric);
    const threshold =
      grade === undefined
        ? ''
        : rule.direction === 'outside'
          ? String(value < (rule.band?.[grade]?.low ?? -Infinity) ? rule.band?.[grade]?.low : rule.band?.[grade]?.high)
          : String(rule.levels?.[grade]?.raise ?? '');
    const common = { device: device.name ? `${device.name} (${device.id})` : device.id, value: String(Math.round(value * 100) / 100), unit: def?.unit ?? '', threshold, metric: rule.metric };
    return {
      zh: renderMessage(rule.message.zh, { ...common, grade: grade ? GRADE_LABELS[grade].zh : '' }),
      en: renderMessage(rule.message.en, { ...common, grade: grade ?? '' }),
    };
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
