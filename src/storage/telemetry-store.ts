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
  /** Bucket width in ms; buckets are aligned to multiples of `step` since the epoch. */
  readonly step: number;
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
