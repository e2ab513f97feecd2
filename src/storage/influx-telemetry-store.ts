/**
 * InfluxDB adapter of the telemetry store port, for sites that already run InfluxDB or want its
 * tooling (Grafana, Chronograf) on the same data. Reads are InfluxQL over the v1-compatible
 * `/query` endpoint, which 1.x serves natively, 2.x through a DBRP mapping and 3.x as-is; writes
 * go to `/api/v2/write` when the server has it and to the v1 `/write` otherwise (1.x before 1.8).
 * The HTTP side, and why the client library's WriteApi is not used, is in ./influx-http.ts.
 *
 * Layout: see {@link INFLUX_LAYOUT} (kept as a string so the README can quote it verbatim).
 *
 * Roll-ups without transactions. InfluxDB cannot write a roll-up and delete the raw points it
 * summarises atomically, so a retention pass can fail between the two (a timeout on the DELETE
 * is enough). Each roll-up point is therefore a *contribution*: the summary of the raw points
 * one pass found in one series-hour, stamped at a nanosecond offset into the hour that is a hash
 * of its content. A repeated pass over the same raw points computes the same point and
 * overwrites it instead of counting those points twice; late writes into an hour that was
 * already rolled up (a collector flushing an old buffer) give a different summary and so a
 * further contribution; reads combine all contributions of an hour. As with the SQLite adapter,
 * raw points inside a rolled-up hour are such late writes and reads merge them into that hour -
 * unless their summary equals one of that hour's contributions, which makes them its source
 * left behind by a failed pass: reads then count them once, and the next pass deletes them.
 *
 * Limitations (also in INFLUX_LAYOUT): a late batch whose summary equals an earlier
 * contribution of the same series-hour exactly (same metrics, min, max, sum and count) is taken
 * for a repeat and replaces it (right for re-sent duplicates, otherwise `count` comes out low);
 * a sample written into an hour while a retention pass is between summarising and deleting that
 * very hour is deleted without being counted (the window is the summary query, roll-up write and
 * DELETE of one day's chunk, and only data older than the raw horizon is exposed to it);
 * `latest()` only sees raw data.
 */
import { createHash } from 'node:crypto';
import { escape, Point } from '@influxdata/influxdb-client';
import type { Logger } from 'pino';
import { alignDown, bucketOffset, validateRange, validateSamples } from './sample-rules.js';
import { InfluxHttp, type InfluxSeries, type InfluxWritePath, type ServerVersion } from './influx-http.js';
import type {
  AggregatePoint,
  LatestValue,
  RangeQuery,
  RawQuery,
  RetentionPolicy,
  RetentionResult,
  Sample,
  TelemetryStore,
} from '../kernel/ports/telemetry-store.js';

export { InfluxRequestError } from './influx-http.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const HOUR_NS = 3_600_000_000_000n;

export const INFLUX_MEASUREMENT = 'telemetry';
export const INFLUX_ROLLUP_MEASUREMENT = 'telemetry_1h';
/** Tags taken from `tagsFor(deviceId)`; other keys it returns are ignored. */
export const INFLUX_DEVICE_TAGS = ['site', 'modality', 'model'] as const;

/** Storage layout of the InfluxDB adapter, for operators and the README. */
export const INFLUX_LAYOUT = `\
InfluxDB layout of Remote Guardian telemetry
- Measurement "telemetry": raw samples. Tags: device (always), site, modality, model (when the
  configured tagsFor(deviceId) gives them). One float field per metric, named after the metric.
  Samples of one device at the same instant share one point. Timestamps have ms precision.
  Rewriting a device's metric at the same instant replaces the field value (idempotent writes).
- Measurement "telemetry_1h": hourly roll-ups written by retention before raw points are
  deleted. Same tags. Fields <metric>_min, <metric>_max, <metric>_sum, <metric>_count (floats).
  Each point summarises the raw points one retention pass found in one series-hour and is
  stamped inside that hour at a nanosecond offset derived from its content, so a repeated pass
  overwrites it rather than double-counting, and late data rolled up later adds a point.
  Readers combine an hour's points: min of _min, max of _max, sum of _sum and of _count.
  Raw points left in a rolled-up hour are late data and are added to it, except those whose
  summary equals one of the hour's roll-up points (a pass that failed before deleting them).
- Queries filter on the device tag plus a time range only, so a device written under two tag
  sets (tagsFor changed) is still read completely - but it then is two series: an instant
  written under both tag sets counts twice. Keep tagsFor stable per device.
- Device ids and metric names must not contain control characters or a backslash before a
  space, comma, equals sign or at the end (line protocol cannot carry them), and a metric may
  not be called "time"; such samples are rejected with a RangeError.
- InfluxDB 1.x: the database is created on open if missing; retention rolls up, then deletes
  raw points with InfluxQL DELETE. InfluxDB 2.x/3.x: the bucket must exist (and, on 2.x, a DBRP
  mapping for InfluxQL reads). InfluxQL has no DELETE there, so applyRetention neither rolls up
  nor deletes (it logs this once): set the bucket's retention period instead, and aggregates
  then reach back only as far as it keeps raw data.
- latest() answers from raw data only: a metric whose raw points are all past retention has no
  latest value any more, though metrics() still lists it while its roll-ups exist.
- InfluxDB has no transactions, so two rare cases differ from the SQLite store: late data whose
  summary equals an existing roll-up point of its series-hour exactly is taken for a repeat of
  it (right for re-sent duplicates; otherwise that hour's count comes out low), and a sample
  written into an hour older than the raw horizon while a retention pass is rolling up that
  very hour may be deleted uncounted.
`;

