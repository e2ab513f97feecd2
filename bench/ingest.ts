/**
 * Ingest benchmark (`npm run bench:ingest`). A benchmark, not a test: it prints figures and
 * asserts nothing.
 *
 *   --target sqlite (default)  simulated devices → embedded broker → collector → SQLite
 *   --target influx            simulated devices → external broker → collector → InfluxDB, and on
 *                              the same workload in the same run: the broker limit (a bare
 *                              subscriber that only counts), the InfluxDB write limit (pre-built
 *                              line protocol in large batches), a hand-written baseline (mqtt.js +
 *                              batched writes of 5,000 points, no validation; lines built with the
 *                              client library's Point, and again as bare template strings) and
 *                              Node-RED (mqtt in → join → influxdb batch, and mqtt in → influxdb
 *                              out; installed into a temp folder by the benchmark), each printed
 *                              as a ratio to ours.
 *
 * Ours evaluates the default rule packs on every stored sample; the engine's time on the event
 * loop against the rest of the process's CPU in the same run is what the rules add. With
 * `--share-runs N` it is also measured by difference: N runs with and N without rule packs in
 * ABBA order, medians (noisier on a shared machine). `--no-rules` runs ours without packs.
 *
 * Options: --devices 200 --messages 200000 --connections 10 --inflight 200
 *          --modality CT     the fleet: CT (default) or MR telemetry, evaluated by that modality's pack
 *          --mqtt-url URL    (influx target) a broker to use; default: a Mosquitto the benchmark starts
 *                            with the README's configuration (max_queued_messages 0), so that the
 *                            broker's default queue limit of 1000 does not drop messages
 *          --influx-url URL  (influx target) default: an InfluxDB 1.x the benchmark starts (influxd)
 *          --node-red-out-messages 20000   the workload of the `influxdb out` flow (one write per message)
 *          --rounds 3        ours and the peers run this many times, interleaved; rates and ratios are medians
 *          --identities engine   (sqlite target) who publishes to the embedded broker, which authenticates
 *                            every connection: `engine` (default) the engine's own identity on the usual
 *                            --connections, the shape of earlier runs; `device` each scanner with its own
 *                            credential on a connection of its own, each publish checked against its topics
 * The publisher is a separate process, so publishing does not share the collector's event loop.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Point } from '@influxdata/influxdb-client';
import mqtt from 'mqtt';
import { median } from '../rules/windows.js';
import { ConfigSchema } from '../src/config/schema.js';
import { startGuardian } from '../src/app/guardian.js';
import { silentLogger } from '../src/app/log.js';
import type { TelemetryStore } from '../src/kernel/ports/telemetry-store.js';
import { InfluxServer, MosquittoServer } from './servers.js';
import { cpuWindow, formatSplit, medianSplit, type CpuSplit } from './cpu.js';
import { installNodeRed, startNodeRed } from './node-red.js';
import { benchDeviceId, benchMessage, COUNTED_METRIC, METRICS_PER_MESSAGE, type BenchModality } from './payload.js';

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'sqlite' },
    devices: { type: 'string', default: '200' },
    messages: { type: 'string', default: '200000' },
    connections: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '200' },
    'mqtt-url': { type: 'string' },
    'influx-url': { type: 'string' },
    /** Measure only the engine (for profiling). */
    'skip-peers': { type: 'boolean', default: false },
    /** Runs with and without rule packs, alternating, for the rules' share (medians). */
    'share-runs': { type: 'string', default: '0' },
    /** Rounds of ours and the peers, interleaved; rates and ratios are the rounds' medians. */
    rounds: { type: 'string', default: '3' },
    /** Run ours without rule packs only (profiling the ingest path alone). */
    'no-rules': { type: 'boolean', default: false },
    /** Override collector.batchSize (values per store write). */
    batch: { type: 'string' },
    /** Override collector.maxBufferedSamples and collector.maxConcurrentWrites. */
    'max-buffered': { type: 'string' },
    concurrency: { type: 'string' },
    /** The fleet's modality (its telemetry and rule pack). */
    modality: { type: 'string', default: 'CT' },
    /** Who publishes to the embedded broker: the engine's identity, or each scanner as itself. */
    identities: { type: 'string', default: 'engine' },
    /** Messages for Node-RED's `influxdb out` flow (one write per message; slow). */
    'node-red-out-messages': { type: 'string', default: '20000' },
  },
});
if (values.identities !== 'engine' && values.identities !== 'device') throw new Error('--identities is engine or device');
const DEVICES = Number(values.devices);
const MESSAGES = Number(values.messages);
const MODALITY: BenchModality = values.modality === 'MR' ? 'MR' : 'CT';
if (values.modality !== 'CT' && values.modality !== 'MR') throw new Error('--modality is CT or MR');
const COUNTED = COUNTED_METRIC[MODALITY];
const SITE = 'bench-hospital';
const RUN = Date.now().toString(36);

