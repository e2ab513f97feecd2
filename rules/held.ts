/**
 * The reorder buffer of one device: samples held for the reorder tolerance, in timestamp order
 * (arrival order among equal times), kept as columns — times, values, metric names — rather
 * than the sample objects. At ingest rates a device holds a couple of seconds of samples; held
 * as objects they would all outlive the young generation and become old-generation garbage.
 */
export class HeldSamples {
  private ts = new Float64Array(64);
  private values = new Float64Array(64);
  private metrics: string[] = [];
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** Inserts after any held sample with the same or an earlier time — usually at the end. */
  add(metric: string, ts: number, value: number): void {
    if (this.count === this.ts.length) this.grow();
    let at = this.count;
    while (at > 0 && this.ts[at - 1]! > ts) at--;
    if (at < this.count) {
      this.ts.copyWithin(at + 1, at, this.count);
      this.values.copyWithin(at + 1, at, this.count);
      this.metrics.splice(at, 0, metric);
    } else {
      this.metrics.push(metric);
    }
    this.ts[at] = ts;
    this.values[at] = value;
    this.count += 1;
  }

  /** How many held samples are due at `upTo` (a prefix, as they are sorted). */
  dueCount(upTo: number): number {
    let cut = 0;
    while (cut < this.count && this.ts[cut]! <= upTo) cut++;
    return cut;
  }

  tsAt(i: number): number {
    return this.ts[i]!;
  }

  valueAt(i: number): number {
    return this.values[i]!;
  }

  metricAt(i: number): string {
    return this.metrics[i]!;
  }

  /** Drops the first `n` (the released ones). */
  drop(n: number): void {
    if (n <= 0) return;
    if (n >= this.count) {
      this.clear();
      return;
    }
    this.ts.copyWithin(0, n, this.count);
    this.values.copyWithin(0, n, this.count);
    this.metrics.splice(0, n);
    this.count -= n;
  }

  clear(): void {
    this.count = 0;
    this.metrics = [];
  }

  private grow(): void {
    const ts = new Float64Array(this.ts.length * 2);
    ts.set(this.ts);
    this.ts = ts;
    const values = new Float64Array(this.values.length * 2);
    values.set(this.values);
    this.values = values;
  }
}
