/**
 * Sliding windows of a metric kept as fixed-width buckets (count, sum, min, max), so a 30-day
 * window costs a few hundred numbers however often the device reports. The same shape comes back
 * from the telemetry store's aggregate queries, which is how windows are warmed after a restart.
 */
import { median as ssMedian } from 'simple-statistics';

export interface Bucket {
  count: number;
  sum: number;
  min: number;
  max: number;
}

export interface BucketPoint extends Readonly<Bucket> {
  /** Bucket start, epoch ms. */
  readonly ts: number;
}

export class BucketSeries {
  private readonly buckets = new Map<number, Bucket>();
  /** Start of the newest bucket seen. */
  private newestStart = Number.NEGATIVE_INFINITY;
  /** Whether the map's insertion order is chronological (it is unless a bucket arrived late). */
  private ordered = true;
  private meanTs = new Float64Array(0);
  private meanValues = new Float64Array(0);

  constructor(
    /** Bucket width, ms. */
    readonly bucketMs: number,
    /** History kept, ms; older buckets are dropped as newer ones start. */
    readonly windowMs: number,
  ) {
    if (!(bucketMs > 0) || !(windowMs >= bucketMs)) throw new RangeError(`bad window: bucket ${bucketMs} ms, window ${windowMs} ms`);
  }

  /** A series with about `buckets` buckets over `windowMs`, none narrower than `minBucketMs`. */
  static spanning(windowMs: number, buckets: number, minBucketMs = 60_000): BucketSeries {
    const bucketMs = Math.max(minBucketMs, Math.floor(windowMs / buckets));
    return new BucketSeries(bucketMs, Math.max(windowMs, bucketMs));
  }

  startOf(ts: number): number {
    return ts - (((ts % this.bucketMs) + this.bucketMs) % this.bucketMs);
  }

  /**
   * Adds a value; returns true when it opened a bucket newer than any before (the moment windowed
   * rules re-evaluate). A value older than the window is dropped and returns false.
   */
  add(ts: number, value: number): boolean {
    return this.merge(this.startOf(ts), { count: 1, sum: value, min: value, max: value });
  }

  /** Adds an aggregate (from the store) for the bucket starting at `start`. */
  merge(start: number, part: Bucket): boolean {
    if (start <= this.newestStart - this.windowMs) return false;
    const bucket = this.buckets.get(start);
    if (bucket) {
      bucket.count += part.count;
      bucket.sum += part.sum;
      if (part.min < bucket.min) bucket.min = part.min;
      if (part.max > bucket.max) bucket.max = part.max;
    } else {
      if (start < this.newestStart) this.ordered = false;
      this.buckets.set(start, { ...part });
    }
    if (start <= this.newestStart) return false;
    this.newestStart = start;
    for (const b of this.buckets.keys()) if (b <= start - this.windowMs) this.buckets.delete(b);
    return true;
  }

  get newest(): number {
    return this.newestStart;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Buckets oldest first, optionally only those starting before `before`. */
  points(before = Number.POSITIVE_INFINITY): BucketPoint[] {
    const out: BucketPoint[] = [];
    for (const [ts, b] of this.buckets) if (ts < before) out.push({ ts, count: b.count, sum: b.sum, min: b.min, max: b.max });
    return this.ordered ? out : out.sort((a, b) => a.ts - b.ts);
  }

  /**
   * The buckets starting before `before`, oldest first, as the series holds them (not copies: do
   * not change them), with the start of the oldest and newest — what anomaly baselines read.
   */
  bucketsBefore(before: number): { readonly buckets: readonly Readonly<Bucket>[]; readonly first: number; readonly last: number } {
    if (!this.ordered) {
      const points = this.points(before);
      return { buckets: points, first: points[0]?.ts ?? NaN, last: points[points.length - 1]?.ts ?? NaN };
    }
    const buckets: Bucket[] = [];
    let first = NaN;
    let last = NaN;
    for (const [ts, b] of this.buckets) {
      if (ts >= before) continue;
      if (buckets.length === 0) first = ts;
      last = ts;
      buckets.push(b);
    }
    return { buckets, first, last };
  }

  /**
   * The means of the filled buckets starting before `before`, oldest first, each at its bucket's
   * middle — what trend and rate fits read. The arrays belong to the series and are overwritten by
   * the next call: read them at once. Allocation-free, unlike `points`, because fits run often.
   */
  means(before = Number.POSITIVE_INFINITY): { readonly ts: Float64Array; readonly values: Float64Array; readonly n: number } {
    if (!this.ordered) {
      const points = this.points(before).filter((p) => p.count > 0);
      return { ts: Float64Array.from(points, (p) => p.ts + this.bucketMs / 2), values: Float64Array.from(points, (p) => p.sum / p.count), n: points.length };
    }
    if (this.meanTs.length < this.buckets.size) {
      this.meanTs = new Float64Array(this.buckets.size * 2);
      this.meanValues = new Float64Array(this.buckets.size * 2);
    }
    const half = this.bucketMs / 2;
    let n = 0;
    for (const [ts, b] of this.buckets) {
      if (ts >= before || b.count === 0) continue;
      this.meanTs[n] = ts + half;
      this.meanValues[n++] = b.sum / b.count;
    }
    return { ts: this.meanTs, values: this.meanValues, n };
  }

  /**
   * Sum of the values in buckets that end after `from` (for counters: events in the window). The
   * bucket straddling `from` counts whole, so the window is exact to one bucket width.
   */
  sumSince(from: number): number {
    let total = 0;
    for (const [ts, b] of this.buckets) if (ts + this.bucketMs > from) total += b.sum;
    return total;
  }

  /** Time covered from the oldest bucket's start to the newest bucket's end. */
  span(): number {
    if (this.buckets.size === 0) return 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const ts of this.buckets.keys()) if (ts < oldest) oldest = ts;
    return this.newestStart + this.bucketMs - oldest;
  }
}

/** The median (simple-statistics' `median`), NaN for no values rather than a throw. */
export function median(values: readonly number[]): number {
  return values.length === 0 ? NaN : ssMedian(values);
}
