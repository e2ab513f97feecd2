import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bandGrade, compileBand, compiledBandGrade, compiledGrade, compileLevels, levelProblems, nOfM, thresholdGrade, type BandLevels, type GradeLevels } from '../../rules/threshold.js';
import { GRADES, type Grade } from '../../src/kernel/grades.js';

// Helium vessel pressure style: higher is worse.
const above: GradeLevels = {
  minor: { raise: 60, clear: 55 },
  general: { raise: 70, clear: 65 },
  severe: { raise: 80, clear: 75 },
};
// Helium level style: lower is worse.
const below: GradeLevels = {
  general: { raise: 40, clear: 45 },
  emergency: { raise: 20, clear: 25 },
};

/** Feeds a signal through the rule, carrying the grade like the alert record does. */
function run(values: readonly number[], step: (v: number, prev: Grade | undefined) => Grade | undefined): (Grade | undefined)[] {
  const grades: (Grade | undefined)[] = [];
  let grade: Grade | undefined;
  for (const v of values) {
    grade = step(v, grade);
    grades.push(grade);
  }
  return grades;
}

function changes(grades: readonly (Grade | undefined)[]): number {
  let count = 0;
  let prev: Grade | undefined;
  for (const g of grades) {
    if (g !== prev) count += 1;
    prev = g;
  }
  return count;
}

/** How many times the signal went all the way across one gap (from <= clear to >= raise or back). */
function gapCrossings(values: readonly number[], raise: number, clear: number): number {
  let side: 'clear' | 'raised' = 'clear';
  let count = 0;
  for (const v of values) {
    if (side === 'clear' && v >= raise) {
      side = 'raised';
      count += 1;
    } else if (side === 'raised' && v <= clear) {
      side = 'clear';
      count += 1;
    }
  }
  return count;
}

describe('thresholdGrade', () => {
  it('enters at the raise level, holds inside the gap, leaves at the clear level', () => {
    expect(run([50, 59.9, 60, 57, 55.1, 55, 58], (v, p) => thresholdGrade(v, p, above, 'above'))).toEqual([
      undefined,
      undefined,
      'minor',
      'minor',
      'minor',
      undefined,
      undefined,
    ]);
  });

  it('escalates straight to the highest grade reached', () => {
    expect(thresholdGrade(85, undefined, above, 'above')).toBe('severe');
    expect(thresholdGrade(72, 'minor', above, 'above')).toBe('general');
  });

  it('de-escalates to the still-active lower grade without passing through normal', () => {
    expect(run([85, 78, 74, 68, 64, 56, 55], (v, p) => thresholdGrade(v, p, above, 'above'))).toEqual([
      'severe',
      'severe',
      'general',
      'general',
      'minor',
      'minor',
      undefined,
    ]);
  });

  it('falls all the way to normal when every clear level is passed at once', () => {
    expect(thresholdGrade(10, 'severe', above, 'above')).toBeUndefined();
  });

  it('works the other way round when low is bad', () => {
    expect(run([50, 40, 44, 19, 24, 26, 46], (v, p) => thresholdGrade(v, p, below, 'below'))).toEqual([
      undefined,
      'general',
      'general',
      'emergency',
      'emergency',
      'general',
      undefined,
    ]);
  });

  it('ignores grades that have no level', () => {
    expect(thresholdGrade(30, 'general', below, 'below')).toBe('general');
    expect(thresholdGrade(100, undefined, {}, 'above')).toBeUndefined();
  });

  it('keeps the previous grade on NaN instead of clearing', () => {
    expect(thresholdGrade(Number.NaN, 'severe', above, 'above')).toBe('severe');
  });

  it('never chatters on noise around one raise level smaller than the gap', () => {
    const raise = 100;
    const clear = 90;
    fc.assert(
      fc.property(fc.array(fc.double({ min: -9.99, max: 9.99, noNaN: true }), { maxLength: 200 }), (noise) => {
        const values = noise.map((n) => raise + n);
        const grades = run(values, (v, p) => thresholdGrade(v, p, { general: { raise, clear } }, 'above'));
        expect(changes(grades)).toBeLessThanOrEqual(1);
        expect(changes(grades)).toBeLessThanOrEqual(gapCrossings(values, raise, clear));
      }),
    );
  });

  it('changes grade at most once per gap crossing for any signal and any levels', () => {
    const levelsArb = fc
      .tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }))
      .map(([base, gap, step, gap2]): GradeLevels => ({
        minor: { raise: base + gap, clear: base },
        severe: { raise: base + gap + step + gap2, clear: base + gap + step },
      }));
    fc.assert(
      fc.property(levelsArb, fc.array(fc.integer({ min: -10, max: 180 }), { maxLength: 150 }), (levels, values) => {
        const grades = run(values, (v, p) => thresholdGrade(v, p, levels, 'above'));
        const crossings = GRADES.reduce((sum, g) => {
          const level = levels[g];
          return level === undefined ? sum : sum + gapCrossings(values, level.raise, level.clear);
        }, 0);
        expect(changes(grades)).toBeLessThanOrEqual(crossings);
      }),
    );
  });
});