/** Line-protocol lines per HTTP request: ~0.3–0.5 MB uncompressed, well inside server limits. */
const LINES_PER_REQUEST = 5_000;
/** Requests of one write() in flight at once; two keep the server busy while the next is built. */
const WRITE_CONCURRENCY = 2;
/** Raw data rolled up per retention round trip (summary query, roll-up write, DELETE). */
const RETENTION_CHUNK_MS = DAY_MS;
const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * InfluxDB stores int64 nanoseconds and reserves the extremes: about 1677-09-21 to 2262-04-11.
 * Query bounds are clamped to this range; samples outside it are rejected.
 */
const MIN_TIME_MS = -9_223_372_036_854;
const MAX_TIME_MS = 9_223_372_036_854;

export type InfluxWriteApiChoice = InfluxWritePath | 'auto';

export interface InfluxTelemetryStoreOptions {
  /** Base URL, e.g. http://influxdb:8086. */
  readonly url: string;
  /** Sent as `Authorization: Token …` (2.x/3.x token; on 1.8+ also `user:password`). */
  readonly token?: string;
  /** 2.x organisation for the v2 write path. */
  readonly org?: string;
  /** 2.x/3.x bucket; also the 1.x database unless `database` is given. */
  readonly bucket: string;
  /** Database name for InfluxQL and v1 writes (2.x: the DBRP-mapped name); defaults to `bucket`. */
  readonly database?: string;
  /** 1.x retention policy (or the rp of a 2.x DBRP mapping); the default policy when absent. */
  readonly retentionPolicy?: string;
  /** Extra tags for a device (site, modality, model); must stay stable per device. */
  readonly tagsFor?: (deviceId: string) => Readonly<Record<string, string>> | undefined;
  readonly logger?: Logger;
  /** Per request (default 30 s). */
  readonly timeoutMs?: number;
  /** Write endpoint: `auto` (default) probes `/api/v2/write` once and falls back to `/write`. */
  readonly writeApi?: InfluxWriteApiChoice;
  /**
   * Gzip write bodies: `auto` (default) compresses unless the server is on this host. Worth it
   * over a network; against a server on the same host it costs throughput instead (measured
   * with 1.6.7 on 2 cores, one writer: ~250k points/s gzipped, ~275–330k without).
   */
  readonly gzip?: boolean | 'auto';
}

/** What the store found out about its server on first contact. */
export interface InfluxServerInfo extends ServerVersion {
  readonly writePath: InfluxWritePath;
  /** InfluxQL DELETE exists (1.x only). */
  readonly canDelete: boolean;
}

interface Bucket {
  min: number;
  max: number;
  sum: number;
  count: number;
}

/**
 * Opens an InfluxDB telemetry store. The server is contacted right away (version, database
 * creation on 1.x, write endpoint); if it is unreachable the store still opens, logs a warning
 * and retries that set-up on the next call, so the service can start before its database.
 */
export async function openInfluxTelemetryStore(options: InfluxTelemetryStoreOptions): Promise<InfluxTelemetryStore> {
  const store = new InfluxTelemetryStore(options);
  try {
    await store.ready();
  } catch (err) {
    options.logger?.warn({ err, url: options.url }, 'InfluxDB not ready yet; will retry on first use');
  }
  return store;
}

/** InfluxQL identifier: double-quoted, with backslash, double quote and newline escaped. */
export function influxIdent(name: string): string {
  return `"${name.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`;
}

/** InfluxQL string literal: single-quoted, with backslash, single quote and newline escaped. */
export function influxString(value: string): string {
  return `'${value.replace(/[\\'\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}'`;
}

/** A query bound as an InfluxQL epoch literal, clamped to the range InfluxDB can represent. */
function timeLiteral(ms: number): string {
  return `${Math.min(MAX_TIME_MS, Math.max(MIN_TIME_MS, Math.ceil(ms)))}ms`;
}



