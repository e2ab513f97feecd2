/**
 * The bucket window of a windowed kind (trend, rate, anomaly, event count) on one device: kept in
 * the rule's slot, so it survives a reload of the rules that leaves its shape alone, and cached
 * in the kind's plan, so a sample reaches it without a lookup.
 */
import type { Slot } from '../alert.js';
import type { Rule } from '../pack-schema.js';
import { BucketSeries } from '../windows.js';
import type { Target } from './kind.js';

export class RuleWindow {
  /** Event time of the last fit (trend, rate). */
  lastFitAt = Number.NEGATIVE_INFINITY;
  /** What the kind derived from the window and reuses until it changes (anomaly: the current bucket's baseline). */
  memo: unknown = undefined;

  constructor(
    /** The rule the window was sized for. */
    public rule: { readonly window: number },
    readonly series: BucketSeries,
  ) {}
}

/** The plan of a windowed kind: its window, made on first use (a rule with a bad window fails in its step, not at load). */
export interface WindowPlan {
  window: RuleWindow | undefined;
}

/** The slot's window for `rule`: the same rule object, the same window; a reloaded rule keeps it if its shape is unchanged. */
export function slotWindow(slot: Slot, rule: { readonly window: number }, buckets: number): RuleWindow {
  const state = slot.state instanceof RuleWindow ? slot.state : undefined;
  if (state && state.rule === rule) return state;
  const fresh = BucketSeries.spanning(rule.window, buckets);
  if (state && state.series.bucketMs === fresh.bucketMs && state.series.windowMs === fresh.windowMs) {
    state.rule = rule;
    return state;
  }
  const window = new RuleWindow(rule, fresh);
  slot.state = window;
  return window;
}

/** The target's window, `buckets` buckets over the rule's window. */
export function windowOf<R extends Rule & { readonly window: number }>(target: Target<R, WindowPlan>, buckets: number): RuleWindow {
  const plan = target.plan;
  return plan.window ?? (plan.window = slotWindow(target.slot, target.rule, buckets));
}
