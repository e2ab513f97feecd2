/**
 * Composite rules: all or any of conditions on the device's latest metric values and on whether
 * other rules of the pack are firing ("compressor off AND shield warming"). A metric the device
 * has not reported makes its condition false: unknown is not a fault.
 */
import type { CompositeRule } from './pack-schema.js';

export interface CompositeInputs {
  latest(metric: string): number | undefined;
  firing(ruleId: string): boolean;
}

function compare(value: number, op: '<' | '<=' | '>' | '>=' | '==', target: number): boolean {
  switch (op) {
    case '<':
      return value < target;
    case '<=':
      return value <= target;
    case '>':
      return value > target;
    case '>=':
      return value >= target;
    case '==':
      return value === target;
  }
}

export function conditionHolds(condition: CompositeRule['conditions'][number], inputs: CompositeInputs): boolean {
  if ('metric' in condition) {
    const value = inputs.latest(condition.metric);
    return value !== undefined && compare(value, condition.op, condition.value);
  }
  return inputs.firing(condition.rule);
}

export function compositeActive(rule: Pick<CompositeRule, 'mode' | 'conditions'>, inputs: CompositeInputs): boolean {
  // A loop rather than every/some with a closure: this runs on every sample of the rule's metrics.
  const all = rule.mode === 'all';
  for (const c of rule.conditions) {
    if (conditionHolds(c, inputs) !== all) return !all;
  }
  return all;
}

/** The metrics a composite rule reads, so it is re-evaluated when one of them changes. */
export function compositeMetrics(rule: Pick<CompositeRule, 'conditions'>): string[] {
  return rule.conditions.flatMap((c) => ('metric' in c ? [c.metric] : []));
}
