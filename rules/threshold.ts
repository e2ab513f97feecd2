/**
 * Graded thresholds with hysteresis. A grade is entered when the value reaches its `raise`
 * level and left only once the value has come back past its `clear` level, so a signal that
 * hovers around one level cannot make the alert chatter. Pure functions: the caller keeps the
 * previous grade (usually on the alert record) and passes it back in.
 */
import { GRADES, compareGrades, type Grade, type GradeLevel, type ThresholdDirection } from '../src/kernel/grades.js';

export type GradeLevels = Partial<Record<Grade, GradeLevel>>;

/** Both sides of an "outside the band" rule for one grade: too low is bad, and so is too high. */
export interface BandLevel {
  readonly low: GradeLevel;
  readonly high: GradeLevel;
}
export type BandLevels = Partial<Record<Grade, BandLevel>>;

/** The more serious of two optional grades. */
export function moreSerious(a: Grade | undefined, b: Grade | undefined): Grade | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareGrades(a, b) >= 0 ? a : b;
}

/**
 * The grade for `value` given the grade the rule was in before.
 *
 * - Escalation: the most serious grade whose raise level is reached wins, whatever came before.
 * - Holding: the previous grade stays while the value has not come back past its clear level.
 * - De-escalation: once past the previous grade's clear level, the rule drops to the most
 *   serious lower grade whose clear level is not yet passed, without going through normal.
 *
 * "Reached" is inclusive (`>= raise` when above is bad), "past clear" is inclusive too
 * (`<= clear`), so a value sitting exactly on the clear level clears. A NaN value carries no
 * information and leaves the grade unchanged rather than silently clearing an alert.
 */
export function thresholdGrade(value: number, previous: Grade | undefined, levels: GradeLevels, direction: ThresholdDirection): Grade | undefined {
  if (Number.isNaN(value)) return previous;
  const above = direction === 'above';
  let raised: Grade | undefined;
  let held: Grade | undefined;
  // GRADES runs from least to most serious; runs per sample, so no closures.
  for (const grade of GRADES) {
    const level = levels[grade];
    if (level === undefined) continue;
    if (above ? value >= level.raise : value <= level.raise) raised = grade;
    if (previous !== undefined && compareGrades(grade, previous) <= 0 && (above ? value > level.clear : value < level.clear)) held = grade;
  }
  return moreSerious(raised, held);
}

/** One direction's levels as arrays, least serious grade first: `thresholdGrade` made once per rule for the per-sample path. */
export interface CompiledLevels {
  readonly above: boolean;
  readonly grades: readonly Grade[];
  /** Each grade's place in GRADES. */
  readonly ranks: readonly number[];
  readonly raise: readonly number[];
  readonly clear: readonly number[];
}

export function compileLevels(levels: GradeLevels, direction: ThresholdDirection): CompiledLevels {
  const grades: Grade[] = [];
  const ranks: number[] = [];
  const raise: number[] = [];
  const clear: number[] = [];
  GRADES.forEach((grade, rank) => {
    const level = levels[grade];
    if (level === undefined) return;
    grades.push(grade);
    ranks.push(rank);
    raise.push(level.raise);
    clear.push(level.clear);
  });
  return { above: direction === 'above', grades, ranks, raise, clear };
}

/** `thresholdGrade` on compiled levels: the same grade for the same value, previous grade and levels. */
export function compiledGrade(value: number, previous: Grade | undefined, levels: CompiledLevels): Grade | undefined {
  if (Number.isNaN(value)) return previous;
  const previousRank = previous === undefined ? -1 : GRADES.indexOf(previous);
  const { above, raise, clear, ranks } = levels;
  // Later entries are more serious, so the last one raised or held is the more serious of the two.
  let best = -1;
  for (let i = 0; i < raise.length; i++) {
    if (above ? value >= raise[i]! : value <= raise[i]!) best = i;
    else if (previousRank >= 0 && ranks[i]! <= previousRank && (above ? value > clear[i]! : value < clear[i]!)) best = i;
  }
  return best < 0 ? undefined : levels.grades[best];
}

/** A band compiled into its two sides. */
export interface CompiledBand {
  readonly low: CompiledLevels;
  readonly high: CompiledLevels;
}

export function compileBand(levels: BandLevels): CompiledBand {
  const { low, high } = splitBand(levels);
  return { low: compileLevels(low, 'below'), high: compileLevels(high, 'above') };
}

/** `bandGrade` on a compiled band. */
export function compiledBandGrade(value: number, previous: Grade | undefined, band: CompiledBand): Grade | undefined {
  return moreSerious(compiledGrade(value, previous, band.low), compiledGrade(value, previous, band.high));
}

/**
 * The grade for a value that must stay inside a band (e.g. helium pressure, coolant flow):
 * each grade has a low side (bad below) and a high side (bad above), each with its own
 * hysteresis. The result is the more serious of the two sides; with sane bands only one side
 * can be active at a time, and a value coming back inside the band clears through the same
 * de-escalation steps as `thresholdGrade`.
 */
export function bandGrade(value: number, previous: Grade | undefined, levels: BandLevels): Grade | undefined {
  const { low, high } = splitBand(levels);
  return moreSerious(thresholdGrade(value, previous, low, 'below'), thresholdGrade(value, previous, high, 'above'));
}

/** A band's levels as two one-sided level sets; kept per band object, as bands are evaluated per sample. */
const splitBands = new WeakMap<BandLevels, { low: GradeLevels; high: GradeLevels }>();

function splitBand(levels: BandLevels): { low: GradeLevels; high: GradeLevels } {
  let split = splitBands.get(levels);
  if (split) return split;
  const low: Partial<Record<Grade, GradeLevel>> = {};
  const high: Partial<Record<Grade, GradeLevel>> = {};
  for (const grade of GRADES) {
    const band = levels[grade];
    if (band === undefined) continue;
    low[grade] = band.low;
    high[grade] = band.high;
  }
  splitBands.set(levels, (split = { low, high }));
  return split;
}

/**
 * Configuration mistakes that would defeat the hysteresis: a clear level on the bad side of
 * its raise level, or a more serious grade that is raised before a less serious one.
 * Returns human-readable problems; empty when the levels are usable.
 */
export function levelProblems(levels: GradeLevels, direction: ThresholdDirection): string[] {
  const problems: string[] = [];
  const worse = (a: number, b: number): boolean => (direction === 'above' ? a > b : a < b);
  let lessSerious: { grade: Grade; raise: number } | undefined;
  for (const grade of GRADES) {
    const level = levels[grade];
    if (level === undefined) continue;
    if (!Number.isFinite(level.raise) || !Number.isFinite(level.clear)) problems.push(`${grade}: raise and clear must be finite numbers`);
    else if (worse(level.clear, level.raise)) problems.push(`${grade}: clear level ${level.clear} is beyond raise level ${level.raise} (direction ${direction})`);
    if (lessSerious !== undefined && worse(lessSerious.raise, level.raise)) {
      problems.push(`${grade}: raise level ${level.raise} is reached before ${lessSerious.grade} (${lessSerious.raise})`);
    }
    lessSerious = { grade, raise: level.raise };
  }
  return problems;
}

/**
 * N-of-M confirmation: true when at least `n` of the last M samples (M = window.length) were
 * bad. A window shorter than `n` cannot confirm yet, so a freshly started rule stays quiet.
 */
export function nOfM(window: readonly boolean[], n: number): boolean {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  let bad = 0;
  for (const sample of window) {
    if (sample && ++bad >= n) return true;
  }
  return false;
}
