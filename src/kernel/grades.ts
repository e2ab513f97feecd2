/**
 * Shared vocabulary of the rule engine. Grades follow the service tender (design §4):
 * 轻微 minor < 一般 general < 严重 severe < 紧急 emergency.
 */
export const GRADES = ['minor', 'general', 'severe', 'emergency'] as const;
export type Grade = (typeof GRADES)[number];

export const GRADE_LABELS: Readonly<Record<Grade, { zh: string; en: string }>> = {
  minor: { zh: '轻微故障', en: 'minor' },
  general: { zh: '一般故障', en: 'general' },
  severe: { zh: '严重故障', en: 'severe' },
  emergency: { zh: '紧急事件', en: 'emergency' },
};

/** Orders grades: negative when a is less serious than b. */
export function compareGrades(a: Grade, b: Grade): number {
  return GRADES.indexOf(a) - GRADES.indexOf(b);
}

/** Raise and clear levels of one grade of a threshold rule; the gap between them is the hysteresis. */
export interface GradeLevel {
  readonly raise: number;
  readonly clear: number;
}

/** Which side of a level is bad. */
export type ThresholdDirection = 'above' | 'below';

/** Bilingual message template; `{{value}}`, `{{device}}`, `{{metric}}`, `{{grade}}`… are filled in. */
export interface MessageTemplate {
  readonly zh: string;
  readonly en: string;
}
