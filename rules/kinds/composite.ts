/**
 * Composite rules: all or any of conditions on the device's latest values and on other rules'
 * states (`composite.ts`). Evaluated on in-order samples of the metrics they read, after the
 * rules that read the sample itself; those with a condition on another rule's state once more
 * at the end of the device's batch, so they see the states the batch left.
 */
import type { RegisteredDevice } from '../../src/kernel/device.js';
import { isQuiet } from '../alert.js';
import { compositeActive, compositeMetrics } from '../composite.js';
import type { CompositeRule } from '../pack-schema.js';
import { defineKind, type KindHost, type Target } from './kind.js';

interface CompositePlan {
  /** The first metric condition's metric: the alert's value is its latest reading. */
  readonly first: string | undefined;
}

function evaluate(host: KindHost, device: RegisteredDevice, target: Target<CompositeRule, CompositePlan>, ts: number): void {
  const { rule, plan } = target;
  const active = compositeActive(rule, host.inputs(device.id));
  if (!active && isQuiet(host.alert(target.slot))) return;
  const value = plan.first !== undefined ? (host.seen(device.id, plan.first)?.value ?? NaN) : active ? 1 : 0;
  host.apply(device, target, ts, { active, ...(active && { grade: rule.grade }), value, condition: { window: [] } }, () => ({}));
}

export const compositeKind = defineKind<CompositeRule, CompositePlan>({
  kind: 'composite',
  metric: (rule) => compositeMetrics(rule)[0],
  inputs: (rule) => ({
    metrics: [...new Set(compositeMetrics(rule))],
    stage: 'state',
    codes: [],
    tick: false,
    afterBatch: rule.conditions.some((c) => 'rule' in c) ? 'state' : undefined,
    readings: true,
  }),
  plan: (rule) => ({ first: compositeMetrics(rule)[0] }),

  onSample(host, device, target, sample) {
    evaluate(host, device, target, sample.ts);
  },

  afterBatch(host, device, target, _batch, evaluatedTo) {
    evaluate(host, device, target, evaluatedTo);
  },
});
