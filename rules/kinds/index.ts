/**
 * Every rule kind, one plugin each. The table is keyed by the pack format's kinds
 * (`RULE_KINDS` in `pack-schema.ts`), so the compiler refuses a kind without a plugin.
 */
import type { Rule } from '../pack-schema.js';
import { anomalyKind } from './anomaly.js';
import { compositeKind } from './composite.js';
import { eventCountKind } from './event-count.js';
import type { KindTable, RuleKindPlugin } from './kind.js';
import { nodataKind } from './nodata.js';
import { rateKind } from './rate.js';
import { stuckKind } from './stuck.js';
import { thresholdKind } from './threshold.js';
import { trendKind } from './trend.js';

export const RULE_KIND_PLUGINS: KindTable = {
  threshold: thresholdKind,
  rate: rateKind,
  trend: trendKind,
  nodata: nodataKind,
  anomaly: anomalyKind,
  composite: compositeKind,
  event_count: eventCountKind,
  stuck: stuckKind,
};

/** The plugin of a rule's kind in `table`. */
export function pluginOf(table: KindTable, rule: Rule): RuleKindPlugin {
  return table[rule.kind] as RuleKindPlugin;
}
