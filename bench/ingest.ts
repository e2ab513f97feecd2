/**
 * Ingest benchmark (`npm run bench:ingest`): simulated devices → MQTT (embedded broker) →
 * collector (validation, batching) → SQLite telemetry store, all on this machine. Prints
 * sustained messages/s and points/s, publish-to-stored latency percentiles, peak RSS of the
 * engine process and how many values were lost. A benchmark, not a test: it asserts nothing.
 *
 * Options: --devices 200 --messages 200000 --connections 10 --inflight 200
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigSchema } from '../src/config/schema.js';
import { startGuardian } from '../src/engine/guardian.js';
import { silentLogger } from '../src/log.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '200' },
    messages: { type: 'string', default: '200000' },
    connections: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '200' },
  },
});
const DEVICES = Number(values.devices);
const MESSAGES = Number(values.messages);
const METRICS_PER_MESSAGE = 7;
const SITE = 'bench-hospital';

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'guardian-bench-'));
  const fleet = {
    sites: [{ id: SITE, name: '基准测试医院' }],
    devices: Array.from({ length: DEVICES }, (_, i) => ({ id: `BENCH-CT-${i}`, site: SITE, modality: 'CT', vendor: 'Bench', model: 'B1' })),
  };
  writeFileSync(join(dataDir, 'fleet.json'), JSON.stringify(fleet));
  const config = ConfigSchema.parse({
    dataDir,
    fleetFile: join(dataDir, 'fleet.json'),
    log: { level: 'silent' },
    mqtt: { port: 0 },
    simulate: { enabled: false },
    autoRegister: false,
  });
  const guardian = await startGuardian({ config, explicit: new Set(['mqtt.port']), logger: silentLogger(), http: false });

  // Latency of each message: from its publish timestamp to the write that made it durable.
  const latencies = new Float64Array(MESSAGES);
  let stored = 0;
  let storedMessages = 0;
  let firstStoredAt = 0;
  let lastStoredAt = 0;
  guardian.pipeline.batcher.onStored((samples, storedAt) => {
    if (firstStoredAt === 0) firstStoredAt = storedAt;
    lastStoredAt = storedAt;
    stored += samples.length;
    for (const s of samples) {
      if (s.metric === 'gantry_temp_c' && storedMessages < latencies.length) latencies[storedMessages++] = storedAt - s.ts;
    }
  });
  let peakRss = 0;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  const cpuStart = process.cpuUsage();
  const wallStart = Date.now();

  const publisherPath = join(fileURLToPath(new URL('.', import.meta.url)), 'publisher.js');
  const publisher = spawn(process.execPath, [publisherPath, guardian.mqttUrl, SITE, String(DEVICES), String(MESSAGES), values.connections!, values.inflight!], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let publisherOut = '';
  publisher.stdout.on('data', (chunk: Buffer) => (publisherOut += chunk.toString()));
  const exitCode = await new Promise<number>((resolve) => publisher.on('exit', (code) => resolve(code ?? 1)));
  if (exitCode !== 0) throw new Error('publisher failed');
  const { sent, elapsedSeconds } = JSON.parse(publisherOut) as { sent: number; elapsedSeconds: number };

  // Wait for the pipeline to drain (no progress for 2 s means done).
  let lastStored = -1;
  while (stored !== lastStored || guardian.pipeline.batcher.buffered > 0) {
    lastStored = stored;
    await new Promise((r) => setTimeout(r, 2_000));
  }
  clearInterval(rssTimer);
  const cpu = process.cpuUsage(cpuStart);
  const wall = (Date.now() - wallStart) / 1000;

  // Count what the store holds, independently of the listener.
  let inStore = 0;
  for (const d of fleet.devices) {
    const points = await guardian.telemetry.aggregate({ deviceId: d.id, metric: 'gantry_temp_c', from: 0, to: Date.now() + 60_000, step: 86_400_000 * 365 });
    inStore += points.reduce((n, p) => n + p.count, 0);
  }
  await guardian.stop();
  rmSync(dataDir, { recursive: true, force: true });

  const seconds = (lastStoredAt - firstStoredAt) / 1000 || elapsedSeconds;
  const sorted = latencies.slice(0, storedMessages).sort();
  const report = {
    target: 'embedded broker → collector → SQLite',
    devices: DEVICES,
    published: sent,
    publisherSeconds: +elapsedSeconds.toFixed(2),
    messagesPerSecond: Math.round(storedMessages / seconds),
    pointsPerSecond: Math.round(stored / seconds),
    latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: percentile(sorted, 100) },
    engineCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 100),
    peakRssMB: Math.round(peakRss / 1024 / 1024),
    storedMessages: inStore,
    lostMessages: sent - inStore,
    lostPoints: sent * METRICS_PER_MESSAGE - stored,
  };
  console.log(`\nIngest benchmark — ${report.target}`);
  console.log(`  devices ${report.devices}, messages published ${report.published} (7 metrics each, QoS 1) in ${report.publisherSeconds} s`);
  console.log(`  sustained:  ${report.messagesPerSecond} messages/s, ${report.pointsPerSecond} points/s`);
  console.log(`  latency (publish → stored): p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms, max ${report.latencyMs.max} ms`);
  console.log(`  engine process (broker + collector + store): CPU ${report.engineCpuPercent} % of one core, peak RSS ${report.peakRssMB} MB`);
  console.log(`  lost: ${report.lostMessages} messages (${report.lostPoints} points); stored ${report.storedMessages} of ${report.published}`);
  console.log(JSON.stringify(report));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