describe('bandGrade', () => {
  // Coolant flow: too little and too much are both faults.
  const band = {
    general: { low: { raise: 10, clear: 12 }, high: { raise: 90, clear: 88 } },
    severe: { low: { raise: 5, clear: 7 }, high: { raise: 95, clear: 93 } },
  };

  it('raises on either side and clears with hysteresis back inside the band', () => {
    expect(run([50, 9, 11, 4, 6, 8, 12, 50, 96, 94, 90, 87], (v, p) => bandGrade(v, p, band))).toEqual([
      undefined,
      'general',
      'general',
      'severe',
      'severe',
      'general',
      undefined,
      undefined,
      'severe',
      'severe',
      'general',
      undefined,
    ]);
  });

  it('moves from one side to the other when the value jumps across the band', () => {
    expect(bandGrade(96, 'general', band)).toBe('severe');
    expect(bandGrade(9, 'severe', band)).toBe('general');
  });
});

describe('levelProblems', () => {
  it('accepts sane levels', () => {
    expect(levelProblems(above, 'above')).toEqual([]);
    expect(levelProblems(below, 'below')).toEqual([]);
  });

  it('reports an inverted gap and out-of-order grades', () => {
    expect(levelProblems({ minor: { raise: 60, clear: 65 } }, 'above')).toHaveLength(1);
    expect(levelProblems({ minor: { raise: 60, clear: 55 }, severe: { raise: 50, clear: 45 } }, 'above')).toHaveLength(1);
  });
});

describe('nOfM', () => {
  it('confirms when at least n of the window are bad', () => {
    expect(nOfM([true, false, true, false, false], 2)).toBe(true);
    expect(nOfM([true, false, false, false, false], 2)).toBe(false);
    expect(nOfM([true], 2)).toBe(false);
    expect(nOfM([], 1)).toBe(false);
  });

  it('rejects a meaningless n', () => {
    expect(() => nOfM([true], 0)).toThrow(RangeError);
    expect(() => nOfM([true], 1.5)).toThrow(RangeError);
  });
});

describe('compiled levels (the engine’s per-sample form)', () => {
  const level = fc.record({ raise: fc.integer({ min: -20, max: 20 }), clear: fc.integer({ min: -20, max: 20 }) });
  const grade = fc.option(fc.constantFrom(...GRADES), { nil: undefined });
  const value = fc.oneof(fc.integer({ min: -25, max: 25 }), fc.double({ min: -25, max: 25 }), fc.constant(Number.NaN));
  const levels = fc.record({ minor: level, general: level, severe: level, emergency: level }, { requiredKeys: [] }) as fc.Arbitrary<GradeLevels>;

  it('grade exactly as thresholdGrade for any levels, previous grade and value (property)', () => {
    fc.assert(
      fc.property(levels, fc.constantFrom('above' as const, 'below' as const), grade, value, (l, direction, previous, v) => {
        expect(compiledGrade(v, previous, compileLevels(l, direction))).toBe(thresholdGrade(v, previous, l, direction));
      }),
      { numRuns: 2_000 },
    );
  });

  it('grade a band exactly as bandGrade (property)', () => {
    const side = fc.record({ low: level, high: level });
    const bands = fc.record({ minor: side, general: side, severe: side, emergency: side }, { requiredKeys: [] }) as fc.Arbitrary<BandLevels>;
    fc.assert(
      fc.property(bands, grade, value, (band, previous, v) => {
        expect(compiledBandGrade(v, previous, compileBand(band))).toBe(bandGrade(v, previous, band));
      }),
      { numRuns: 2_000 },
    );
  });
});