function alignUp(ts: number, step: number): number {
  const down = alignDown(ts, step);
  return down === ts ? ts : down + step;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Strings line protocol cannot carry unchanged: control characters (escaped to a literal
 * backslash sequence by the client, so they would come back different) and a backslash before a
 * space, comma or equals sign or at the end (read as an escape, so the line breaks).
 */
// eslint-disable-next-line no-control-regex
const UNREPRESENTABLE = /[\u0000-\u001f\u007f]|\\(?=[ ,=]|$)/;

/** Names found representable in line protocol (a fleet's devices and metrics, again and again); capped. */
const representable = new Set<string>();

function isRepresentable(name: string): boolean {
  if (representable.has(name)) return true;
  if (UNREPRESENTABLE.test(name)) return false;
  if (representable.size < 10_000) representable.add(name);
  return true;
}

/** The common checks, plus what InfluxDB line protocol cannot represent. */
function validateInfluxSamples(samples: readonly Sample[]): void {
  validateSamples(samples, (s, i) => {
    if (s.ts < MIN_TIME_MS || s.ts > MAX_TIME_MS) {
      throw new RangeError(`sample ${i} (${s.deviceId}/${s.metric}): ts ${s.ts} is outside what InfluxDB can store`);
    }
    if (!isRepresentable(s.deviceId)) {
      throw new RangeError(`sample ${i}: deviceId ${JSON.stringify(s.deviceId)} cannot be stored in InfluxDB line protocol`);
    }
    if (!isRepresentable(s.metric) || s.metric === 'time') {
      throw new RangeError(`sample ${i}: metric ${JSON.stringify(s.metric)} cannot be stored as an InfluxDB field`);
    }
  });
}


/** Line protocol with our own timestamps verbatim (ms for raw points, ns strings for roll-ups). */
const LINE_SETTINGS = {
  convertTime: (value: string | number | Date | undefined): string | undefined =>
    value === undefined ? undefined : value instanceof Date ? String(value.getTime()) : String(value),
};

/**
 * Line protocol of raw telemetry, the same text as `Point.toLineProtocol` (tags and fields sorted,
 * escaped with the client's own `escape`), written straight into request bodies from a per-device
 * prefix and cached field keys instead of a Point and a string per line: the collector writes
 * every message through here. `test/storage/influx-line.test.ts` checks the two agree.
 */
export class TelemetryLines {
  private readonly fieldKeys = new Map<string, Buffer>();
  /** Indices of a line's samples, in field order (scratch, reused line after line). */
  private readonly order: number[] = [];

  /** `measurement,tag=value,…` for one device: tags sorted by key, empty values left out, as the client does. */
  prefix(measurement: string, tags: Readonly<Record<string, string>>): Buffer {
    let out = escape.measurement(measurement);
    for (const key of Object.keys(tags).sort()) {
      const value = tags[key];
      if (key && value) out += `,${escape.tag(key)}=${escape.tag(value)}`;
    }
    return Buffer.from(`${out} `, 'utf8');
  }

  /**
   * Appends one point to `out`: the prefix, the values of `samples[from, to)` as float fields
   * sorted by name (of a name given twice, the later value), and the timestamp as given.
   */
  append(out: BodyBuilder, prefix: Buffer, samples: readonly Pick<Sample, 'metric' | 'value'>[], from: number, to: number, ts: number | string): void {
    const order = this.order;
    order.length = 0;
    for (let k = from; k < to; k++) {
      const name = samples[k]!.metric;
      // Insertion sort: a message has a handful of metrics, often already in order.
      let at = order.length;
      while (at > 0 && samples[order[at - 1]!]!.metric > name) at--;
      if (at > 0 && samples[order[at - 1]!]!.metric === name) {
        order[at - 1] = k;
        continue;
      }
      order.push(k);
      for (let m = order.length - 1; m > at; m--) order[m] = order[m - 1]!;
      order[at] = k;
    }
    if (order.length === 0) throw new Error('point without fields');
    for (const k of order) {
      const { metric, value } = samples[k]!;
      if (!Number.isFinite(value)) throw new Error(`invalid float value for field '${metric}': ${value}`);
    }
    out.startLine();
    out.bytes(prefix);
    let first = true;
    for (const k of order) {
      const { metric, value } = samples[k]!;
      if (!first) out.ascii(',');
      first = false;
      out.bytes(this.fieldKey(metric));
      out.ascii(String(value));
    }
    out.ascii(' ');
    out.ascii(String(ts));
  }

  /** One point as text (what `append` writes). */
  line(prefix: Buffer, samples: readonly Pick<Sample, 'metric' | 'value'>[], from: number, to: number, ts: number | string): string {
    const out = new BodyBuilder();
    this.append(out, prefix, samples, from, to, ts);
    return out.take().toString('utf8');
  }

  /** `key=`, escaped as the client escapes field keys. */
  private fieldKey(name: string): Buffer {
    let key = this.fieldKeys.get(name);
    if (key === undefined) {
      key = Buffer.from(`${escape.tag(name)}=`, 'utf8');
      // Metric names come from a catalogue; flagged unknown ones could be many, so the cache is capped.
      if (this.fieldKeys.size < 10_000) this.fieldKeys.set(name, key);
    }
    return key;
  }
}

const EMPTY_BUFFER = Buffer.alloc(0);

/**
 * Buffers of request bodies whose requests have answered, for the next bodies: a few hundred kB
 * each, several a second, would otherwise be external memory waiting for the garbage collector.
 * Only buffers this pool allocated come back (never slices of Node's shared pool).
 */
class BufferPool {
  private readonly spare: Buffer[] = [];
  private readonly own = new WeakSet<ArrayBufferLike>();

  readonly allocate = (bytes: number): Buffer => {
    const index = this.spare.findIndex((b) => b.length >= bytes);
    if (index >= 0) return this.spare.splice(index, 1)[0]!;
    const buffer = Buffer.allocUnsafeSlow(bytes);
    this.own.add(buffer.buffer);
    return buffer;
  };

  /** Takes back the buffer under `body` (a slice of one this pool allocated). */
  release(body: Buffer): void {
    if (!this.own.has(body.buffer) || this.spare.length >= 4) return;
    this.spare.push(Buffer.from(body.buffer, 0, body.buffer.byteLength));
  }
}

/**
 * A request body of newline-separated lines, built in one growing buffer: cached byte strings
 * (prefixes, field keys) copied in, numbers written character by character — cheaper than a
 * string per line joined and encoded at the end.
 */
export class BodyBuilder {
  /** Allocated on the first byte of a body, so a write of one body allocates one buffer. */
  private buffer: Buffer = EMPTY_BUFFER;
  private used = 0;
  private count = 0;

  /**
   * `capacity`: the expected size of a body (it grows as needed); `allocate`: where its buffers
   * come from (a pool of buffers whose requests have answered, say).
   */
  constructor(
    private readonly capacity = 64 * 1024,
    private readonly allocate: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafe(bytes),
  ) {}

  /** Lines started since the last `take`. */
  get lines(): number {
    return this.count;
  }

  startLine(): void {
    if (this.count++ > 0) {
      this.reserve(1);
      this.buffer[this.used++] = 0x0a;
    }
  }

  bytes(data: Buffer): void {
    this.reserve(data.length);
    const buffer = this.buffer;
    let at = this.used;
    // A loop beats a native copy for the few bytes of a key or prefix.
    for (let i = 0; i < data.length; i++) buffer[at++] = data[i]!;
    this.used = at;
  }

  /** Text known to be ASCII (numbers, separators). */
  ascii(text: string): void {
    this.reserve(text.length);
    const buffer = this.buffer;
    let at = this.used;
    for (let i = 0; i < text.length; i++) buffer[at++] = text.charCodeAt(i);
    this.used = at;
  }

  /** The body so far; the builder starts a new one. */
  take(): Buffer {
    const body = this.buffer.subarray(0, this.used);
    this.buffer = EMPTY_BUFFER;
    this.used = 0;
    this.count = 0;
    return body;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buffer.length) return;
    const grown = this.allocate(Math.max(this.used + bytes, this.buffer.length * 2, this.capacity));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }
}