interface PublisherResult {
  readonly sent: number;
  readonly elapsedSeconds: number;
  /** When the publisher process was started: every rate is messages ÷ (last stored − this). */
  readonly startedAt: number;
  /** CPU the publisher spent publishing (user + system), s. */
  readonly cpuSeconds?: number;
}

/** Process ids of the broker and InfluxDB the benchmark started, whose CPU each run splits out. */
const serverPids: { broker?: number; influx?: number } = {};

/** Runs the load generator in its own process; resolves when every message was acknowledged. */
async function publish(url: string, prefix: string, protocol: 4 | 5, messages = MESSAGES, login?: { credentialsFile?: string; username?: string; password?: string }): Promise<PublisherResult> {
  const script = join(fileURLToPath(new URL('.', import.meta.url)), 'publisher.js');
  const startedAt = Date.now();
  const child = spawn(process.execPath, [script, url, SITE, String(DEVICES), String(messages), values.connections!, values.inflight!, prefix, String(protocol), MODALITY, ...(login?.credentialsFile ? [login.credentialsFile] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...(login?.username && { BENCH_MQTT_USERNAME: login.username, BENCH_MQTT_PASSWORD: login.password ?? '' }) },
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error('publisher failed');
  return { ...(JSON.parse(out) as Omit<PublisherResult, 'startedAt'>), startedAt };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Samples the process's peak RSS and CPU while `work` runs. */
async function measured<T>(work: () => Promise<T>): Promise<{ result: T; peakRssMB: number; cpuPercent: number; cpuSeconds: number; seconds: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
  const cpu = process.cpuUsage();
  const started = Date.now();
  try {
    const result = await work();
    const seconds = (Date.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const cpuSeconds = (used.user + used.system) / 1e6;
    return { result, peakRssMB: Math.round(peak / 1048576), cpuPercent: Math.round((cpuSeconds / seconds) * 100), cpuSeconds, seconds };
  } finally {
    clearInterval(timer);
  }
}

/** Waits until `count()` stops changing for `quietMs`. */
async function settle(count: () => number, quietMs = 2_000): Promise<void> {
  let last = -1;
  while (count() !== last) {
    last = count();
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

interface OursResult {
  readonly published: number;
  readonly messagesPerSecond: number;
  /** Messages ÷ (last message received by the collector − publisher start): the ingest side alone. */
  readonly receivedPerSecond: number;
  readonly pointsPerSecond: number;
  readonly latencyMs: { p50: number; p99: number; max: number };
  readonly cpuPercent: number;
  /** CPU time of the engine process over the run (user + system). */
  readonly cpuSeconds: number;
  readonly peakRssMB: number;
  readonly lostMessages: number;
  /** Rule evaluations the engine made (0 without rule packs). */
  readonly ruleEvaluations: number;
  /** Time the rule engine's calls took on the event loop over the run, s. */
  readonly engineBusySeconds: number;
  /** CPU per message by process: publisher, broker, InfluxDB and this one (the engine). */
  readonly cpu: CpuSplit;
}

/**
 * The engine's ingest path (validation, registry, spool, batching, durable acknowledgement) with
 * the default rule packs evaluated on every stored sample — or, with `rules: false`, an empty
 * rule folder: the same process without rule evaluation, to measure what the rules cost.
 */
async function runOurs(target: 'sqlite' | 'influx', mqttUrl: string | undefined, influxUrl: string | undefined, rules = true): Promise<OursResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'guardian-bench-'));
  const noRules = join(dataDir, 'no-rules');
  if (!rules) mkdirSync(noRules);
  writeFileSync(
    join(dataDir, 'fleet.json'),
    JSON.stringify({
      sites: [{ id: SITE, name: '基准测试医院' }],
      devices: Array.from({ length: DEVICES }, (_, i) => ({ id: benchDeviceId(MODALITY, i), site: SITE, modality: MODALITY, vendor: 'Bench', model: 'B1' })),
    }),
  );
  const config = ConfigSchema.parse({
    dataDir,
    fleetFile: join(dataDir, 'fleet.json'),
    log: { level: 'silent' },
    mqtt: mqttUrl ? { url: mqttUrl, clientId: `guardian-bench-${RUN}`, sessionExpiry: '1m' } : { port: 0 },
    ...(target === 'influx' && { influx: { url: influxUrl, bucket: `bench_ours_${RUN}` } }),
    simulate: { enabled: false },
    autoRegister: false,
    ...(!rules && { rules: { dir: noRules } }),
    collector: {
      ...(values.batch && { batchSize: Number(values.batch) }),
      ...(values['max-buffered'] && { maxBufferedSamples: Number(values['max-buffered']) }),
      ...(values.concurrency && { maxConcurrentWrites: Number(values.concurrency) }),
    },
  });
  const guardian = await startGuardian({ config, explicit: new Set(['mqtt.port']), logger: silentLogger(), http: false });
  // The embedded broker authenticates every connection: the engine's own identity may publish
  // anywhere; a scanner only under its own topics, with its own credential.
  let login: { credentialsFile?: string; username?: string; password?: string } | undefined;
  if (!mqttUrl && values.identities === 'engine') {
    login = { username: 'guardian-engine', password: readFileSync(join(dataDir, 'mqtt-engine-secret'), 'utf8').trim() };
  } else if (!mqttUrl) {
    const passwords: Record<string, string> = {};
    for (let i = 0; i < DEVICES; i++) passwords[benchDeviceId(MODALITY, i)] = (await guardian.deviceCredentials.issue(benchDeviceId(MODALITY, i), 'bench')).password;
    login = { credentialsFile: join(dataDir, 'credentials.json') };
    writeFileSync(login.credentialsFile!, JSON.stringify(passwords), { mode: 0o600 });
  }
  const latencies = new Float64Array(MESSAGES);
  let stored = 0;
  let storedMessages = 0;
  let last = 0;
  guardian.pipeline.batcher.onStored((samples, storedAt) => {
    last = storedAt;
    stored += samples.length;
    for (const s of samples) if (s.metric === COUNTED && storedMessages < latencies.length) latencies[storedMessages++] = storedAt - s.ts;
  });
  const busyBefore = guardian.engine.stats().busyMs;
  let cpu: CpuSplit = {};
  const run = await measured(async () => {
    const window = cpuWindow(serverPids);
    const published = await publish(guardian.mqttUrl, 'guardian', mqttUrl ? 5 : 4, MESSAGES, login);
    await settle(() => stored);
    cpu = window.end(published.sent, published.cpuSeconds);
    return published;
  });
  // In-order devices are evaluated as their samples are stored; a device seen out of order holds
  // its newest samples for the reorder tolerance (2 s) and the 1 s clock releases them, so one
  // more tick evaluates them all (after the measured window: that idle second is not part of the
  // CPU figures).
  await new Promise((r) => setTimeout(r, 1_100));
  const inStore = await countStored(guardian.telemetry);
  const ruleEvaluations = guardian.engine.stats().evaluations;
  const engineBusySeconds = (guardian.engine.stats().busyMs - busyBefore) / 1000;
  const receiveSeconds = (guardian.pipeline.collector.lastMessageTime - run.result.startedAt) / 1000;
  await guardian.stop();
  if (target === 'influx') await influxQuery(influxUrl!, `DROP DATABASE "bench_ours_${RUN}"`);
  rmSync(dataDir, { recursive: true, force: true });
  const seconds = (last - run.result.startedAt) / 1000;
  const sorted = latencies.slice(0, storedMessages).sort();
  return {
    published: run.result.sent,
    messagesPerSecond: Math.round(storedMessages / seconds),
    receivedPerSecond: Math.round(run.result.sent / receiveSeconds),
    pointsPerSecond: Math.round(stored / seconds),
    latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: percentile(sorted, 100) },
    cpuPercent: run.cpuPercent,
    cpuSeconds: run.cpuSeconds,
    peakRssMB: run.peakRssMB,
    lostMessages: run.result.sent - inStore,
    ruleEvaluations,
    engineBusySeconds,
    cpu,
  };
}

async function countStored(store: TelemetryStore): Promise<number> {
  let n = 0;
  for (let i = 0; i < DEVICES; i++) {
    const points = await store.aggregate({ deviceId: benchDeviceId(MODALITY, i), metric: COUNTED, from: 0, to: Date.now() + 60_000, step: 365 * 86_400_000 });
    n += points.reduce((sum, p) => sum + p.count, 0);
  }
  return n;
}

async function influxQuery(url: string, q: string, db?: string): Promise<unknown> {
  const body = new URLSearchParams({ q, ...(db && { db }) });
  const response = await fetch(`${url}/query`, { method: 'POST', body });
  if (!response.ok) throw new Error(`InfluxDB query failed: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Posts lines uncompressed: against a server on the same host that is cheaper for both ends, and ours does the same there. */
async function influxWrite(url: string, db: string, lines: string): Promise<void> {
  const response = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines });
  if (response.status !== 204) throw new Error(`InfluxDB write failed: ${response.status} ${await response.text()}`);
}

/** Points InfluxDB 1.x has received for writing since it started (`/debug/vars`); undefined where it does not say. */
async function influxPointsReceived(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${url}/debug/vars`);
    if (!response.ok) return undefined;
    const vars = (await response.json()) as { write?: { values?: { pointReq?: unknown } } };
    const n = vars.write?.values?.pointReq;
    return typeof n === 'number' ? n : undefined;
  } catch {
    return undefined;
  }
}

async function influxCount(url: string, db: string): Promise<number> {
  const result = (await influxQuery(url, `SELECT count("${COUNTED}") FROM "telemetry"`, db)) as { results: Array<{ series?: Array<{ values: Array<[unknown, number]> }> }> };
  return result.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
}

/** The quickest line an afternoon's code writes: a template string, nothing escaped (a device id with a space or comma breaks it). */
const lineFor = (device: string, payload: { ts: number; metrics: Record<string, number> }) =>
  `telemetry,device=${device} ${Object.entries(payload.metrics)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')} ${payload.ts}`;

/** The same point through the InfluxDB client library's `Point`, which escapes names and values as line protocol requires. */
const pointLineFor = (site: string, device: string, payload: { ts: number; metrics: Record<string, number> }): string => {
  const point = new Point('telemetry').tag('site', site).tag('device', device).timestamp(payload.ts);
  for (const [k, v] of Object.entries(payload.metrics)) point.floatField(k, v);
  return point.toLineProtocol({ convertTime: (t) => (t === undefined ? undefined : String(t)) })!;
};

/** How the baseline builds its lines. */
type BaselineLines = 'point' | 'template';

/** A bare subscriber that only counts: the most the broker can hand one consumer. */
async function runBrokerLimit(mqttUrl: string): Promise<{ messagesPerSecond: number; received: number; cpu: CpuSplit }> {
  const prefix = `benchbare${RUN}`;
  const client = await mqtt.connectAsync(mqttUrl, { clientId: `bench-bare-${RUN}`, protocolVersion: 5 });
  let received = 0;
  let last = 0;
  client.on('message', () => {
    last = Date.now();
    received++;
  });
  await client.subscribeAsync(`${prefix}/#`, { qos: 1 });
  const window = cpuWindow(serverPids);
  const published = await publish(mqttUrl, prefix, 5);
  await settle(() => received, 1_000);
  const cpu = window.end(published.sent, published.cpuSeconds);
  await client.endAsync();
  return { messagesPerSecond: Math.round(received / ((last - published.startedAt) / 1000)), received, cpu };
}

/** Pre-built line protocol posted in batches of 5,000 lines: the most InfluxDB takes from one writer. */
async function runInfluxLimit(influxUrl: string): Promise<{ pointsPerSecond: number; valuesPerSecond: number }> {
  const db = `bench_limit_${RUN}`;
  await influxQuery(influxUrl, `CREATE DATABASE "${db}"`);
  const start = Date.now() - 3_600_000;
  const batches: string[] = [];
  for (let i = 0; i < MESSAGES; i += 5_000) {
    const lines: string[] = [];
    for (let n = i; n < Math.min(MESSAGES, i + 5_000); n++) {
      const { device, metrics } = benchMessage(MODALITY, n, DEVICES);
      lines.push(lineFor(benchDeviceId(MODALITY, device), { ts: start + n, metrics }));
    }
    batches.push(lines.join('\n'));
  }
  const started = Date.now();
  for (const batch of batches) await influxWrite(influxUrl, db, batch);
  const seconds = (Date.now() - started) / 1000;
  await influxQuery(influxUrl, `DROP DATABASE "${db}"`);
  return { pointsPerSecond: Math.round(MESSAGES / seconds), valuesPerSecond: Math.round((MESSAGES * METRICS_PER_MESSAGE) / seconds) };
}

/**
 * What a team would write in an afternoon: mqtt.js subscriber, JSON.parse, one line per message —
 * through the client library's `Point`, or as a bare template string — batches of 5,000 lines
 * posted one after another, no validation, no rules, no durability.
 */
async function runBaseline(
  mqttUrl: string,
  influxUrl: string,
  build: BaselineLines,
): Promise<{ messagesPerSecond: number; lostMessages: number; cpuPercent: number; peakRssMB: number; cpu: CpuSplit }> {
  const db = `bench_base_${build}_${RUN}`;
  const prefix = `benchbase${build}${RUN}`;
  await influxQuery(influxUrl, `CREATE DATABASE "${db}"`);
  const client = await mqtt.connectAsync(mqttUrl, { clientId: `bench-base-${RUN}`, protocolVersion: 5 });
  let pending: string[] = [];
  let stored = 0;
  let last = 0;
  let writing = Promise.resolve();
  const flush = () => {
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    writing = writing.then(async () => {
      await influxWrite(influxUrl, db, lines.join('\n'));
      stored += lines.length;
      last = Date.now();
    });
  };
  client.on('message', (topic, payload) => {
    const [, site, device] = topic.split('/') as [string, string, string];
    const body = JSON.parse(payload.toString()) as { ts: number; metrics: Record<string, number> };
    pending.push(build === 'point' ? pointLineFor(site, device, body) : lineFor(device, body));
    if (pending.length >= 5_000) flush();
  });
  const timer = setInterval(flush, 1_000);
  await client.subscribeAsync(`${prefix}/#`, { qos: 1 });
  let cpu: CpuSplit = {};
  const run = await measured(async () => {
    const window = cpuWindow(serverPids);
    const published = await publish(mqttUrl, prefix, 5);
    await settle(() => stored + pending.length, 2_000);
    flush();
    await writing;
    cpu = window.end(published.sent, published.cpuSeconds);
    return published;
  });
  clearInterval(timer);
  await client.endAsync();
  const inStore = await influxCount(influxUrl, db);
  await influxQuery(influxUrl, `DROP DATABASE "${db}"`);
  return {
    messagesPerSecond: Math.round(stored / ((last - run.result.startedAt) / 1000)),
    lostMessages: run.result.sent - inStore,
    cpuPercent: run.cpuPercent,
    peakRssMB: run.peakRssMB,
    cpu,
  };
}

/** Node-RED `mqtt in` → `influxdb batch` (after `join`) or `influxdb out`, measured by polling what reaches InfluxDB. */
async function runNodeRed(
  mqttUrl: string,
  influxUrl: string,
  writer: 'batch' | 'out',
  messages: number,
): Promise<{ messagesPerSecond: number; lostMessages: number; published: number; cpu: CpuSplit } | { error: string }> {
  const dir = join(tmpdir(), 'guardian-bench-node-red');
  try {
    installNodeRed(dir);
  } catch (error) {
    return { error: (error as Error).message };
  }
  const db = `bench_nodered_${writer}_${RUN}`;
  const prefix = `benchnr${writer}${RUN}`;
  await influxQuery(influxUrl, `CREATE DATABASE "${db}"`);
  const mqtt = new URL(mqttUrl);
  const influx = new URL(influxUrl);
  const peer = await startNodeRed({
    dir,
    mqttHost: mqtt.hostname,
    mqttPort: Number(mqtt.port || 1883),
    topicPrefix: prefix,
    influxHost: influx.hostname,
    influxPort: Number(influx.port || 8086),
    database: db,
    uiPort: 0,
    writer,
  });
  // Progress is read from InfluxDB's own counter of points received (`/debug/vars`), which costs
  // it nothing: polling `SELECT count(…)` four times a second made InfluxDB scan the growing
  // measurement each time, and that CPU — taken from Node-RED on the shared cores and charged to
  // its InfluxDB column — was several µs per message. Servers without the counter are polled with
  // the count query instead.
  const received = await influxPointsReceived(influxUrl);
  const progress = received === undefined ? () => influxCount(influxUrl, db) : async () => ((await influxPointsReceived(influxUrl)) ?? received) - received;
  let count = 0;
  let lastChangeAt = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const n = await progress().catch(() => count);
      const now = Date.now();
      if (n !== count) lastChangeAt = now;
      count = n;
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const window = cpuWindow(serverPids, peer.pid);
  const published = await publish(mqttUrl, prefix, 4, messages);
  await settle(() => count, 5_000);
  const cpu = window.end(published.sent, published.cpuSeconds);
  polling = false;
  await poller;
  await peer.stop();
  const stored = await influxCount(influxUrl, db);
  await influxQuery(influxUrl, `DROP DATABASE "${db}"`);
  // Polled every 250 ms, so the end is known to a quarter of a second.
  return { messagesPerSecond: Math.round(stored / ((lastChangeAt - published.startedAt) / 1000)), lostMessages: published.sent - stored, published: published.sent, cpu };
}

function printOurs(title: string, r: OursResult): void {
  console.log(`\n${title}`);
  console.log(`  ${DEVICES} ${MODALITY} devices, messages published ${r.published} (${METRICS_PER_MESSAGE} metrics each, QoS 1)`);
  console.log(`  sustained:  ${r.messagesPerSecond} messages/s, ${r.pointsPerSecond} points/s (received from the broker at ${r.receivedPerSecond} messages/s)`);
  console.log(`  latency (publish → stored): p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`);
  console.log(`  engine process: CPU ${r.cpuPercent} % of one core (${((1e6 * r.cpuSeconds) / r.published).toFixed(1)} µs per message), peak RSS ${r.peakRssMB} MB`);
  console.log(`  lost: ${r.lostMessages} messages; rule evaluations ${r.ruleEvaluations.toLocaleString('en-US')}`);
  const us = (x: number | undefined) => (x === undefined ? 'n/a' : `${x.toFixed(1)} µs`);
  console.log(`  CPU per message by process: publisher ${us(r.cpu.publisher)}, broker ${us(r.cpu.broker)}, InfluxDB ${us(r.cpu.influx)}, engine ${us(r.cpu.consumer)}`);
  if (r.ruleEvaluations > 0) {
    const share = engineShare(r);
    console.log(
      `  rule engine: ${r.engineBusySeconds.toFixed(2)} s on the event loop of the process's ${r.cpuSeconds.toFixed(2)} s CPU → adds ${share.toFixed(1)} % to the rest (aim ≤ ${RULES_CPU_AIM_PCT} %: ${share <= RULES_CPU_AIM_PCT ? 'met' : 'NOT MET'})`,
    );
  }
}

/** The rule engine's time as a share of everything else the process spent, in the same run. */
function engineShare(r: OursResult): number {
  return (100 * r.engineBusySeconds) / (r.cpuSeconds - r.engineBusySeconds);
}

/** Aim of the rule-engine issue: the rules add at most this share to the ingest path's CPU. */
const RULES_CPU_AIM_PCT = 25;


interface RulesShare {
  readonly addedPct: number;
  readonly pointsOfCore: number;
  readonly withMicros: number[];
  readonly withoutMicros: number[];
}

/**
 * What the rule engine adds: CPU per message with the default packs against the same workload
 * without rule packs (no engine work at all), each run `share-runs` times after the first (cold)
 * run, in ABBA order, and compared by their medians: one pair on a shared machine moves by
 * several points, and a process still warming up would favour whichever ran later.
 */
async function measureRulesShare(first: OursResult, run: (rules: boolean) => Promise<OursResult>): Promise<RulesShare> {
  const runs = Math.max(1, Number(values['share-runs']));
  const micros = (r: OursResult) => (1e6 * r.cpuSeconds) / r.published;
  // The first run (a cold process, `first`) is left out, and the order alternates without-with,
  // with-without, … so that a process that keeps getting faster favours neither.
  const withRuns: OursResult[] = [];
  const withoutRuns: OursResult[] = [];
  for (let i = 0; i < runs; i++) {
    for (const rules of i % 2 === 0 ? [false, true] : [true, false]) (rules ? withRuns : withoutRuns).push(await run(rules));
  }
  const withMicros = withRuns.map(micros);
  const withoutMicros = withoutRuns.map(micros);
  const added = median(withMicros) - median(withoutMicros);
  const addedPct = (100 * added) / median(withoutMicros);
  const rate = median(withRuns.map((r) => r.messagesPerSecond));
  const share = { addedPct, pointsOfCore: (100 * added * rate) / 1e6, withMicros, withoutMicros };
  const list = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
  console.log(`\n  rule engine share (same workload, after the run above: ${runs} runs with and ${runs} without rule packs, in ABBA order; medians):`);
  console.log(`    without rules: ${list(withoutMicros)} µs/message → ${median(withoutMicros).toFixed(1)}; lost ${withoutRuns.reduce((n, r) => n + r.lostMessages, 0)}`);
  console.log(`    with rules:    ${list(withMicros)} µs/message → ${median(withMicros).toFixed(1)}; ${first.ruleEvaluations.toLocaleString('en-US')} rule evaluations a run`);
  console.log(
    `    → the rules add ${addedPct.toFixed(1)} % to the ingest path's CPU (aim ≤ ${RULES_CPU_AIM_PCT} %: ${addedPct <= RULES_CPU_AIM_PCT ? 'met' : 'NOT MET'}), ${share.pointsOfCore.toFixed(1)} % of one core at ${rate} msg/s`,
  );
  return share;
}

async function main(): Promise<void> {
  if (values.target === 'sqlite') {
    const ours = await runOurs('sqlite', undefined, undefined);
    printOurs('Ingest benchmark — embedded broker → collector → SQLite (engine process holds the broker too)', ours);
    const rulesShare = Number(values['share-runs']) > 0 ? await measureRulesShare(ours, (rules) => runOurs('sqlite', undefined, undefined, rules)) : undefined;
    console.log(JSON.stringify({ target: 'sqlite', ours, rulesShare }));
    return;
  }
  if (values.target !== 'influx') throw new Error('--target is sqlite or influx');
  const serversDir = mkdtempSync(join(tmpdir(), 'guardian-bench-servers-'));
  const mosquitto = values['mqtt-url'] ? undefined : await MosquittoServer.start(join(serversDir, 'mosquitto'));
  const influx = values['influx-url'] ? undefined : await InfluxServer.start(join(serversDir, 'influxdb'));
  const mqttUrl = values['mqtt-url'] ?? mosquitto!.url;
  const influxUrl = values['influx-url'] ?? influx!.url;
  serverPids.broker = mosquitto?.pid;
  serverPids.influx = influx?.pid;

  // Ours first, while the process is fresh, so its peak RSS is its own.
  const ours = await runOurs('influx', mqttUrl, influxUrl, !values['no-rules']);
  printOurs(`Ingest benchmark — devices → ${mqttUrl} → collector → InfluxDB ${influxUrl}`, ours);
  const rulesShare = Number(values['share-runs']) > 0 && !values['no-rules'] ? await measureRulesShare(ours, (rules) => runOurs('influx', mqttUrl, influxUrl, rules)) : undefined;
  if (values['skip-peers']) {
    await mosquitto?.stop();
    await influx?.stop();
    return;
  }
  // The machine's speed drifts over minutes (other tenants, thermal), and every contender shares
  // its two cores with the publisher, the broker and InfluxDB: one pass in a row would let the
  // drift decide the ratios. So ours and the peers run in rounds, in the same order each round,
  // and each rate — and each ratio — is the median over the rounds.
  const rounds = Math.max(1, Number(values.rounds));
  const influxLimit = await runInfluxLimit(influxUrl);
  const series = { ours: [ours.messagesPerSecond], broker: [] as number[], baseline: [] as number[], bare: [] as number[], nodeRed: [] as number[] };
  const ratios = { broker: [] as number[], baseline: [] as number[], bare: [] as number[], nodeRed: [] as number[] };
  // The rules' share moves from run to run: each round's. (Peak RSS is the first round's only: the
  // later rounds run in a process that has hosted the in-process peers.)
  const oursRulesShare = ours.ruleEvaluations > 0 ? [engineShare(ours)] : [];
  const cpu = { ours: [ours.cpu], broker: [] as CpuSplit[], baseline: [] as CpuSplit[], bare: [] as CpuSplit[], nodeRed: [] as CpuSplit[] };
  let baseline: Awaited<ReturnType<typeof runBaseline>> | undefined;
  let bareBaseline: Awaited<ReturnType<typeof runBaseline>> | undefined;
  let nodeRed: Awaited<ReturnType<typeof runNodeRed>> | undefined;
  for (let round = 0; round < rounds; round++) {
    const oursRun = round === 0 ? ours : await runOurs('influx', mqttUrl, influxUrl, !values['no-rules']);
    const oursRate = oursRun.messagesPerSecond;
    if (round > 0) {
      series.ours.push(oursRate);
      cpu.ours.push(oursRun.cpu);
      if (oursRun.ruleEvaluations > 0) oursRulesShare.push(engineShare(oursRun));
    }
    const brokerRun = await runBrokerLimit(mqttUrl);
    const broker = brokerRun.messagesPerSecond;
    cpu.broker.push(brokerRun.cpu);
    baseline = await runBaseline(mqttUrl, influxUrl, 'point');
    bareBaseline = await runBaseline(mqttUrl, influxUrl, 'template');
    nodeRed = await runNodeRed(mqttUrl, influxUrl, 'batch', MESSAGES);
    series.broker.push(broker);
    series.baseline.push(baseline.messagesPerSecond);
    cpu.baseline.push(baseline.cpu);
    cpu.bare.push(bareBaseline.cpu);
    series.bare.push(bareBaseline.messagesPerSecond);
    ratios.broker.push(oursRate / broker);
    ratios.baseline.push(oursRate / baseline.messagesPerSecond);
    ratios.bare.push(oursRate / bareBaseline.messagesPerSecond);
    if (!('error' in nodeRed)) {
      series.nodeRed.push(nodeRed.messagesPerSecond);
      cpu.nodeRed.push(nodeRed.cpu);
      ratios.nodeRed.push(oursRate / nodeRed.messagesPerSecond);
    }
    console.log(
      `  round ${round + 1}/${rounds}: ours ${oursRate}, broker limit ${broker}, baseline ${baseline.messagesPerSecond} (template lines ${bareBaseline.messagesPerSecond}), Node-RED batch ${'error' in nodeRed ? 'n/a' : nodeRed.messagesPerSecond} msg/s`,
    );
  }
  // One HTTP write per message: a tenth of the workload keeps the run short; its rate is what counts.
  const nodeRedOut = await runNodeRed(mqttUrl, influxUrl, 'out', Number(values['node-red-out-messages']));
  await mosquitto?.stop();
  await influx?.stop();
  rmSync(serversDir, { recursive: true, force: true });

  const oursRate = median(series.ours);
  const range = (xs: readonly number[]) => (xs.length > 1 ? `  [${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}]` : '');
  const row = (title: string, rates: readonly number[], rs: readonly number[], note = '') =>
    rates.length === 0
      ? `  ${title.padEnd(48)}not measured${note}`
      : `  ${title.padEnd(48)}${String(Math.round(median(rates))).padStart(7)} msg/s   ${median(rs).toFixed(2)}${range(rs)}${note}`;
  console.log(`\n  same workload, same run, ${rounds} round${rounds > 1 ? 's' : ''} (medians; [range of the rounds' ratios]); rate = messages ÷ (last stored − publisher start)`);
  console.log('                                                  rate            ours ÷ it');
  console.log(`  ${'ours (validation, rules, durable ack)'.padEnd(48)}${String(Math.round(oursRate)).padStart(7)} msg/s   rounds: ${series.ours.join(', ')}`);
  if (oursRulesShare.length > 0) {
    console.log(`  ${''.padEnd(48)}rules add ${oursRulesShare.map((x) => `${x.toFixed(1)} %`).join(', ')} by round (aim ≤ ${RULES_CPU_AIM_PCT} %)`);
  }
  console.log(row('broker limit (bare counting subscriber)', series.broker, ratios.broker));
  console.log(
    `  ${'InfluxDB write limit (pre-built lines, 5k/batch)'.padEnd(48)}${String(influxLimit.pointsPerSecond).padStart(7)} msg/s   ${(oursRate / influxLimit.pointsPerSecond).toFixed(2)}   (${influxLimit.valuesPerSecond} values/s)`,
  );
  console.log(row('hand-written baseline (mqtt.js + Point, 5k)', series.baseline, ratios.baseline, `   (last round: lost ${baseline!.lostMessages}, CPU ${baseline!.cpuPercent} %)`));
  console.log(row('  same, template-string lines (no escaping)', series.bare, ratios.bare, `   (last round: lost ${bareBaseline!.lostMessages}, CPU ${bareBaseline!.cpuPercent} %)`));
  console.log(row('Node-RED mqtt in → join 1000 → influxdb batch', series.nodeRed, ratios.nodeRed, nodeRed && 'error' in nodeRed ? `: ${nodeRed.error}` : `   (last round: lost ${nodeRed && !('error' in nodeRed) ? nodeRed.lostMessages : 0})`));
  console.log(
    'error' in nodeRedOut
      ? `  ${'Node-RED mqtt in → influxdb out'.padEnd(48)}not measured: ${nodeRedOut.error}`
      : `  ${'Node-RED mqtt in → influxdb out'.padEnd(48)}${String(nodeRedOut.messagesPerSecond).padStart(7)} msg/s   ${(oursRate / nodeRedOut.messagesPerSecond).toFixed(2)}   (${nodeRedOut.published} messages, lost ${nodeRedOut.lostMessages})`,
  );
  const cores = availableParallelism();
  console.log(`\n  CPU per message by process, µs (medians of the rounds). Everything shares this machine's ${cores} cores, so a run`);
  console.log(`  can go at most ${cores} × 10⁶ ÷ total messages/s: what one consumer spends slows the publisher and broker feeding it.`);
  console.log(`  ${''.padEnd(40)}${['publisher', 'Mosquitto', 'InfluxDB', 'consumer', 'total'].map((h) => h.padStart(10)).join('')}     allows`);
  const splitRows: Array<[string, CpuSplit[]]> = [
    ['ours (engine process)', cpu.ours],
    ['broker limit', cpu.broker],
    ['baseline (Point)', cpu.baseline],
    ['baseline (template lines)', cpu.bare],
    ['Node-RED join → influxdb batch', cpu.nodeRed],
  ];
  for (const [title, splits] of splitRows) if (splits.length > 0) console.log(formatSplit(title, medianSplit(splits, median), cores));
  console.log(JSON.stringify({ target: 'influx', ours, rulesShare, rounds: series, ratios, cpu, influxLimit, baseline, bareBaseline, nodeRed, nodeRedOut }));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
