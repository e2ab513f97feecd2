import { Counter, type Registry } from 'prom-client';

/**
 * A Prometheus counter whose value is read from its owner when /metrics is scraped: the hot paths
 * keep plain numbers and pay nothing per event.
 */
export function counterReadAtScrape(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