function toLine(point: Point): string {
  const line = point.toLineProtocol(LINE_SETTINGS);
  if (line === undefined) throw new Error('point without fields');
  return line;
}

/** Rows of a series as (time, column → value) pairs. */
function* rows(series: InfluxSeries): Generator<{ time: number; get: (column: number) => unknown }> {
  for (const row of series.values ?? []) {
    yield { time: Number(row[0]), get: (column) => row[column] };
  }
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

export class InfluxTelemetryStore implements TelemetryStore {
  private readonly http: InfluxHttp;
  private readonly lineBuilder = new TelemetryLines();
  private readonly logger: Logger | undefined;
  private readonly tagsFor: InfluxTelemetryStoreOptions['tagsFor'];
  private readonly writeApi: InfluxWriteApiChoice;
  private setup: Promise<InfluxServerInfo> | undefined;
  /** Request-body buffers: a busy collector writes several bodies a second, each a few hundred kB. */
  private readonly bodyBuffers = new BufferPool();
  /** What `setup` found, once it has. */
  private server: InfluxServerInfo | undefined;
  private retentionQueue: Promise<unknown> = Promise.resolve();
  private warnedNoDelete = false;
  private readonly warnedTags = new Set<string>();
  private closed = false;

  constructor(options: InfluxTelemetryStoreOptions) {
    if (!options.url) throw new RangeError('url is required');
    if (!options.bucket) throw new RangeError('bucket is required');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
    this.http = new InfluxHttp({ ...options, timeoutMs });
    this.logger = options.logger;
    this.tagsFor = options.tagsFor;
    this.writeApi = options.writeApi ?? 'auto';
  }

  /** Server facts, found once; a failed attempt is forgotten so the next call tries again. */
  ready(): Promise<InfluxServerInfo> {
    if (this.setup === undefined) {
      const attempt = this.detect();
      this.setup = attempt;
      attempt.then(
        (info) => {
          if (this.setup === attempt) this.server = info;
        },
        () => {
          if (this.setup === attempt) this.setup = undefined;
        },
      );
    }
    return this.setup;
  }

  write(samples: readonly Sample[]): Promise<void> {
    try {
      this.assertOpen();
      if (samples.length === 0) return Promise.resolve();
      // Validate up front so a bad sample rejects the whole batch before anything is sent.
      validateInfluxSamples(samples);
      // The bodies are made before anything is awaited once the server is known: the samples are
      // then let go while the requests are in flight, rather than kept alive until they answer.
      const server = this.server;
      if (server !== undefined) return this.sendBodies(this.rawBodies(samples), 'ms', server);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.ready().then((info) => this.sendBodies(this.rawBodies(samples), 'ms', info));
  }

  /**
   * Request bodies of raw samples: one line per run of samples with the same device and time (a
   * message's metrics arrive together); within a run the later of duplicates wins, and a point
   * split over two lines is merged by InfluxDB with the later line winning — as the port requires
   * either way.
   */
  private rawBodies(samples: readonly Sample[]): Buffer[] {
    const prefixes = new Map<string, Buffer>();
    const bodies: Buffer[] = [];
    // ~230 bytes a line of seven metrics; a body holds at most LINES_PER_REQUEST lines.
    const body = new BodyBuilder(Math.min(LINES_PER_REQUEST, samples.length) * 40, this.bodyBuffers.allocate);
    for (let i = 0; i < samples.length; ) {
      const { deviceId, ts } = samples[i]!;
      let j = i + 1;
      while (j < samples.length && samples[j]!.ts === ts && samples[j]!.deviceId === deviceId) j++;
      let prefix = prefixes.get(deviceId);
      if (prefix === undefined) prefixes.set(deviceId, (prefix = this.lineBuilder.prefix(INFLUX_MEASUREMENT, { ...Object.fromEntries(this.deviceTags(deviceId)), device: deviceId })));
      this.lineBuilder.append(body, prefix, samples, i, j, ts);
      if (body.lines >= LINES_PER_REQUEST) bodies.push(body.take());
      i = j;
    }
    if (body.lines > 0) bodies.push(body.take());
    return bodies;
  }

  async raw(query: RawQuery): Promise<Sample[]> {
    this.assertOpen();
    validateRange(query.from, query.to);
    const { limit } = query;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
    }
    if (query.to <= query.from || limit === 0) return [];
    await this.ready();
    const statement =
      `SELECT ${influxIdent(query.metric)}::field FROM ${influxIdent(INFLUX_MEASUREMENT)}` +
      ` WHERE ${this.deviceFilter(query.deviceId)} AND ${timeRange(query.from, query.to)}` +
      ` ORDER BY time ASC${limit === undefined ? '' : ` LIMIT ${limit}`}`;
    const [series] = await this.http.query([statement]);
    const out: Sample[] = [];
    for (const s of series ?? []) {
      for (const r of rows(s)) {
        const value = num(r.get(1));
        if (value !== undefined) out.push({ deviceId: query.deviceId, metric: query.metric, ts: r.time, value });
      }
    }
    return out;
  }

  async aggregate(query: RangeQuery): Promise<AggregatePoint[]> {
    this.assertOpen();
    const { from, to, step } = query;
    validateRange(from, to);
    if (!Number.isSafeInteger(step) || step <= 0) throw new RangeError(`step must be a positive integer of ms, got ${step}`);
    // Reduced to [0, step) here rather than left to InfluxDB, so every version sees the same.
    const offset = bucketOffset(query.offset, step);
    if (to <= from) return [];
    await this.ready();

    const metric = query.metric;
    const field = influxIdent(metric);
    const device = this.deviceFilter(query.deviceId);
    const rawSelect = (bucketMs: number, bucketOffsetMs: number, start: number, end: number, perSeries: boolean): string =>
      `SELECT min(${field}::field) AS "mn", max(${field}::field) AS "mx", sum(${field}::field) AS "s", count(${field}::field) AS "c"` +
      ` FROM ${influxIdent(INFLUX_MEASUREMENT)} WHERE ${device} AND ${timeRange(start, end)}` +
      ` GROUP BY time(${bucketMs}ms${bucketOffsetMs === 0 ? '' : `, ${bucketOffsetMs}ms`})${perSeries ? ', *' : ''} fill(none)`;
    // A rolled-up hour counts when its start lies in [from, to); its contributions are stamped
    // inside the hour, so the hour-aligned bounds select exactly those hours.
    const hoursFrom = alignUp(from, HOUR_MS);
    const hoursTo = alignUp(to, HOUR_MS);
    const contributionSelect =
      `SELECT ${influxIdent(`${metric}_min`)}::field AS "mn", ${influxIdent(`${metric}_max`)}::field AS "mx",` +
      ` ${influxIdent(`${metric}_sum`)}::field AS "s", ${influxIdent(`${metric}_count`)}::field AS "c"` +
      ` FROM ${influxIdent(INFLUX_ROLLUP_MEASUREMENT)} WHERE ${device} AND ${timeRange(hoursFrom, hoursTo)} GROUP BY *`;

    const [contributionSeries, rawSeries] = await this.http.query([contributionSelect, rawSelect(step, offset, from, to, false)]);
    const contributions = [...bucketRows(contributionSeries)];
    if (contributions.length === 0) {
      // Common case (range within the raw window): InfluxDB's own buckets are the answer.
      return [...bucketRows(rawSeries)]
        .sort((a, b) => a.ts - b.ts)
        .map((r) => ({ ts: r.ts, min: r.min, mean: r.sum / r.count, max: r.max, count: r.count }));
    }

    const buckets = new Map<number, Bucket>();
    const add = (key: number, r: Bucket): void => {
      const b = buckets.get(key);
      if (b === undefined) {
        buckets.set(key, { min: r.min, max: r.max, sum: r.sum, count: r.count });
      } else {
        if (r.min < b.min) b.min = r.min;
        if (r.max > b.max) b.max = r.max;
        b.sum += r.sum;
        b.count += r.count;
      }
    };
    // Rolled-up hours are never finer than an hour, whatever the step: a rolled-up hour falls
    // whole into the bucket containing its start, or is its own bucket when the step is finer
    // (the same rule as the SQLite adapter; see RangeQuery.offset).
    const hourBucket = (hour: number): number => (step < HOUR_MS ? hour : alignDown(hour, step, offset));
    const rolledHours = new Set<number>();
    const contributionsOf = new Map<string, BucketRow[]>();
    for (const r of contributions) {
      const hour = alignDown(r.ts, HOUR_MS);
      rolledHours.add(hour);
      add(hourBucket(hour), r);
      const key = `${r.series}\u0000${hour}`;
      contributionsOf.set(key, [...(contributionsOf.get(key) ?? []), r]);
    }

    // Raw points inside a rolled-up hour are normally late writes and join that hour's bucket,
    // so the answer does not change when the next retention pass rolls them up. Buckets of the
    // greatest common divisor of step, hour and offset never straddle an hour or a bucket
    // boundary, so each can be assigned. The exception: raw points of a series-hour whose summary equals one of that
    // hour's contributions are that contribution's own source, still there because a pass
    // failed before its DELETE; they are counted once, through the contribution.
    const [hourlySeries, fineSeries] = await this.http.query([
      rawSelect(HOUR_MS, 0, hoursFrom, hoursTo, true),
      rawSelect(gcd(gcd(step, HOUR_MS), offset), 0, from, to, true),
    ]);
    const alreadyRolled = new Set<string>();
    for (const r of bucketRows(hourlySeries)) {
      const key = `${r.series}\u0000${r.ts}`;
      if (contributionsOf.get(key)?.some((c) => sameSummary(c, r))) alreadyRolled.add(key);
    }
    for (const r of bucketRows(fineSeries)) {
      const hour = alignDown(r.ts, HOUR_MS);
      if (!rolledHours.has(hour)) add(alignDown(r.ts, step, offset), r);
      else if (!alreadyRolled.has(`${r.series}\u0000${hour}`)) add(hourBucket(hour), r);
    }
    return [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([ts, b]) => ({ ts, min: b.min, mean: b.sum / b.count, max: b.max, count: b.count }));
  }

  async latest(deviceId: string): Promise<LatestValue[]> {
    this.assertOpen();
    await this.ready();
    const metrics = await this.rawMetrics(deviceId);
    if (metrics.length === 0) return [];
    // One statement per field: a query with several selectors reports time 0 instead of each
    // value's own time.
    const device = this.deviceFilter(deviceId);
    const results = await this.http.query(
      metrics.map(
        (m) => `SELECT last(${influxIdent(m)}::field) FROM ${influxIdent(INFLUX_MEASUREMENT)} WHERE ${device}`,
      ),
    );
    const out: LatestValue[] = [];
    metrics.forEach((metric, i) => {
      for (const s of results[i] ?? []) {
        for (const r of rows(s)) {
          const value = num(r.get(1));
          if (value !== undefined) out.push({ metric, ts: r.time, value });
        }
      }
    });
    return out.sort((a, b) => compare(a.metric, b.metric));
  }

  async metrics(deviceId: string): Promise<string[]> {
    this.assertOpen();
    await this.ready();
    // SHOW FIELD KEYS is per measurement, not per device; last(*) filtered by the device tag
    // has a non-null column exactly for the fields this device has data in.
    const device = this.deviceFilter(deviceId);
    const [raw, rolled] = await this.http.query([
      `SELECT last(*) FROM ${influxIdent(INFLUX_MEASUREMENT)} WHERE ${device}`,
      `SELECT last(*) FROM ${influxIdent(INFLUX_ROLLUP_MEASUREMENT)} WHERE ${device}`,
    ]);
    const names = new Set(nonNullColumns(raw, 'last_'));
    for (const f of nonNullColumns(rolled, 'last_')) {
      if (f.endsWith('_count')) names.add(f.slice(0, -'_count'.length));
    }
    return [...names].sort(compare);
  }

  /**
   * Rolls up every complete hour that ended at or before `now - rawMs` and still has raw points,
   * a day at a time (summary query, roll-up write, then DELETE), and deletes roll-ups of hours
   * that ended at or before `now - rollupMs`. Passes of one store run one after the other.
   */
  async applyRetention(policy: RetentionPolicy, now: number): Promise<RetentionResult> {
    this.assertOpen();
    if (!Number.isFinite(now)) throw new RangeError(`now must be finite, got ${now}`);
    for (const [name, ms] of Object.entries(policy)) {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
        throw new RangeError(`${name} must be a finite non-negative number of ms, got ${String(ms)}`);
      }
    }
    const run = this.retentionQueue.then(() => this.retain(policy, now));
    this.retentionQueue = run.catch(() => undefined);
    return run;
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await this.ready();
    await this.http.ping();
  }

  /** Nothing to flush: write() resolves only once the server has acknowledged. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.http.close();
  }

  private async retain(policy: RetentionPolicy, now: number): Promise<RetentionResult> {
    this.assertOpen();
    const server = await this.ready();
    if (!server.canDelete) {
      if (!this.warnedNoDelete) {
        this.warnedNoDelete = true;
        this.logger?.info(
          { version: server.version },
          'InfluxDB without InfluxQL DELETE: telemetry retention is left to the bucket retention period',
        );
      }
      return { rawDeleted: 0, rollupDeleted: 0 };
    }
    const started = Date.now();
    const rawCutoff = Math.max(MIN_TIME_MS, alignDown(Math.floor(now - policy.rawMs), HOUR_MS));
    const rollupCutoff = Math.max(MIN_TIME_MS, alignDown(Math.floor(now - policy.rollupMs), HOUR_MS));
    const raw = influxIdent(INFLUX_MEASUREMENT);
    const rollup = influxIdent(INFLUX_ROLLUP_MEASUREMENT);
    let rawDeleted = 0;
    let rollupDeleted = 0;
    let chunks = 0;

    for (let cursor = MIN_TIME_MS; cursor < rawCutoff; ) {
      const [oldest] = await this.http.query([
        `SELECT * FROM ${raw} WHERE ${timeRange(cursor, rawCutoff)} ORDER BY time ASC LIMIT 1`,
      ]);
      const first = oldest?.[0]?.values?.[0]?.[0];
      if (typeof first !== 'number') break;
      const start = alignDown(first, HOUR_MS);
      const end = Math.min(rawCutoff, start + RETENTION_CHUNK_MS);
      const [summary] = await this.http.query([
        `SELECT min(*), max(*), sum(*), count(*) FROM ${raw} WHERE ${timeRange(start, end)}` +
          ` GROUP BY time(${HOUR_MS}ms), * fill(none)`,
      ]);
      const { lines, points } = rollupLines(summary ?? []);
      // Roll-ups first, then the DELETE: a failure in between leaves raw points that the next
      // pass summarises into the very same roll-up points (see the header).
      await this.sendLines(lines, 'ns', server);
      await this.http.query([`DELETE FROM ${raw} WHERE ${timeRange(start, end)}`]);
      rawDeleted += points;
      chunks++;
      cursor = end;
    }

    const [expired] = await this.http.query([`SELECT count(*) FROM ${rollup} WHERE time < ${timeLiteral(rollupCutoff)}`]);
    for (const s of expired ?? []) {
      s.columns.forEach((c, i) => {
        // count_<metric>_count: one per metric and roll-up point.
        if (c.startsWith('count_') && c.endsWith('_count')) rollupDeleted += num(s.values?.[0]?.[i]) ?? 0;
      });
    }
    if (rollupDeleted > 0) await this.http.query([`DELETE FROM ${rollup} WHERE time < ${timeLiteral(rollupCutoff)}`]);

    this.logger?.info(
      { rawDeleted, rollupDeleted, rawCutoff, rollupCutoff, chunks, ms: Date.now() - started },
      'telemetry retention applied',
    );
    return { rawDeleted, rollupDeleted };
  }

  private async detect(): Promise<InfluxServerInfo> {
    const version = await this.http.ping();
    if (version.major === 1) {
      try {
        // Idempotent on 1.x; needs admin rights, so a refusal is only worth a warning when the
        // database already exists.
        await this.http.query([`CREATE DATABASE ${influxIdent(this.http.database)}`], { withDatabase: false });
      } catch (err) {
        this.logger?.warn({ err, database: this.http.database }, 'could not create the InfluxDB database');
      }
    }
    const writePath: InfluxWritePath =
      this.writeApi === 'auto' ? ((await this.http.hasV2Write()) ? 'v2' : 'v1') : this.writeApi;
    const info: InfluxServerInfo = { ...version, writePath, canDelete: version.major === 1 };
    this.logger?.debug({ version: info.version, writePath }, 'InfluxDB telemetry store connected');
    return info;
  }

  private sendLines(lines: readonly string[], precision: 'ms' | 'ns', server: InfluxServerInfo): Promise<void> {
    const bodies: string[] = [];
    for (let i = 0; i < lines.length; i += LINES_PER_REQUEST) bodies.push(lines.slice(i, i + LINES_PER_REQUEST).join('\n'));
    return this.sendBodies(bodies, precision, server);
  }

  /** Posts the bodies, `WRITE_CONCURRENCY` at a time; settles once none is in flight. */
  private async sendBodies(bodies: ReadonlyArray<string | Buffer>, precision: 'ms' | 'ns', server: InfluxServerInfo): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        await this.http.write(body, server.writePath, precision, server.major);
        // Answered: the request has read all of its body, which the next bodies may reuse.
        if (typeof body !== 'string') this.bodyBuffers.release(body);
      }
    };
    const workers = Math.min(WRITE_CONCURRENCY, bodies.length);
    // allSettled, not all: write() must not resolve or reject while a request of it is still in
    // flight, or a caller's retry could race the old request.
    const results = await Promise.allSettled(Array.from({ length: workers }, worker));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  private deviceTags(deviceId: string): [string, string][] {
    const given = this.tagsFor?.(deviceId);
    if (given === undefined) return [];
    const out: [string, string][] = [];
    for (const key of INFLUX_DEVICE_TAGS) {
      const value = given[key];
      if (value === undefined || value === '') continue;
      if (UNREPRESENTABLE.test(value)) {
        const warnKey = `${deviceId}\u0000${key}`;
        if (!this.warnedTags.has(warnKey)) {
          this.warnedTags.add(warnKey);
          this.logger?.warn({ deviceId, tag: key, value }, 'tag value cannot be stored in line protocol; tag left out');
        }
        continue;
      }
      out.push([key, value]);
    }
    return out;
  }

  private deviceFilter(deviceId: string): string {
    return `"device"::tag = ${influxString(deviceId)}`;
  }

  /** Fields of the raw measurement that hold data for the device. */
  private async rawMetrics(deviceId: string): Promise<string[]> {
    const [raw] = await this.http.query([
      `SELECT last(*) FROM ${influxIdent(INFLUX_MEASUREMENT)} WHERE ${this.deviceFilter(deviceId)}`,
    ]);
    return nonNullColumns(raw, 'last_').sort(compare);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('telemetry store is closed');
  }
}

