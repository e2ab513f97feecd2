/**
 * No-data rules, on every tick of the engine clock and when data comes back. Silence is measured
 * on the engine clock against when data last arrived, so a backfill of old samples is not
 * silence; the alert's event time is the last sample's time plus `after`. `treat_as` says what
 * silence means: `alert` raises this rule and puts the device's open alerts on the silent metric
 * (every reading rule's, for `any`) into no-data; `keep_state` raises this rule and leaves the
 * others alone; `ok` raises nothing and lets the others resolve, for devices that are expected
 * to go quiet.
 */
import type { RegisteredDevice } from '../../src/kernel/device.js';
import { describeDuration } from '../describe.js';
import type { ConditionResult } from '../lifecycle.js';
import type { NoDataRule } from '../pack-schema.js';
import { defineKind, type KindHost, type Target } from './kind.js';

function check(host: KindHost, device: RegisteredDevice, target: Target<NoDataRule, undefined>): void {
  const { rule } = target;
  const seen = host.seen(device.id, rule.metric);
  if (!seen) return;
  // An offline status (last will or a clean goodbye) starts the silence when it came first.
  const offline = rule.metric === 'any' && device.status?.state === 'offline' && device.status.ts >= seen.ts;
  const silentFor = host.clock() - (offline ? Math.min(seen.arrival, device.status!.ts) : seen.arrival);
  const silent = silentFor > rule.after;
  const current = host.alert(target.slot);
  const open = current !== undefined && current.record.state !== 'normal' && current.record.state !== 'resolved';
  if (silent === open) return;
  const lastEvalAt = current?.record.lastEvalAt ?? Number.NEGATIVE_INFINITY;
  const ts = silent ? Math.max(seen.ts + rule.after, lastEvalAt) : Math.max(seen.ts, lastEvalAt);
  host.counters.evaluations += 1;
  if (rule.treat_as !== 'ok') {
    host.apply(device, target, ts, { active: silent, ...(silent && { grade: rule.grade }), value: Math.round(silentFor / 60_000), condition: { window: [] } }, (language) => ({
      silence: describeDuration(Math.max(silentFor, rule.after), language),
      after: describeDuration(rule.after, language),
    }));
  }
  if (!silent || rule.treat_as === 'keep_state') return;
  // The other open alerts of what went silent.
  const gap: ConditionResult = rule.treat_as === 'alert' ? { nodata: true } : { active: false };
  for (const other of host.alerts()) {
    if (other.deviceId !== device.id || other.ruleId === rule.id) continue;
    if (other.record.state === 'normal' || other.record.state === 'resolved' || other.record.state === 'nodata') continue;
    const reader = host.target(device, other.ruleId);
    if (!reader || !reader.inputs.readings || (rule.metric !== 'any' && reader.metric !== rule.metric)) continue;
    host.applyCondition(device, reader, ts, gap, other.condition, () => other.message);
  }
}

export const nodataKind = defineKind<NoDataRule, undefined>({
  kind: 'nodata',
  metric: (rule) => rule.metric,
  inputs: () => ({ metrics: [], stage: 'value', codes: [], tick: true, afterBatch: 'data', readings: false }),
  plan: () => undefined,

  onTick(host, device, target) {
    check(host, device, target);
  },

  /** Data is back: an open no-data alert of what just reported resolves. */
  afterBatch(host, device, target, batch) {
    const { rule } = target;
    if (rule.metric !== 'any' && host.seen(device.id, rule.metric)?.batch !== batch) return;
    const alert = host.alert(target.slot);
    if (alert && alert.record.state !== 'normal') check(host, device, target);
  },
});
