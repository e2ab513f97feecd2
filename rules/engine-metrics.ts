import { Gauge, type Registry } from 'prom-client';
import { counterReadAtScrape } from '../src/kernel/metrics.js';
import type { RuleEngine } from './engine.js';

/** The rule engine's figures in /metrics, read from the engine when scraped. */
export function registerEngineMetrics(registry: Registry, engine: RuleEngine): void {
  const counter = (name: string, help: string, read: () => number) => counterReadAtScrape(registry, name, help, read);
  counter('guardian_rule_evaluations_total', 'Rule evaluations (one rule on one sample, event or tick)', () => engine.stats().evaluations);
  counter(
    'guardian_rule_late_samples_total',
    'Samples evaluated after newer ones of their device: older than the reorder tolerance, or the one out-of-order sample that set a device holding',
    () => engine.stats().lateSamples,
  );
  counter(
    'guardian_rule_reorder_holds_total',
    'Times a device sent a sample out of order within the reorder tolerance and its samples began to be held for it',
    () => engine.stats().reorderHolds,
  );
  counter('guardian_rule_engine_busy_seconds_total', 'Time spent evaluating rules (samples, events, clock) on the event loop', () => engine.stats().busyMs / 1000);
  counter('guardian_anomaly_spikes_total', 'Anomaly deviations recorded that did not persist long enough to alert', () => engine.stats().spikes);
  new Gauge({
    name: 'guardian_rule_reorder_holding_devices',
    help: 'Devices whose samples are held for the reorder tolerance (out of order within the last 10 minutes of their event time); the others are evaluated at once',
    registers: [registry],
    collect() {
      this.set(engine.stats().holdingDevices);
    },
  });
  new Gauge({
    name: 'guardian_alerts',
    help: 'Alerts by state and grade',
    labelNames: ['state', 'grade'],
    registers: [registry],
    collect() {
      this.reset();
      for (const alert of engine.states()) this.inc({ state: alert.record.state, grade: alert.record.grade ?? '' });
    },
  });
}
