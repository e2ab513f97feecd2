/** ISO-8601 date-time with a zone (Z or ±hh:mm); a zone-less time would be ambiguous. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** Earliest plausible epoch-ms value; smaller numbers are most likely epoch seconds. */
const EPOCH_MS_FLOOR = 100_000_000_000; // 1973-03-03

export type ParsedTimestamp = { ok: true; ts: number } | { ok: false; reason: 'missing_ts' | 'invalid_ts'; detail: string };

/** Reads a contract timestamp: epoch milliseconds or ISO-8601 with a zone. */
export function parseTimestamp(value: unknown): ParsedTimestamp {
  if (value === undefined || value === null) return { ok: false, reason: 'missing_ts', detail: 'ts is missing' };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { ok: false, reason: 'invalid_ts', detail: `ts ${String(value)} is not finite` };
    if (value < EPOCH_MS_FLOOR && value > 0) {
      return { ok: false, reason: 'invalid_ts', detail: `ts ${value} looks like epoch seconds; send epoch milliseconds` };
    }
    if (value <= 0) return { ok: false, reason: 'invalid_ts', detail: `ts ${value} is not a positive epoch-ms value` };
    return { ok: true, ts: Math.round(value) };
  }
  if (typeof value === 'string') {
    if (!ISO_8601.test(value)) {
      return { ok: false, reason: 'invalid_ts', detail: `ts "${value.slice(0, 60)}" is not ISO-8601 with a zone (e.g. 2026-11-25T08:00:00Z)` };
    }
    const ts = Date.parse(value);
    if (Number.isNaN(ts)) return { ok: false, reason: 'invalid_ts', detail: `ts "${value.slice(0, 60)}" is not a real date` };
    return { ok: true, ts };
  }
  return { ok: false, reason: 'invalid_ts', detail: `ts must be a number or a string, got ${typeof value}` };
}
