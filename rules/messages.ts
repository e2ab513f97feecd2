/**
 * Alert messages in both languages: the rule's `{ zh, en }` templates filled with the
 * placeholders every rule shares (device, value, unit, metric, grade, rule, model, site,
 * location) and those of its kind (`KIND_PLACEHOLDERS` in `pack-schema.ts`, filled by the kind).
 */
import { metricDefinition } from '../src/kernel/catalogue/metrics.js';
import type { RegisteredDevice, Site } from '../src/kernel/device.js';
import { GRADE_LABELS, type Grade, type MessageTemplate } from '../src/kernel/grades.js';
import type { KIND_PLACEHOLDERS, RuleKind } from './pack-schema.js';

export type Language = 'zh' | 'en';

/** The placeholders a rule kind adds to the common ones, each filled by that kind. */
export type KindPlaceholders<K extends RuleKind> = Readonly<Record<(typeof KIND_PLACEHOLDERS)[K][number], string>>;

/** A kind's placeholders in one language, for the grade the alert is at (the compiler checks that every one is filled). */
export type FillPlaceholders<K extends RuleKind> = (language: Language, grade: Grade | undefined) => KindPlaceholders<K>;

/** A number as messages show it: at most `digits` decimals. */
export const round = (value: number, digits = 2): string => String(Math.round(value * 10 ** digits) / 10 ** digits);

/** Fills `{{name}}` placeholders; unknown ones stay as written. */
export function renderMessage(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => vars[name] ?? whole);
}

/** An alert's message in both languages: the placeholders every rule shares and the kind's own (`fill`). */
export function renderAlertMessage(
  device: RegisteredDevice,
  site: Site | undefined,
  rule: { readonly id: string; readonly message: MessageTemplate },
  metric: string | undefined,
  value: number,
  grade: Grade | undefined,
  fill: (language: Language, grade: Grade | undefined) => Readonly<Record<string, string>>,
): MessageTemplate {
  const name = metric ?? '';
  const definition = metricDefinition(device.modality, name);
  const location = [device.location?.department, device.location?.floor, device.location?.room].filter(Boolean).join(' ');
  const common = {
    device: device.name ? `${device.name} (${device.id})` : device.id,
    value: round(value),
    unit: definition?.unit ?? '',
    rule: rule.id,
    model: device.model,
    site: site?.name ?? device.site,
    location,
  };
  return {
    zh: renderMessage(rule.message.zh, { ...common, metric: definition?.zh ?? name, ...fill('zh', grade), grade: grade ? GRADE_LABELS[grade].zh : '' }),
    en: renderMessage(rule.message.en, { ...common, metric: definition?.en ?? name, site: site?.nameEn ?? common.site, ...fill('en', grade), grade: grade ?? '' }),
  };
}
