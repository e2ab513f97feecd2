import type { Sample } from '../kernel/ports/telemetry-store.js';

/**
 * What every telemetry store adapter checks and computes the same way, so they agree on the
 * port's semantics: which samples are writable, and where a bucket starts.
 */

/** Rejects a batch holding a sample no store can keep (the whole batch: nothing is written). */
export function validateSamples(samples: readonly Sample[], extra?: (sample: Sample, index: number) => void): void {
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as Sample;
    if (typeof s.deviceId !== 'string' || s.deviceId.length === 0) {
      throw new RangeError(`sample ${i}: deviceId must be a non-empty string`);
    }
    if (typeof s.metric !== 'string' || s.metric.length === 0) {
      throw new RangeError(`sample ${i}: metric must be a non-empty string`);
    }
    if (!Number.isSafeInteger(s.ts)) {
      throw new RangeError(`sample ${i} (${s.deviceId}/${s.metric}): ts must be an integer epoch millisecond, got ${s.ts}`);
    }
    if (typeof s.value !== 'number' || !Number.isFinite(s.value)) {
      throw new RangeError(`sample ${i} (${s.deviceId}/${s.metric}): value must be a finite number, got ${s.value}`);
    }
    extra?.(s, i);
  }
}

export function validateRange(from: number, to: number): void {
  if (!Number.isFinite(from) || !Number.isFinite(to)) {
    throw new RangeError(`from and to must be finite, got [${from}, ${to})`);
  }
}

/**
 * Start of the `step`-wide bucket containing `ts`, buckets starting at multiples of `step` shifted
 * by `offset`; floor rather than truncation, so it also holds before 1970.
 */
export function alignDown(ts: number, step: number, offset = 0): number {
  return ts - ((((ts - offset) % step) + step) % step);
}

/** `offset` as the port allows it (a safe integer, default 0), reduced to [0, step). */
export function bucketOffset(offset: number | undefined, step: number): number {
  if (offset === undefined) return 0;
  if (!Number.isSafeInteger(offset)) throw new RangeError(`offset must be an integer of ms, got ${offset}`);
  return ((offset % step) + step) % step;
}
