/**
 * Stuck rules: the run of readings that stayed within the tolerance of each other, tracked per
 * reading in O(1). A run as long as `after` (with enough readings) is active; a reading outside
 * it starts a new run and, if an alert is open, resolves it. A run shorter than `after` says
 * nothing, so after a restart an open alert is neither resolved nor fired again until the
 * readings show which it is. Late samples are skipped: a run is a run of the newest readings.
 */
import { isQuiet, NO_CONDITION, type Slot } from '../alert.js';
import { describeDuration } from '../describe.js';
import type { StuckRule } from '../pack-schema.js';
import { defineKind, sampleInputs } from './kind.js';

/** The current run of readings within the tolerance, kept in the rule's slot. */
class Run {
  constructor(
    public start: number,
    public min: number,
    public max: number,
    public count: number,
  ) {}
}

function runOf(slot: Slot): Run | undefined {
  return slot.state instanceof Run ? slot.state : undefined;
}

export const stuckKind = defineKind<StuckRule, undefined>({
  kind: 'stuck',
  metric: (rule) => rule.metric,
  inputs: (rule) => sampleInputs([rule.metric]),
  plan: () => undefined,

  onSample(host, device, target, sample, late) {
    if (late) return;
    const { rule, slot } = target;
    const { value, ts } = sample;
    const run = runOf(slot);
    if (run === undefined) {
      slot.state = new Run(ts, value, value, 1);
      return;
    }
    if (Math.max(run.max, value) - Math.min(run.min, value) > rule.tolerance) {
      // A new run starts here.
      const start = run.start;
      run.start = ts;
      run.min = value;
      run.max = value;
      run.count = 1;
      if (isQuiet(host.alert(slot))) return;
      // The reading moved: the sensor is alive.
      host.apply(device, target, ts, { active: false, value, condition: NO_CONDITION }, (language) => ({
        after: describeDuration(rule.after, language),
        unchanged: describeDuration(ts - start, language),
      }));
      return;
    }
    if (value < run.min) run.min = value;
    if (value > run.max) run.max = value;
    run.count += 1;
    const unchangedMs = ts - run.start;
    if (unchangedMs < rule.after || run.count < rule.min_samples) return;
    host.apply(device, target, ts, { active: true, grade: rule.grade, value, condition: NO_CONDITION }, (language) => ({
      after: describeDuration(rule.after, language),
      unchanged: describeDuration(unchangedMs, language),
    }));
  },
});
