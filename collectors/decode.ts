import { z } from 'zod';
import { METRIC_NAME_MAX_LENGTH, METRIC_NAME_PATTERN, metricDefinition, type Modality } from '../src/kernel/catalogue/metrics.js';
import type { Sample } from '../src/kernel/ports/telemetry-store.js';
import type { DeviceState } from '../src/kernel/device.js';
import type { DeviceEvent } from '../src/kernel/device.js';
import type { Rejection, RejectReason } from './reasons.js';
import { parseTimestamp } from './timestamp.js';

export interface DecodeLimits {
  readonly maxPayloadBytes: number;
  readonly maxSamplesPerMessage: number;
  readonly maxMetricsPerSample: number;
  readonly futureToleranceMs: number;
  /** Samples older than this (ms before now) are rejected. */
  readonly maxAgeMs: number;
  readonly unknownMetrics: 'reject' | 'store';
}

type JsonObject = Record<string, unknown>;

export type ReadResult = { ok: true; body: JsonObject } | { ok: false; rejection: Rejection };

const reject = (reason: RejectReason, detail: string, count = 1): Rejection => ({ reason, detail, count });

/** One strict decoder for every message: `decode` without `stream` keeps no state between calls. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Size, UTF-8 JSON and object checks shared by every message kind. */
export function readJsonObject(payload: Uint8Array, maxBytes: number): ReadResult {
  if (payload.byteLength === 0) return { ok: false, rejection: reject('invalid_json', 'payload is empty') };
  if (payload.byteLength > maxBytes) {
    return { ok: false, rejection: reject('payload_too_large', `payload is ${payload.byteLength} bytes, the limit is ${maxBytes}`) };
  }
  let body: unknown;
  try {
    body = JSON.parse(UTF8.decode(payload));
  } catch (error) {
    return { ok: false, rejection: reject('invalid_json', (error as Error).message.slice(0, 200)) };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const kind = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body;
    return { ok: false, rejection: reject('not_an_object', `payload is ${kind}, expected an object`) };
  }
  return { ok: true, body: body as JsonObject };
}

const isJsonObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

const SampleShape = z.object({
  ts: z.unknown().optional(),
  seq: z.number().int().nonnegative().optional(),
  // The names and values are checked one by one below (each bad one is its own rejection, the
  // good ones are kept); here only that it is an object — without copying it, as a record would.
  metrics: z.custom<JsonObject>(isJsonObject, { error: 'metrics must be an object of name → number' }),
});

const BatchShape = z.object({
  deviceId: z.string().optional(),
  samples: z.array(z.unknown(), { error: 'samples must be an array' }).min(1, 'samples is empty'),
  metrics: z.undefined({ error: 'a message carries either metrics or samples, not both' }).optional(),
});

const SingleShape = SampleShape.extend({ deviceId: z.string().optional() });

