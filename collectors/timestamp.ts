import { parseInstant } from '../src/kernel/time/instant.js';

export type ParsedTimestamp = { ok: true; ts: number } | { ok: false; reason: 'missing_ts' | 'invalid_ts'; detail: string };

/**
 * Reads a contract timestamp: epoch milliseconds or ISO-8601 with a zone, by the kernel's one
 * reading of instants (`src/kernel/time/instant.ts`), with the dead-letter reason it earns.
 */
export function parseTimestamp(value: unknown): ParsedTimestamp {
  if (value === undefined || value === null) return { ok: false, reason: 'missing_ts', detail: 'ts is missing' };
  if (typeof value !== 'number' && typeof value !== 'string') return { ok: false, reason: 'invalid_ts', detail: `ts must be a number or a string, got ${typeof value}` };
  const parsed = parseInstant(value);
  return parsed.ok ? parsed : { ok: false, reason: 'invalid_ts', detail: `ts ${parsed.detail}` };
}
