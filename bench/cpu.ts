/**
 * Where a benchmark run's CPU went, process by process. Every contender shares the machine's
 * cores with the publisher, the broker and InfluxDB, so a consumer's rate depends on what all of
 * them spend per message; this splits it. Other processes are read from `/proc` (Linux); where
 * there is none their share is left out.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** CPU per message, µs, by process; undefined where it could not be read. */
export interface CpuSplit {
  readonly publisher?: number;
  readonly broker?: number;
  readonly influx?: number;
  readonly consumer?: number;
}

const TICKS_PER_SECOND = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** User + system CPU seconds of a process so far (its threads included), from /proc/PID/stat. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

const ownCpuSeconds = (): number => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
};

/**
 * Opens a window on the CPU of the broker and InfluxDB processes and of the consumer (another
 * process by pid, or this one); `end` gives each one's CPU per message over the window, with the
 * publisher's own figure (it reports its CPU when it exits).
 */
export function cpuWindow(servers: { readonly broker?: number; readonly influx?: number }, consumerPid?: number) {
  const consumer = () => (consumerPid === undefined ? ownCpuSeconds() : processCpuSeconds(consumerPid));
  const start = { broker: processCpuSeconds(servers.broker), influx: processCpuSeconds(servers.influx), consumer: consumer() };
  return {
    end(messages: number, publisherCpuSeconds: number | undefined): CpuSplit {
      const perMessage = (before: number | undefined, after: number | undefined) =>
        before === undefined || after === undefined ? undefined : (1e6 * (after - before)) / messages;
      return {
        ...(publisherCpuSeconds !== undefined && { publisher: (1e6 * publisherCpuSeconds) / messages }),
        ...optional('broker', perMessage(start.broker, processCpuSeconds(servers.broker))),
        ...optional('influx', perMessage(start.influx, processCpuSeconds(servers.influx))),
        ...optional('consumer', perMessage(start.consumer, consumer())),
      };
    },
  };
}

const optional = <K extends string>(key: K, value: number | undefined): { [P in K]?: number } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };

/** The median of each process's share over several runs. */
export function medianSplit(splits: readonly CpuSplit[], median: (xs: number[]) => number): CpuSplit {
  const of = (key: keyof CpuSplit) => {
    const xs = splits.map((s) => s[key]).filter((x): x is number => x !== undefined);
    return xs.length === 0 ? undefined : median(xs);
  };
  return { ...optional('publisher', of('publisher')), ...optional('broker', of('broker')), ...optional('influx', of('influx')), ...optional('consumer', of('consumer')) };
}

/** One line of the CPU table: µs per message by process, their sum, and what two… N cores allow at that cost. */
export function formatSplit(title: string, split: CpuSplit, cores: number): string {
  const cell = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(1)).padStart(10);
  const parts = [split.publisher, split.broker, split.influx, split.consumer];
  const known = parts.every((x) => x !== undefined);
  const total = parts.reduce<number>((sum, x) => sum + (x ?? 0), 0);
  const ceiling = known && total > 0 ? `${String(Math.round((cores * 1e6) / total)).padStart(8)} msg/s` : '';
  return `  ${title.padEnd(40)}${parts.map(cell).join('')}${cell(known ? total : undefined)}${ceiling}`;
}
