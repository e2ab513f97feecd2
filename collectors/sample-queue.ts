import type { Sample } from '../src/kernel/ports/telemetry-store.js';

/**
 * Samples taken from the queue for one store write, as columns. `toSamples()` makes the sample
 * objects the store port takes, for as long as a write or a listener needs them.
 */
export class SampleColumns {
  constructor(
    private readonly devices: readonly string[],
    private readonly metrics: readonly string[],
    private readonly ts: Float64Array,
    private readonly values: Float64Array,
  ) {}

  get length(): number {
    return this.ts.length;
  }

  toSamples(): Sample[] {
    const out: Sample[] = new Array<Sample>(this.ts.length);
    for (let i = 0; i < out.length; i++) out[i] = { deviceId: this.devices[i]!, metric: this.metrics[i]!, ts: this.ts[i]!, value: this.values[i]! };
    return out;
  }
}

/**
 * Accepted samples waiting for the telemetry store, first in first out, kept as columns — device,
 * metric, time, value — rather than as the sample objects. Samples wait here for a batch to fill
 * and for the writes before them; held as objects for that long they would outlive the young
 * generation and pile up as old-generation garbage, which is most of a busy collector's memory.
 */
export class SampleQueue {
  private devices: (string | undefined)[] = new Array<string | undefined>(1024);
  private metrics: (string | undefined)[] = new Array<string | undefined>(1024);
  private ts = new Float64Array(1024);
  private values = new Float64Array(1024);
  /** Queued samples are [head, tail) of the columns. */
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  push(samples: readonly Sample[]): void {
    if (this.tail + samples.length > this.ts.length) this.makeRoom(samples.length);
    let at = this.tail;
    for (const s of samples) {
      this.devices[at] = s.deviceId;
      this.metrics[at] = s.metric;
      this.ts[at] = s.ts;
      this.values[at] = s.value;
      at++;
    }
    this.tail = at;
  }

  /** Takes up to `count` samples from the front. */
  take(count: number): SampleColumns {
    const n = Math.min(count, this.length);
    const from = this.head;
    const to = from + n;
    const columns = new SampleColumns(this.devices.slice(from, to) as string[], this.metrics.slice(from, to) as string[], this.ts.slice(from, to), this.values.slice(from, to));
    // Let go of the strings taken (a device removed from the fleet should not stay referenced here).
    this.devices.fill(undefined, from, to);
    this.metrics.fill(undefined, from, to);
    this.head = to;
    if (this.head === this.tail) this.head = this.tail = 0;
    return columns;
  }

  /** Moves what is queued to the front, and grows the columns if that is not room for `incoming` more. */
  private makeRoom(incoming: number): void {
    const length = this.length;
    if (this.head > 0) {
      this.ts.copyWithin(0, this.head, this.tail);
      this.values.copyWithin(0, this.head, this.tail);
      // Loops: Array.prototype.copyWithin is generic and slow on plain arrays.
      for (let i = 0; i < length; i++) {
        this.devices[i] = this.devices[this.head + i];
        this.metrics[i] = this.metrics[this.head + i];
      }
      this.devices.fill(undefined, length, this.tail);
      this.metrics.fill(undefined, length, this.tail);
      this.head = 0;
      this.tail = length;
    }
    if (length + incoming <= this.ts.length) return;
    let capacity = this.ts.length * 2;
    while (capacity < length + incoming) capacity *= 2;
    const ts = new Float64Array(capacity);
    ts.set(this.ts.subarray(0, length));
    this.ts = ts;
    const values = new Float64Array(capacity);
    values.set(this.values.subarray(0, length));
    this.values = values;
    this.devices.length = capacity;
    this.metrics.length = capacity;
  }
}
