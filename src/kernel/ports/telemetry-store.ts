/**
 * Telemetry store port. Collectors write samples through it, the API and (later) the rule engine
 * read through it. Adapters: SQLite (default, ./sqlite-telemetry-store.ts) and InfluxDB.
 * Every adapter must pass test/contract/telemetry-store.contract.ts.
 */

/** One measured value: a device's metric at an instant (epoch milliseconds, UTC). */
export interface Sample {
  readonly deviceId: string;
  readonly metric: string;
  readonly ts: number;
  readonly value: number;
}

/** One aggregation bucket of a range query; `ts` is the bucket start. */
export interface AggregatePoint {
  readonly ts: number;
  readonly min: number;
  readonly mean: number;
  readonly max: number;
  readonly count: number;
}

export interface RangeQuery {
  readonly deviceId: string;
  readonly metric: string;
  /** Inclusive start, epoch ms. */
  readonly from: number;
  /** Exclusive end, epoch ms. */
  readonly to: number;
  /**
   * Bucket width in ms; buckets are aligned to multiples of `step` since the epoch, shifted by
   * `offset`.
   */
  readonly step: number;
  /**
   * Bucket alignment offset in ms (an integer): buckets start at multiples of `step` shifted by
   * `offset`, i.e. the bucket of `ts` starts at `ts - mod(ts - offset, step)` with `mod` the
   * non-negative remainder. E.g. −8 h with a step of 1 d gives daily buckets starting at
   * Asia/Shanghai midnight (16:00 UTC). Only `offset` modulo `step` matters. Default 0.
   *
   * Data already rolled up to hours (past raw retention) is only known per whole hour: such an
   * hour falls, as a whole, into the bucket containing the hour's start. With an offset that is
   * not a whole number of hours the rolled-up part of a bucket therefore starts at the first
   * whole hour at or after the bucket start (the hour containing the bucket start goes to the
   * previous bucket). With `step` below an hour, rolled-up hours come back as one-hour buckets
   * at the start of the hour, whatever the offset. Whole-hour offsets with steps that are whole
   * hours give the same answer before and after retention.
   */
  readonly offset?: number;
}

export interface RawQuery {
  readonly deviceId: string;
  readonly metric: string;
  readonly from: number;
  readonly to: number;
  /** At most this many points, oldest first. */
  readonly limit?: number;
}

export interface LatestValue {
  readonly metric: string;
  readonly ts: number;
  readonly value: number;
}

export interface RetentionPolicy {
  /** Raw samples older than this (ms before `now`) are removed once rolled up. */
  readonly rawMs: number;
  /** Hourly roll-ups older than this are removed. */
  readonly rollupMs: number;
}

export interface RetentionResult {
  readonly rawDeleted: number;
  readonly rollupDeleted: number;
}

export interface TelemetryStore {
  /**
   * Durably stores the samples. Rewriting the same (deviceId, metric, ts) replaces the value; within
   * one batch the later sample wins. A batch holding an invalid sample (empty deviceId or metric,
   * non-integer ts, non-finite value) is rejected with a RangeError and nothing of it is stored.
   */
  write(samples: readonly Sample[]): Promise<void>;
  /** Raw samples in [from, to), oldest first. */
  raw(query: RawQuery): Promise<Sample[]>;
  /**
   * min/mean/max/count per `step` bucket in [from, to), oldest first, empty buckets omitted.
   * Where raw samples are gone (past retention) the hourly roll-ups answer, so a step of an hour
   * or more spans the whole retained history.
   */
  aggregate(query: RangeQuery): Promise<AggregatePoint[]>;
  /**
   * Latest value of each metric of a device, ordered by metric name. "Latest" is by `ts`, not by
   * arrival: an older sample written afterwards does not replace it.
   */
  latest(deviceId: string): Promise<LatestValue[]>;
  /** Names of the metrics stored for a device, sorted. */
  metrics(deviceId: string): Promise<string[]>;
  /**
   * Rolls up and removes data past the policy; idempotent. Raw samples go by whole hours, so those
   * of the hour straddling `now - rawMs` may stay until that hour is complete.
   */
  applyRetention(policy: RetentionPolicy, now: number): Promise<RetentionResult>;
  /** Checks the store answers (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
