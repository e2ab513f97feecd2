import { z } from 'zod';
import { parseDuration } from '../kernel/time/duration.js';
import { parseInstant } from '../kernel/time/instant.js';

/**
 * A time in a query string: ISO-8601 with a zone, epoch milliseconds, `now`, or a duration
 * relative to now (`-24h`, `-7d`). A time without a zone is refused rather than read in the
 * server's zone. Instants are read by the kernel's one parser, as MQTT timestamps are.
 */
export const TimeParam = z.string().refine((v) => resolveTime(v, 0) !== undefined, {
  message: 'must be ISO-8601 with a zone (2026-11-25T08:00:00+08:00), epoch milliseconds, "now" or relative such as -24h',
});

export function resolveTime(text: string, now: number): number | undefined {
  if (text === 'now') return now;
  if (/^-\d/.test(text) || /^\+\d/.test(text)) {
    const offset = parseDuration(text);
    return offset === undefined ? undefined : now + offset;
  }
  const parsed = parseInstant(/^\d+$/.test(text) ? Number(text) : text);
  return parsed.ok ? parsed.ts : undefined;
}

export const iso = (ms: number) => new Date(ms).toISOString();
