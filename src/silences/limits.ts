import { parseDuration } from '../kernel/time/duration.js';
import { longestStretch, type Silence } from './schedule.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The default of `silences.maxDuration`: a silence holds notifications for a month at most. */
export const DEFAULT_SILENCE_MAX_DURATION_MS = 30 * DAY;

/**
 * How far ahead a recurring silence's windows are followed to find a stretch without a gap. Day
 * lists repeat within a year; a stretch longer than the limit shows within this.
 */
const LOOK_AHEAD_MS = 400 * DAY;

export interface LengthIssue {
  /** The field at fault, relative to the silence spec: `window`, `schedule.times.0`, `schedule`. */
  readonly path: string;
  readonly message: string;
}

/** A length as people say it: `45 days`, `36 hours`, `90 minutes`. */
export function describeLength(ms: number): string {
  if (ms === Infinity) return 'without end';
  const round = (n: number) => String(Math.round(n * 10) / 10);
  if (ms >= DAY) return `${round(ms / DAY)} days`;
  if (ms >= HOUR) return `${round(ms / HOUR)} hours`;
  return `${round(ms / MINUTE)} minutes`;
}

/**
 * Whether a silence is longer than `maxMs` (`silences.maxDuration`), and where.
 *
 * - A one-off window's length is from its start to its end.
 * - A recurring silence's length is each window's: a `times` entry's `duration`, or its start to
 *   its end. Windows that follow each other without a gap (or overlap) are one stretch, and the
 *   stretch counts — a daily 00:00–24:00 schedule holds everything, always, and is refused. The
 *   series itself may go on without an end date (`validUntil`): between its windows alerts are
 *   notified as usual.
 *
 * Checked when a silence is created or changed, from `now` on: a kept silence is not re-judged.
 */
export function silenceLengthIssue(silence: Silence, now: number, maxMs: number): LengthIssue | undefined {
  const limit = `a silence may last at most ${describeLength(maxMs)} (silences.maxDuration)`;
  if (silence.window) {
    const length = silence.window.endsAt - silence.window.startsAt;
    return length > maxMs ? { path: 'window', message: `lasts ${describeLength(length)}; ${limit}: split it, or set a shorter window` } : undefined;
  }
  if (!silence.schedule) return undefined;
  const times = silence.schedule.times;
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    let length: number;
    if (t.duration !== undefined) length = parseDuration(t.duration) ?? 0;
    else {
      const start = Number(t.start.slice(0, 2)) * 60 + Number(t.start.slice(3, 5));
      const end = Number(t.end!.slice(0, 2)) * 60 + Number(t.end!.slice(3, 5));
      length = ((end > start ? end : end + 24 * 60) - start) * MINUTE;
    }
    if (length > maxMs) return { path: `schedule.times.${i}`, message: `each window lasts ${describeLength(length)}; ${limit}` };
  }
  // Windows back to back: followed from now over the look-ahead, stopping at the first stretch too long.
  const stretch = longestStretch(silence, now, now + LOOK_AHEAD_MS, maxMs);
  if (stretch && stretch.end - stretch.start > maxMs) {
    const from = new Date(stretch.start).toISOString();
    return {
      path: 'schedule',
      message: `its windows follow each other without a gap for ${describeLength(stretch.end - stretch.start)} from ${from}; ${limit}, and windows back to back count as one`,
    };
  }
  return undefined;
}
