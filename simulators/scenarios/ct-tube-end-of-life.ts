import { DAY, WEEK } from '../time.js';
import { requireCt } from './common.js';
import { noEvents, type Scenario } from './types.js';

/** Expected arcs per exam at criticalAt: above 20 a scan aborts ("abort storm"). */
export const ARCS_PER_EXAM_AT_CRITICAL = 21;
/** Expected arcs per exam (above the healthy rate) right at onset. */
const ARCS_PER_EXAM_AT_ONSET = 0.1;
const ARCS_PER_EXAM_CAP = 60;
export const TUBE_ONSET_TO_CRITICAL = 6 * WEEK;
/** The filament drifts over the last 13 weeks before criticalAt, i.e. from 7 weeks before onset. */
export const FILAMENT_DRIFT_SPAN = 13 * WEEK;
export const FILAMENT_DRIFT_PER_WEEK = 0.005;

/**
 * A tube near the end of its life. From onset the expected arcs per exam grow exponentially,
 * from +0.1 at onset to 21 at criticalAt = onset + 6 weeks (e-folding time ≈ 7.9 days), capped at
 * 60. The filament current drifts +0.5 %/week over the 13 weeks before criticalAt — so the drift
 * starts 7 weeks before onset (+6.5 % at criticalAt), as a real tube announces itself early.
 */
export const ctTubeEndOfLife: Scenario = {
  name: 'ct-tube-end-of-life',
  modality: 'CT',
  description: {
    zh: '球管寿命末期：每次检查的打火次数在最后数周内呈指数增长，灯丝电流每周漂移约 +0.5%，最终出现打火风暴（每次检查 >20 次）。',
    en: 'CT tube end of life: arcs per exam rise exponentially over the last weeks, filament current drifts +0.5 %/week, ending in an abort storm (> 20 arcs per exam).',
  },
  create({ model, onsetAt }) {
    const ct = requireCt(model, 'ct-tube-end-of-life');
    const criticalAt = onsetAt + TUBE_ONSET_TO_CRITICAL;
    const driftFrom = criticalAt - FILAMENT_DRIFT_SPAN;
    const base = ct.params.healthyArcsPerExam;
    const amplitude = ARCS_PER_EXAM_AT_CRITICAL - base;
    const efold = TUBE_ONSET_TO_CRITICAL / Math.log(amplitude / ARCS_PER_EXAM_AT_ONSET);
    const arcsPerExam = (t: number): number =>
      t < onsetAt ? base : Math.min(ARCS_PER_EXAM_CAP, base + amplitude * Math.exp((t - criticalAt) / efold));
    return {
      groundTruth: {
        scenario: 'ct-tube-end-of-life',
        onsetAt,
        criticalAt,
        criticalCondition: 'expected tube_arc_count per exam > 20 (abort storm)',
        milestones: { filamentDriftFrom: driftFrom, arcEfoldingDays: efold / DAY },
      },
      apply(t, since, values) {
        const f = values.filament_current_a;
        if (f !== undefined && t > driftFrom) {
          values.filament_current_a = f * (1 + (FILAMENT_DRIFT_PER_WEEK * (t - driftFrom)) / WEEK);
        }
        if (values.tube_arc_count !== undefined && t > onsetAt) {
          values.tube_arc_count = ct.counters(since, t, (exam) => arcsPerExam(exam.start)).tube_arc_count ?? 0;
        }
        return values;
      },
      events: noEvents,
    };
  },
};