function timeRange(from: number, to: number): string {
  return `time >= ${timeLiteral(from)} AND time < ${timeLiteral(to)}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface BucketRow extends Bucket {
  ts: number;
  /** The row's series (its non-empty tags), for queries grouped by `*`. */
  series: string;
}

/** A series' identity from its tags as a GROUP BY * answer gives them (absent tags as ''). */
function seriesKey(tags: Readonly<Record<string, string>> | undefined): string {
  return JSON.stringify(
    Object.entries(tags ?? {})
      .filter(([, v]) => v !== '')
      .sort((a, b) => compare(a[0], b[0])),
  );
}

function sameSummary(a: Bucket, b: Bucket): boolean {
  return a.min === b.min && a.max === b.max && a.sum === b.sum && a.count === b.count;
}

/** Rows of a `mn`/`mx`/`s`/`c` query with data (columns by alias, so order does not matter). */
function* bucketRows(series: readonly InfluxSeries[] | undefined): Generator<BucketRow> {
  for (const s of series ?? []) {
    const key = seriesKey(s.tags);
    const at = (name: string): number => s.columns.indexOf(name);
    const [mn, mx, sm, c] = [at('mn'), at('mx'), at('s'), at('c')];
    for (const r of rows(s)) {
      const count = num(r.get(c)) ?? 0;
      const min = num(r.get(mn));
      const max = num(r.get(mx));
      const sum = num(r.get(sm));
      if (count > 0 && min !== undefined && max !== undefined && sum !== undefined) {
        yield { ts: r.time, min, max, sum, count, series: key };
      }
    }
  }
}

/** Names after `prefix` of the columns that hold a value in some row. */
function nonNullColumns(series: readonly InfluxSeries[] | undefined, prefix: string): string[] {
  const out = new Set<string>();
  for (const s of series ?? []) {
    s.columns.forEach((c, i) => {
      if (i === 0 || !c.startsWith(prefix)) return;
      if ((s.values ?? []).some((row) => row[i] !== null && row[i] !== undefined)) out.add(c.slice(prefix.length));
    });
  }
  return [...out];
}

/**
 * Roll-up points from a `min(*), max(*), sum(*), count(*) … GROUP BY time(1h), *` summary: one
 * per series and hour, stamped at a content-derived nanosecond offset into the hour.
 */
function rollupLines(summary: readonly InfluxSeries[]): { lines: string[]; points: number } {
  const lines: string[] = [];
  let points = 0;
  for (const s of summary) {
    // Columns are <function>_<field>; function names have no underscore.
    const columns = s.columns.map((c) => {
      const cut = c.indexOf('_');
      return cut < 0 ? undefined : { fn: c.slice(0, cut), field: c.slice(cut + 1) };
    });
    const tags = Object.entries(s.tags ?? {})
      .filter(([, v]) => v !== '')
      .sort((a, b) => compare(a[0], b[0]));
    for (const r of rows(s)) {
      const byField = new Map<string, Partial<Bucket>>();
      columns.forEach((col, i) => {
        if (col === undefined || i === 0) return;
        const v = num(r.get(i));
        if (v === undefined) return;
        let b = byField.get(col.field);
        if (b === undefined) byField.set(col.field, (b = {}));
        if (col.fn === 'min' || col.fn === 'max' || col.fn === 'sum' || col.fn === 'count') b[col.fn] = v;
      });
      const fields = [...byField.entries()]
        .filter((e): e is [string, Bucket] => {
          const b = e[1];
          return (b.count ?? 0) > 0 && b.min !== undefined && b.max !== undefined && b.sum !== undefined;
        })
        .sort((a, b) => compare(a[0], b[0]));
      if (fields.length === 0) continue;
      const identity = JSON.stringify([tags, r.time, fields.map(([f, b]) => [f, b.min, b.max, b.sum, b.count])]);
      const offset = createHash('sha256').update(identity).digest().readBigUInt64BE(0) % HOUR_NS;
      const point = new Point(INFLUX_ROLLUP_MEASUREMENT).timestamp((BigInt(r.time) * 1_000_000n + offset).toString());
      for (const [k, v] of tags) point.tag(k, v);
      for (const [f, b] of fields) {
        point.floatField(`${f}_min`, b.min).floatField(`${f}_max`, b.max).floatField(`${f}_sum`, b.sum);
        point.floatField(`${f}_count`, b.count);
        points += b.count;
      }
      lines.push(toLine(point));
    }
  }
  return { lines, points };
}
