/** ISO-8601 date-time with a zone (Z or ±hh:mm); a zone-less time would be ambiguous. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** Earliest plausible epoch-ms value; smaller numbers are most likely epoch seconds. */
const EPOCH_MS_FLOOR = 100_000_000_000; // 1973-03-03
/** Largest instant a JavaScript Date can hold; beyond it there is no time to compare. */
const EPOCH_MS_CEILING = 8_640_000_000_000_000;

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

export type ParsedTimestamp = { ok: true; ts: number } | { ok: false; reason: 'missing_ts' | 'invalid_ts'; detail: string };

/** Reads a contract timestamp: epoch milliseconds or ISO-8601 with a zone. */
export function parseTimestamp(value: unknown): ParsedTimestamp {
  if (value === undefined || value === null) return { ok: false, reason: 'missing_ts', detail: 'ts is missing' };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { ok: false, reason: 'invalid_ts', detail: `ts ${String(value)} is not finite` };
    if (value < EPOCH_MS_FLOOR && value > 0) {
      return { ok: false, reason: 'invalid_ts', detail: `ts ${value} looks like epoch seconds; send epoch milliseconds` };
    }
    if (value <= 0 || value > EPOCH_MS_CEILING) return { ok: false, reason: 'invalid_ts', detail: `ts ${value} is not a plausible epoch-ms value` };
    return { ok: true, ts: Math.round(value) };
  }
  if (typeof value === 'string') {
    if (!ISO_8601.test(value)) {
      return { ok: false, reason: 'invalid_ts', detail: `ts "${value.slice(0, 60)}" is not ISO-8601 with a zone (e.g. 2026-11-25T08:00:00Z)` };
    }
    const ts = Date.parse(value);
    const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
    // Date.parse rolls 2026-02-30 over into March; a device clock that says so is wrong.
    if (Number.isNaN(ts) || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
      return { ok: false, reason: 'invalid_ts', detail: `ts "${value.slice(0, 60)}" is not a real date` };
    }
    return { ok: true, ts };
  }
  return { ok: false, reason: 'invalid_ts', detail: `ts must be a number or a string, got ${typeof value}` };
}
