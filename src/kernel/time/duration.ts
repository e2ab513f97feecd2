/**
 * Durations in configuration, CLI flags and query strings: a number of milliseconds or a
 * number with a unit (`500ms`, `30s`, `5m`, `2h`, `14d`, `1w`), optionally signed.
 */
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PLAIN_NUMBER = /^[+-]?\d+(?:\.\d+)?$/;
const DURATION_PATTERN = /^([+-])?((?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+)$/;
const PART_PATTERN = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/**
 * Parses a duration — `250ms`, `30s`, `-2h`, `14d`, `1d12h`, or a plain number of milliseconds —
 * returning undefined when the text is not one, so callers can fall back to other formats.
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  const trimmed = text.trim();
  if (PLAIN_NUMBER.test(trimmed)) return Math.round(Number(trimmed));
  const match = DURATION_PATTERN.exec(trimmed);
  if (!match) return undefined;
  let total = 0;
  for (const part of (match[2] ?? '').matchAll(PART_PATTERN)) total += Number(part[1]) * (UNIT_MS[part[2]!] ?? 1);
  return (match[1] === '-' ? -1 : 1) * Math.round(total);
}

export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const rest = Math.abs(ms);
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (rest >= size && rest % size === 0) return `${sign}${rest / size}${unit}`;
  }
  return `${sign}${rest}ms`;
}
