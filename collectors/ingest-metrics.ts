import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * A counter bumped on every message: a plain number, added to its Prometheus counter when the
 * series is read (a scrape), rather than a label lookup and update per message.
 */
export class HotCounter {
  private pending = 0;

  constructor(private readonly counter: { inc(value: number): void }) {}

  inc(value = 1): void {
    this.pending += value;
  }

  /** Moves the pending count into the Prometheus counter. */
  drain(): void {
    if (this.pending === 0) return;
    this.counter.inc(this.pending);
    this.pending = 0;
  }
}

/** Prometheus series of the ingest path, exported at /metrics. */
export class IngestMetrics {
  readonly messages: Counter<'kind'>;
  readonly telemetryMessages: HotCounter;
  readonly samples: HotCounter;
  readonly points: HotCounter;
  readonly rejected: Counter<'reason' | 'device'>;
  readonly deadLettersDropped: Counter;
  /** Read at scrape time from the batcher (`watchQueue`), not set per message. */
  private queue: { readonly buffered: () => number; readonly spoolBytes: () => number } | undefined;
  readonly writeSeconds: Histogram;
  readonly writeErrors: Counter;
  readonly mqttConnected: Gauge;
  readonly autoRegistered: Counter;
  /** Auto-registrations refused by their bounds: `rate` (autoRegisterPerMinute) or `cap` (autoRegisterMax). */
  readonly autoRegisterRefused: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    // Each hot counter is drained into its series when that series is read.
    const hot: HotCounter[] = [];
    const drainHot = (): void => hot.forEach((h) => h.drain());
    this.messages = new Counter({ name: 'guardian_ingest_messages_total', help: 'MQTT messages received, by topic kind', labelNames: ['kind'], registers, collect: drainHot });
    this.telemetryMessages = new HotCounter(this.messages.labels('telemetry'));
    const samples = new Counter({ name: 'guardian_ingest_samples_total', help: 'Samples (ts + metrics) accepted', registers, collect: drainHot });
    this.samples = new HotCounter(samples);
    const points = new Counter({ name: 'guardian_ingest_points_total', help: 'Metric values accepted', registers, collect: drainHot });
    this.points = new HotCounter(points);
    hot.push(this.telemetryMessages, this.samples, this.points);
    this.rejected = new Counter({
      name: 'guardian_ingest_rejected_total',
      help: 'Rejected messages or parts of messages, by reason and registered device ("" for unregistered devices and bad topics)',
      labelNames: ['reason', 'device'],
      registers,
    });
    this.deadLettersDropped = new Counter({
      name: 'guardian_dead_letters_dropped_total',
      help: 'Dead letters counted but not kept because the dead-letter queue was full',
      registers,
    });
    const buffered = () => this.queue?.buffered() ?? 0;
    const spoolBytes = () => this.queue?.spoolBytes() ?? 0;
    new Gauge({
      name: 'guardian_ingest_queue_samples',
      help: 'Accepted values waiting to be written to the telemetry store',
      registers,
      collect() {
        this.set(buffered());
      },
    });
    new Gauge({
      name: 'guardian_ingest_spool_bytes',
      help: 'Bytes of accepted samples in the on-disk spool, not yet confirmed in the store',
      registers,
      collect() {
        this.set(spoolBytes());
      },
    });
    this.writeSeconds = new Histogram({
      name: 'guardian_store_write_seconds',
      help: 'Duration of one telemetry store batch write',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.writeErrors = new Counter({ name: 'guardian_store_write_errors_total', help: 'Failed telemetry store batch writes (retried)', registers });
    this.mqttConnected = new Gauge({ name: 'guardian_mqtt_connected', help: '1 while the collector is connected to the broker and its subscription is granted', registers });
    this.autoRegistered = new Counter({ name: 'guardian_devices_auto_registered_total', help: 'Devices registered on their first telemetry', registers });
    this.autoRegisterRefused = new Counter({
      name: 'guardian_devices_auto_register_refused_total',
      help: 'Unregistered devices refused auto-registration by its bounds: rate (autoRegisterPerMinute) or cap (autoRegisterMax)',
      labelNames: ['reason'],
      registers,
    });
  }

  /** Where the queue and spool gauges read their values when scraped. */
  watchQueue(queue: { readonly buffered: () => number; readonly spoolBytes: () => number }): void {
    this.queue = queue;
  }
}