function describeZod(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

export interface TelemetryDecoded {
  readonly samples: Sample[];
  readonly rejections: readonly Rejection[];
  /** Names outside the catalogue that were kept (unknownMetrics = store). */
  readonly flaggedMetrics: readonly string[];
  /** Number of samples (ts + metrics groups) the message carried. */
  readonly sampleCount: number;
  /** Of those, how many had at least one value accepted. */
  readonly acceptedSamples: number;
}

const NONE: readonly never[] = Object.freeze([]);

/** Collects rejections by reason so one message yields one dead letter per reason. */
class RejectionTally {
  private readonly byReason = new Map<RejectReason, { details: string[]; count: number }>();

  add(reason: RejectReason, detail: string): void {
    const entry = this.byReason.get(reason) ?? { details: [], count: 0 };
    entry.count += 1;
    if (entry.details.length < 5) entry.details.push(detail);
    this.byReason.set(reason, entry);
  }

  list(): Rejection[] {
    return [...this.byReason].map(([reason, { details, count }]) =>
      reject(reason, count > details.length ? `${details.join('; ')} (and ${count - details.length} more)` : details.join('; '), count),
    );
  }
}

/** Metric names of a telemetry body, for guessing an unregistered device's modality. */
export function metricNamesOf(body: JsonObject): string[] {
  const names = new Set<string>();
  const add = (s: unknown) => {
    const metrics = (s as { metrics?: unknown } | null)?.metrics;
    if (metrics && typeof metrics === 'object') for (const k of Object.keys(metrics)) names.add(k);
  };
  if (Array.isArray(body.samples)) body.samples.slice(0, 10).forEach(add);
  else add(body);
  return [...names];
}

/**
 * Validates a telemetry body (single sample or `samples` backlog) for a device of `modality`
 * and turns it into samples. Good samples and metrics are kept even when neighbours are bad.
 */
export function decodeTelemetry(body: JsonObject, deviceId: string, modality: Modality, now: number, limits: DecodeLimits): TelemetryDecoded {
  const isBatch = 'samples' in body;
  const envelope = (isBatch ? BatchShape : SingleShape).safeParse(body);
  if (!envelope.success) {
    return { samples: [], rejections: [reject('invalid_schema', describeZod(envelope.error))], flaggedMetrics: NONE, sampleCount: 1, acceptedSamples: 0 };
  }
  const claimed = envelope.data.deviceId;
  if (claimed !== undefined && claimed !== deviceId) {
    return {
      samples: [],
      rejections: [reject('device_mismatch', `payload deviceId "${claimed.slice(0, 64)}" but topic device "${deviceId}"`)],
      flaggedMetrics: NONE,
      sampleCount: 1,
      acceptedSamples: 0,
    };
  }
  const rawSamples: unknown[] = isBatch ? (envelope.data as z.infer<typeof BatchShape>).samples : [body];
  if (rawSamples.length > limits.maxSamplesPerMessage) {
    return {
      samples: [],
      rejections: [reject('too_many_samples', `${rawSamples.length} samples, the limit is ${limits.maxSamplesPerMessage}; split the backlog`, rawSamples.length)],
      flaggedMetrics: NONE,
      sampleCount: rawSamples.length,
      acceptedSamples: 0,
    };
  }
  const decoder = new SampleDecoder(deviceId, modality, now, limits);
  for (let index = 0; index < rawSamples.length; index++) {
    // A single sample was checked as the envelope already.
    const shape = isBatch ? SampleShape.safeParse(rawSamples[index]) : { success: true as const, data: envelope.data as z.infer<typeof SampleShape> };
    if (!shape.success) decoder.rejectSample(isBatch, index, 'invalid_schema', describeZod(shape.error));
    else decoder.decodeSample(isBatch, index, shape.data.ts, shape.data.metrics);
  }
  return decoder.result(rawSamples.length);
}

/** `samples[i]` in a backlog, `sample` for a single-sample message: where a rejection points. */
const whereIn = (isBatch: boolean, index: number): string => (isBatch ? `samples[${index}]` : 'sample');

/** The samples of one telemetry message as they are decoded; rejections and flags are made only when needed. */
class SampleDecoder {
  readonly samples: Sample[] = [];
  private tally: RejectionTally | undefined;
  private flagged: Set<string> | undefined;
  private accepted = 0;
  private readonly newest: number;
  private readonly oldest: number;

  constructor(
    private readonly deviceId: string,
    private readonly modality: Modality,
    private readonly now: number,
    private readonly limits: DecodeLimits,
  ) {
    this.newest = now + limits.futureToleranceMs;
    this.oldest = now - limits.maxAgeMs;
  }

  rejectSample(isBatch: boolean, index: number, reason: RejectReason, detail: string): void {
    (this.tally ??= new RejectionTally()).add(reason, `${whereIn(isBatch, index)}: ${detail}`);
  }

  decodeSample(isBatch: boolean, index: number, rawTs: unknown, metrics: JsonObject): void {
    const time = parseTimestamp(rawTs);
    if (!time.ok) return this.rejectSample(isBatch, index, time.reason, time.detail);
    const ts = time.ts;
    if (ts > this.newest) {
      return this.rejectSample(isBatch, index, 'ts_in_future', `ts ${new Date(ts).toISOString()} is ${Math.round((ts - this.now) / 1000)} s ahead of the collector's clock`);
    }
    if (ts < this.oldest) {
      return this.rejectSample(isBatch, index, 'ts_too_old', `ts ${new Date(ts).toISOString()} is older than the retention of ${Math.round(this.limits.maxAgeMs / 86_400_000)} days`);
    }
    // Keys as sent: a validated copy would silently drop names such as "__proto__".
    const names = Object.keys(metrics);
    if (names.length === 0) return this.rejectSample(isBatch, index, 'empty_sample', 'metrics is empty');
    if (names.length > this.limits.maxMetricsPerSample) {
      return this.rejectSample(isBatch, index, 'too_many_metrics', `${names.length} metrics, the limit is ${this.limits.maxMetricsPerSample}`);
    }
    const before = this.samples.length;
    for (const name of names) {
      const rawValue = metrics[name];
      const value = typeof rawValue === 'boolean' ? (rawValue ? 1 : 0) : rawValue;
      // A catalogue name is well-formed; only names outside it need the pattern.
      const definition = metricDefinition(this.modality, name);
      if (!definition && (name.length > METRIC_NAME_MAX_LENGTH || !METRIC_NAME_PATTERN.test(name))) {
        this.rejectSample(isBatch, index, 'invalid_metric_name', `"${name.slice(0, 80)}"`);
        continue;
      }
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        this.rejectSample(isBatch, index, 'non_finite_value', `${name} = ${JSON.stringify(rawValue)?.slice(0, 40) ?? String(rawValue)}`);
        continue;
      }
      if (!definition) {
        if (this.limits.unknownMetrics === 'reject') {
          this.rejectSample(isBatch, index, 'unknown_metric', `"${name}" is not a ${this.modality} metric`);
          continue;
        }
        (this.flagged ??= new Set()).add(name);
      } else if (value < definition.min || value > definition.max) {
        this.rejectSample(isBatch, index, 'value_out_of_range', `${name} = ${value} outside [${definition.min}, ${definition.max}] ${definition.unit}`.trim());
        continue;
      }
      this.samples.push({ deviceId: this.deviceId, metric: name, ts, value });
    }
    if (this.samples.length > before) this.accepted++;
  }

  result(sampleCount: number): TelemetryDecoded {
    return {
      samples: this.samples,
      rejections: this.tally?.list() ?? NONE,
      flaggedMetrics: this.flagged ? [...this.flagged] : NONE,
      sampleCount,
      acceptedSamples: this.accepted,
    };
  }
}

