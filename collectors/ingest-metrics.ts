import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Prometheus series of the ingest path, exported at /metrics. */
export class IngestMetrics {
  readonly messages: Counter<'kind'>;
  /** Pre-bound series for the hot path (no label lookup per message). */
  readonly telemetryMessages: { inc(value?: number): void };
  readonly samples: Counter;
  readonly points: Counter;
  readonly rejected: Counter<'reason' | 'device'>;
  readonly deadLettersDropped: Counter;
  readonly buffered: Gauge;
  readonly spoolBytes: Gauge;
  readonly writeSeconds: Histogram;
  readonly writeErrors: Counter;
  readonly mqttConnected: Gauge;
  readonly autoRegistered: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.messages = new Counter({ name: 'guardian_ingest_messages_total', help: 'MQTT messages received, by topic kind', labelNames: ['kind'], registers });
    this.telemetryMessages = this.messages.labels('telemetry');
    this.samples = new Counter({ name: 'guardian_ingest_samples_total', help: 'Samples (ts + metrics) accepted', registers });
    this.points = new Counter({ name: 'guardian_ingest_points_total', help: 'Metric values accepted', registers });
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
    this.buffered = new Gauge({ name: 'guardian_ingest_queue_samples', help: 'Accepted values waiting to be written to the telemetry store', registers });
    this.spoolBytes = new Gauge({ name: 'guardian_ingest_spool_bytes', help: 'Bytes of accepted samples in the on-disk spool, not yet confirmed in the store', registers });
    this.writeSeconds = new Histogram({
      name: 'guardian_store_write_seconds',
      help: 'Duration of one telemetry store batch write',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.writeErrors = new Counter({ name: 'guardian_store_write_errors_total', help: 'Failed telemetry store batch writes (retried)', registers });
    this.mqttConnected = new Gauge({ name: 'guardian_mqtt_connected', help: '1 while the collector is connected to the broker', registers });
    this.autoRegistered = new Counter({ name: 'guardian_devices_auto_registered_total', help: 'Devices registered on their first telemetry', registers });
  }
}
