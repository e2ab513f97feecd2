import { z } from 'zod';
import { parseDuration } from '../config/duration.js';

/**
 * A time in a query string: ISO-8601, epoch milliseconds, `now`, or a duration relative to now
 * (`-24h`, `-7d`).
 */
export const TimeParam = z.string().refine((v) => resolveTime(v, 0) !== undefined, {
  message: 'must be ISO-8601, epoch milliseconds, "now" or a relative duration such as -24h',
});

export function resolveTime(text: string, now: number): number | undefined {
  if (text === 'now') return now;
  if (/^-\d/.test(text) || /^\+\d/.test(text)) {
    const offset = parseDuration(text);
    return offset === undefined ? undefined : now + offset;
  }
  if (/^\d+$/.test(text)) return Number(text);
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : parsed;
}

export const iso = (ms: number) => new Date(ms).toISOString();
