/**
 * Threshold rules, per sample: graded levels with hysteresis (above, below, or outside a band),
 * optionally N of the last M samples, and a pending hold (`for`). Late samples are skipped: a
 * level judges the newest reading.
 */
import type { Grade } from '../../src/kernel/grades.js';
import { heldGrade, isQuiet, NO_CONDITION, type Condition } from '../alert.js';
import type { ThresholdRule } from '../pack-schema.js';
import { compileBand, compiledBandGrade, compiledGrade, compileLevels, nOfM, type BandLevels, type CompiledBand, type CompiledLevels } from '../threshold.js';
import { defineKind, sampleInputs } from './kind.js';

/** What a threshold rule evaluates per sample, in one object shape for every threshold rule. */
interface ThresholdPlan {
  readonly outside: boolean;
  readonly levels: CompiledLevels;
  /** `outside` rules: the band per grade. */
  readonly band: CompiledBand;
  /** N of M; m = 0 without. */
  readonly n: number;
  readonly m: number;
}

/** `outside` bands as the pack writes them → the two-sided levels `bandGrade` reads. */
function bandLevels(band: NonNullable<ThresholdRule['band']>): BandLevels {
  const out: Record<string, { low: { raise: number; clear: number }; high: { raise: number; clear: number } }> = {};
  for (const [grade, b] of Object.entries(band)) {
    if (!b) continue;
    out[grade] = { low: { raise: b.low, clear: b.low + b.hysteresis }, high: { raise: b.high, clear: b.high - b.hysteresis } };
  }
  return out as BandLevels;
}

/** The grade of a value under a threshold plan, given the grade hysteresis holds. */
function planGrade(plan: ThresholdPlan, value: number, held: Grade | undefined): Grade | undefined {
  return plan.outside ? compiledBandGrade(value, held, plan.band) : compiledGrade(value, held, plan.levels);
}

/** The level a threshold message names for `grade`: the raise level, or the side of the band `value` left. */
function thresholdText(rule: ThresholdRule, value: number, grade: Grade | undefined): string {
  if (grade === undefined) return '';
  if (rule.direction !== 'outside') return String(rule.levels?.[grade]?.raise ?? '');
  const band = rule.band?.[grade];
  return band ? String(value < band.low ? band.low : band.high) : '';
}

export const thresholdKind = defineKind<ThresholdRule, ThresholdPlan>({
  kind: 'threshold',
  metric: (rule) => rule.metric,
  inputs: (rule) => sampleInputs([rule.metric]),
  plan: (rule) => ({
    outside: rule.direction === 'outside',
    levels: compileLevels(rule.levels ?? {}, rule.direction === 'below' ? 'below' : 'above'),
    band: compileBand(bandLevels(rule.band ?? {})),
    n: rule.n_of_m?.n ?? 0,
    m: rule.n_of_m?.m ?? 0,
  }),

  onSample(host, device, target, sample, late) {
    if (late) return;
    const { rule, slot, plan } = target;
    const alert = host.alert(slot);
    const held = heldGrade(alert);
    const { value } = sample;
    const grade = planGrade(plan, value, held);
    let active = grade !== undefined;
    const { n, m } = plan;
    if (!active && isQuiet(alert)) {
      // The common case: a quiet rule stays quiet, and has nothing to remember — with N of M,
      // once its window is full of good samples another good one changes nothing.
      if (m === 0) {
        slot.quiet = undefined;
        return;
      }
      const window = (alert?.condition ?? slot.quiet)?.window;
      if (window !== undefined && window.length >= m && !window.includes(true)) return;
    }
    const previous = alert?.condition ?? slot.quiet ?? NO_CONDITION;
    let window = previous.window;
    if (m > 0) {
      window = [...window, active].slice(-m);
      active = nOfM(window, n);
    }
    // Held by hysteresis below the raise level: the message keeps the figures of the last sample
    // at the level and says when, rather than reading "3.99 above 4".
    const belowRaise = held !== undefined && grade !== undefined && planGrade(plan, value, undefined) !== grade;
    // Unchanged (a steady pending or firing alert): the same condition object, nothing new to keep.
    const condition: Condition = previous.grade === grade && previous.window === window ? previous : grade !== undefined ? { grade, window } : { window };
    host.apply(device, target, sample.ts, { active, grade, value, condition, keepMessage: belowRaise }, (_language, g) => ({ threshold: thresholdText(rule, value, g) }));
  },
});
