import { Gauge, type Registry } from 'prom-client';
import { counterReadAtScrape } from '../kernel/metrics.js';
import type { AlertOutboxConsumer } from './alert-outbox-consumer.js';
import type { OutboxDepth } from './alert-outbox.js';

/** The alert outbox's figures in /metrics: depth read from the database when scraped, counts from the consumer. */
export function registerOutboxMetrics(registry: Registry, consumer: AlertOutboxConsumer): void {
  const counter = (name: string, help: string, read: () => number) => counterReadAtScrape(registry, name, help, read);
  counter('guardian_alert_outbox_consumed_total', 'Alert changes applied to work orders and marked consumed', () => consumer.counters().consumed);
  counter('guardian_alert_outbox_failed_total', 'Attempts to apply an alert change that failed (each is retried with back-off)', () => consumer.counters().failed);
  counter('guardian_alert_outbox_reconciled_total', 'Firing alerts found without a work order and without a waiting change, given a synthetic change', () => consumer.counters().reconciled);
  counter('guardian_alert_outbox_errors_total', 'Drains of the alert outbox cut short because it could not be read or written (retried)', () => consumer.counters().outboxErrors);
  counter('guardian_alert_outbox_unreadable_total', 'Stored alert changes that could not be read and were skipped', () => consumer.counters().unreadable);
  counter('guardian_alert_outbox_claims_expired_total', 'Claimed alert changes whose claim ran out before they were handled or marked consumed (claimed again later)', () => consumer.counters().expired);
  // Read once per scrape: the registry collects the gauges together, and both wait for the same query.
  let reading: Promise<OutboxDepth | undefined> | undefined;
  const read = () =>
    (reading ??= consumer
      .depth()
      // The database is unreachable: the figures keep their last values; /readyz says why.
      .catch(() => undefined)
      .finally(() => {
        reading = undefined;
      }));
  new Gauge({
    name: 'guardian_alert_outbox_depth',
    help: 'Alert changes not yet consumed, by whether they have failed before (waiting for a retry)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const d = await read();
      if (!d) return;
      this.set({ state: 'pending' }, d.pending - d.failing);
      this.set({ state: 'failing' }, d.failing);
    },
  });
  new Gauge({
    name: 'guardian_alert_outbox_oldest_seconds',
    help: 'Age of the oldest alert change not yet consumed (0 when none waits)',
    registers: [registry],
    async collect() {
      const d = await read();
      if (d) this.set(d.oldestAt === undefined ? 0 : Math.max(0, (Date.now() - d.oldestAt) / 1000));
    },
  });
}
