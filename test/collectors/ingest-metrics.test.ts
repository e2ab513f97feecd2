import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IngestMetrics } from '../../collectors/ingest-metrics.js';

describe('ingest metrics', () => {
  it('shows per-message counts and the queue depth as of the scrape', async () => {
    const registry = new Registry();
    const metrics = new IngestMetrics(registry);
    let buffered = 120;
    metrics.watchQueue({ buffered: () => buffered, spoolBytes: () => 4096 });
    for (let i = 0; i < 3; i++) {
      metrics.telemetryMessages.inc();
      metrics.points.inc(7);
      metrics.samples.inc();
    }
    const first = await registry.metrics();
    expect(first).toMatch(/^guardian_ingest_messages_total\{kind="telemetry"\} 3$/m);
    expect(first).toMatch(/^guardian_ingest_points_total 21$/m);
    expect(first).toMatch(/^guardian_ingest_samples_total 3$/m);
    expect(first).toMatch(/^guardian_ingest_queue_samples 120$/m);
    expect(first).toMatch(/^guardian_ingest_spool_bytes 4096$/m);

    metrics.points.inc(7);
    buffered = 0;
    const second = await registry.metrics();
    expect(second).toMatch(/^guardian_ingest_points_total 28$/m);
    expect(second).toMatch(/^guardian_ingest_queue_samples 0$/m);
  });
});
