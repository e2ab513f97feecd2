export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const WEEK = 7 * DAY;

/** China Standard Time has had no daylight saving since 1991, so a fixed offset is exact. */
export const SHANGHAI_UTC_OFFSET_MIN = 480;

/** Local wall-clock hour as a fraction (0 ≤ h < 24). */
export function localHour(t: number, utcOffsetMin = SHANGHAI_UTC_OFFSET_MIN): number {
  const local = t + utcOffsetMin * MINUTE;
  return (((local % DAY) + DAY) % DAY) / HOUR;
}

/** Local day of the week, 0 = Sunday … 6 = Saturday. */
export function localWeekday(t: number, utcOffsetMin = SHANGHAI_UTC_OFFSET_MIN): number {
  return new Date(t + utcOffsetMin * MINUTE).getUTCDay();
}

export function isWeekend(t: number, utcOffsetMin = SHANGHAI_UTC_OFFSET_MIN): boolean {
  const d = localWeekday(t, utcOffsetMin);
  return d === 0 || d === 6;
}

