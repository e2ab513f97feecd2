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

const DURATION_PATTERN = /^([+-]?\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/;

/** Parses a duration; returns undefined when the text is not one. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = match[2] ?? 'ms';
  return Math.round(amount * (UNIT_MS[unit] ?? 1));
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