export const DEVICE_STATES = ['online', 'offline', 'scanning', 'standby', 'service'] as const satisfies readonly DeviceState[];

const StatusShape = z.object({ ts: z.unknown().optional(), state: z.enum(DEVICE_STATES) });

export type StatusDecoded = { ok: true; state: DeviceState; ts: number } | { ok: false; rejection: Rejection };

export function decodeStatus(body: JsonObject, now: number, limits: DecodeLimits): StatusDecoded {
  const shape = StatusShape.safeParse(body);
  if (!shape.success) return { ok: false, rejection: reject('invalid_schema', describeZod(shape.error)) };
  const time = parseTimestamp(shape.data.ts);
  if (!time.ok) return { ok: false, rejection: reject(time.reason, time.detail) };
  if (time.ts > now + limits.futureToleranceMs) return { ok: false, rejection: reject('ts_in_future', `ts ${new Date(time.ts).toISOString()} is ahead of the collector's clock`) };
  return { ok: true, state: shape.data.state, ts: time.ts };
}

const EventShape = z.object({
  ts: z.unknown().optional(),
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'code must be UPPER_SNAKE_CASE, at most 64 characters'),
  message: z.string().max(1000).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

export type EventDecoded = { ok: true; event: DeviceEvent } | { ok: false; rejection: Rejection };

export function decodeEvent(body: JsonObject, deviceId: string, now: number, limits: DecodeLimits): EventDecoded {
  const shape = EventShape.safeParse(body);
  if (!shape.success) return { ok: false, rejection: reject('invalid_schema', describeZod(shape.error)) };
  const time = parseTimestamp(shape.data.ts);
  if (!time.ok) return { ok: false, rejection: reject(time.reason, time.detail) };
  if (time.ts > now + limits.futureToleranceMs) return { ok: false, rejection: reject('ts_in_future', `ts ${new Date(time.ts).toISOString()} is ahead of the collector's clock`) };
  if (time.ts < now - limits.maxAgeMs) return { ok: false, rejection: reject('ts_too_old', `ts ${new Date(time.ts).toISOString()} is older than the retention`) };
  const { code, message, data } = shape.data;
  return { ok: true, event: { deviceId, ts: time.ts, code, ...(message !== undefined && { message }), ...(data !== undefined && { data }) } };
}
