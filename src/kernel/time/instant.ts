import { z } from 'zod';
import { daysInMonth, epochDay } from './zone.js';

/**
 * Instants written as text or numbers, read one way everywhere: MQTT payloads (`ts`), API query
 * strings (`from`, `to`) and request bodies (silence windows).
 *
 * ISO-8601 / RFC 3339 with a zone: `YYYY-MM-DDTHH:mm[:ss[.fraction]]` then `Z` or `±HH:mm`
 * (`±HHmm` too). A real date (no 30 February) and a real time (hours 00–23, no 24:00, no leap
 * second); `T` and `Z` in either case, as RFC 3339 allows; fractions of up to nine digits, cut
 * to the millisecond. A time without a zone is refused: it would be read in some server's zone.
 *
 * Parsed by one regular expression and integer arithmetic, not `Date.parse` (whose rules for
 * text outside the ISO format vary between engines) nor a date library: collectors read a
 * timestamp per sample.
 */
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:[Zz]|([+-])(\d{2}):?(\d{2}))$/;

/** Earliest plausible epoch-ms value; smaller positive numbers are most likely epoch seconds. */
export const EPOCH_MS_FLOOR = 100_000_000_000; // 1973-03-03
/** Largest instant a JavaScript Date can hold; beyond it there is no time to compare. */
export const EPOCH_MS_CEILING = 8_640_000_000_000_000;

export const ISO_INSTANT_EXAMPLE = '2026-11-25T08:00:00+08:00';

const digits = (m: RegExpExecArray, i: number): number => Number(m[i]);

/** Epoch milliseconds of an ISO-8601 instant with a zone, or undefined when the text is not one (see above). */
export function parseIsoInstant(text: string): number | undefined {
  return readIso(text).ts;
}

function readIso(text: string): { ts: number; problem?: undefined } | { ts?: undefined; problem: 'format' | 'date' | 'time' } {
  const m = ISO_INSTANT.exec(text);
  if (m === null) return { problem: 'format' };
  const year = digits(m, 1);
  const month = digits(m, 2);
  const day = digits(m, 3);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return { problem: 'date' };
  const hour = digits(m, 4);
  const minute = digits(m, 5);
  const second = m[6] === undefined ? 0 : digits(m, 6);
  let offsetMinutes = 0;
  if (m[8] !== undefined) {
    const oh = digits(m, 9);
    const om = digits(m, 10);
    if (oh > 23 || om > 59) return { problem: 'time' };
    offsetMinutes = (m[8] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  if (hour > 23 || minute > 59 || second > 59) return { problem: 'time' };
  const fraction = m[7];
  const ms = fraction === undefined ? 0 : Number(fraction.length >= 3 ? fraction.slice(0, 3) : fraction.padEnd(3, '0'));
  return { ts: ((epochDay(year, month, day) * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1_000 + ms };
}

export type InstantResult = { ok: true; ts: number } | { ok: false; detail: string };

/**
 * Reads an instant given as epoch milliseconds or as ISO-8601 text with a zone. A positive
 * number below 1973 is taken for epoch seconds and refused with that said.
 */
export function parseInstant(value: number | string): InstantResult {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { ok: false, detail: `${String(value)} is not finite` };
    if (value < EPOCH_MS_FLOOR && value > 0) return { ok: false, detail: `${value} looks like epoch seconds; send epoch milliseconds` };
    if (value <= 0 || value > EPOCH_MS_CEILING) return { ok: false, detail: `${value} is not a plausible epoch-ms value` };
    return { ok: true, ts: Math.round(value) };
  }
  const read = readIso(value);
  if (read.ts !== undefined) return { ok: true, ts: read.ts };
  const shown = `"${value.slice(0, 60)}"`;
  switch (read.problem) {
    case 'format':
      return { ok: false, detail: `${shown} is not ISO-8601 with a zone (e.g. 2026-11-25T08:00:00Z)` };
    case 'date':
      return { ok: false, detail: `${shown} is not a real date` };
    case 'time':
      return { ok: false, detail: `${shown} is not a real time of day and offset (00:00–23:59, offsets up to ±23:59)` };
  }
}

/** An ISO-8601 instant with a zone in a request (see the module comment). */
export const IsoInstantSchema = z.string().refine((v) => parseIsoInstant(v) !== undefined, `must be an ISO-8601 time with a zone, e.g. ${ISO_INSTANT_EXAMPLE}`);
