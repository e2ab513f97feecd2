/**
 * The reorder buffer of one device: its samples waiting to be evaluated, in timestamp order
 * (arrival order among equal times) — those of the batch being taken in, which are evaluated in
 * that order, and, while the device reorders, those held for the reorder tolerance. Kept as
 * columns — times, values, metric names — rather than the sample objects: at ingest rates a
 * holding device keeps a couple of seconds of samples; held as objects they would all outlive the
 * young generation and become old-generation garbage.
 *
 * Released samples leave from the front by moving `start`; the columns are compacted only when
 * the end reaches their capacity, so a release does not shift what stays.
 */
export class HeldSamples {
  private ts = new Float64Array(64);
  private values = new Float64Array(64);
  private metrics: (string | undefined)[] = new Array<string | undefined>(64);
  /** The held samples are [start, end) of the columns. */
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  /** Inserts after any held sample with the same or an earlier time — usually at the end. */
  add(metric: string, ts: number, value: number): void {
    if (this.end === this.ts.length) this.makeRoom();
    let at = this.end;
    while (at > this.start && this.ts[at - 1]! > ts) at--;
    if (at < this.end) {
      this.ts.copyWithin(at + 1, at, this.end);
      this.values.copyWithin(at + 1, at, this.end);
      const metrics = this.metrics;
      for (let i = this.end; i > at; i--) metrics[i] = metrics[i - 1];
    }
    this.ts[at] = ts;
    this.values[at] = value;
    this.metrics[at] = metric;
    this.end += 1;
  }

  /** How many held samples are due at `upTo` (a prefix, as they are sorted). */
  dueCount(upTo: number): number {
    let cut = this.start;
    while (cut < this.end && this.ts[cut]! <= upTo) cut++;
    return cut - this.start;
  }

  tsAt(i: number): number {
    return this.ts[this.start + i]!;
  }

  valueAt(i: number): number {
    return this.values[this.start + i]!;
  }

  metricAt(i: number): string {
    return this.metrics[this.start + i]!;
  }

  /** Drops the first `n` (the released ones). */
  drop(n: number): void {
    if (n <= 0) return;
    if (n >= this.length) {
      this.clear();
      return;
    }
    this.start += n;
  }

  clear(): void {
    this.metrics.fill(undefined, this.start, this.end);
    this.start = 0;
    this.end = 0;
  }

  /** At the end of the columns: moves the held samples to the front, and doubles the columns if that is not room enough. */
  private makeRoom(): void {
    const length = this.length;
    if (this.start > 0) {
      this.ts.copyWithin(0, this.start, this.end);
      this.values.copyWithin(0, this.start, this.end);
      // A loop: Array.prototype.copyWithin is generic and slow on a plain array.
      const metrics = this.metrics;
      for (let i = 0; i < length; i++) metrics[i] = metrics[this.start + i];
      metrics.fill(undefined, length, this.end);
      this.start = 0;
      this.end = length;
    }
    // Less than a quarter free after compaction: grow, so that compaction stays rare.
    if (this.end * 4 < this.ts.length * 3) return;
    const capacity = this.ts.length * 2;
    const ts = new Float64Array(capacity);
    ts.set(this.ts.subarray(0, this.end));
    this.ts = ts;
    const values = new Float64Array(capacity);
    values.set(this.values.subarray(0, this.end));
    this.values = values;
    this.metrics.length = capacity;
  }
}
