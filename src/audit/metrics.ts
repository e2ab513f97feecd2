import { Gauge, type Registry } from 'prom-client';
import { counterReadAtScrape } from '../kernel/metrics.js';
import type { AuditTrail } from './trail.js';

/** The audit trail's figures in /metrics, read from the trail when scraped. */
export function registerAuditMetrics(registry: Registry, trail: Pick<AuditTrail, 'counters'>): void {
  counterReadAtScrape(registry, 'guardian_audit_recorded_total', 'Requests recorded in the audit trail (changes, and refusals for who asked)', () => trail.counters().recorded);
  counterReadAtScrape(registry, 'guardian_audit_written_total', 'Audit entries stored in the database', () => trail.counters().written);
  counterReadAtScrape(registry, 'guardian_audit_lost_total', 'Audit entries that could not be stored and were dropped (each is logged as "audit entry lost")', () => trail.counters().lost);
  counterReadAtScrape(registry, 'guardian_audit_write_errors_total', 'Failed writes of a batch of audit entries (kept and retried)', () => trail.counters().writeErrors);
  new Gauge({
    name: 'guardian_audit_pending',
    help: 'Audit entries waiting to be written',
    registers: [registry],
    collect() {
      this.set(trail.counters().pending);
    },
  });
}
