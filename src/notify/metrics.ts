import { Gauge, Histogram, type Registry } from 'prom-client';
import { counterReadAtScrape } from '../kernel/metrics.js';
import type { Notifier } from './notifier.js';
import type { NotificationStore, NotifyDepth } from './store.js';

/** Pushes in /metrics: counts from this engine's notifier, depth read from the database when scraped. */
export function registerNotifyMetrics(registry: Registry, notifier: Notifier, store: Pick<NotificationStore, 'depth'>, now: () => number): void {
  const counter = (name: string, help: string, read: () => number) => counterReadAtScrape(registry, name, help, read);
  counter('guardian_notify_planned_total', 'Notices (work order opened, escalated, reopened, recovered, resolved) planned into deliveries', () => notifier.counters().planned);
  counter('guardian_notify_escalations_total', 'Escalation steps that called the next level (nobody had acknowledged)', () => notifier.counters().escalated);
  counter('guardian_notify_cancelled_total', 'Escalation steps and calls dropped because the work order was acknowledged first', () => notifier.counters().cancelled);
  counter('guardian_notify_sent_total', 'Messages delivered (a digest counts once)', () => notifier.counters().sent);
  counter('guardian_notify_folded_total', 'Deliveries sent inside a digest (the morning digest, or a rate limit)', () => notifier.counters().folded);
  counter('guardian_notify_retries_total', 'Attempts that failed and are retried with back-off', () => notifier.counters().retried);
  counter('guardian_notify_failed_total', 'Deliveries given up on a channel (permanent error or attempts exhausted); the person’s next channel is tried', () => notifier.counters().failed);
  counter('guardian_notify_held_total', 'Deliveries and steps held back by a silence or a channel’s rate limit', () => notifier.counters().held);
  counter('guardian_notify_errors_total', 'Notifier rounds or notices that failed (retried)', () => notifier.counters().errors);
  const latency = new Histogram({
    name: 'guardian_notify_delivery_seconds',
    help: 'From a delivery being planned (the notice, or its escalation step) to the receiver accepting it',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  notifier.onDelivered((ms) => latency.observe(ms / 1_000));
  let reading: Promise<NotifyDepth | undefined> | undefined;
  const read = () =>
    (reading ??= store
      .depth(now())
      .catch(() => undefined)
      .finally(() => {
        reading = undefined;
      }));
  new Gauge({
    name: 'guardian_notify_pending',
    help: 'Waiting in the database: notices not planned, deliveries not sent (retrying ones among them), escalation steps not due or not taken',
    labelNames: ['what'],
    registers: [registry],
    async collect() {
      const depth = await read();
      if (!depth) return;
      this.set({ what: 'notices' }, depth.notices);
      this.set({ what: 'deliveries' }, depth.pending);
      this.set({ what: 'retrying' }, depth.retrying);
      this.set({ what: 'steps' }, depth.steps);
    },
  });
  new Gauge({
    name: 'guardian_notify_oldest_due_seconds',
    help: 'Age of the oldest delivery that is due and not sent (0 when none)',
    registers: [registry],
    async collect() {
      const depth = await read();
      if (!depth) return;
      this.set(depth.oldestDueAt === undefined ? 0 : Math.max(0, (now() - depth.oldestDueAt) / 1_000));
    },
  });
}
