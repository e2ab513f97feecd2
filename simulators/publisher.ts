import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  buildFleet,
  eventsFor,
  generateTelemetry,
  readingAt,
  stateAt,
  type SimulatedDevice,
  type SimulatedDeviceLike,
  type TelemetryPoint,
} from './fleet.js';
import type { DeviceState } from './models/device-model.js';
import type { SimEvent } from './scenarios/types.js';
import { readStateFile, writeStateFile, type SimulatorState } from './state-file.js';
import { DAY } from './time.js';

export interface SimulatorOptions {
  /** Broker URL, e.g. mqtt://127.0.0.1:1883. */
  readonly url: string;
  /**
   * First level(s) of every topic, `{topicPrefix}/{site}/{device}/{kind}`: the engine's
   * `mqtt.topicPrefix` (default `guardian`). No wildcards, no empty levels.
   */
  readonly topicPrefix?: string;
  readonly devices: readonly SimulatedDeviceLike[];
  readonly seed: number;
  /** Fleet epoch (start of the first backfill); default: from the state file, else now − backfill. */
  readonly epoch?: number;
  /** History published on a first start (default 14 days). */
  readonly backfillMs?: number;
  /** Sample period of backfilled history (default 60 s). */
  readonly backfillTickMs?: number;
  /** Live sample period (default 5 s). */
  readonly intervalMs?: number;
  /** Samples per backfill message (default 200). */
  readonly batchSize?: number;
  /** Backfill messages awaiting their PUBACK per device (default 4): bounds memory and broker load. */
  readonly maxInFlight?: number;
  readonly qos?: 0 | 1 | 2;
  readonly protocolVersion?: 4 | 5;
  readonly username?: string;
  readonly password?: string;
  /**
   * Each device's own MQTT user name and password (a broker that gives every scanner an identity,
   * as the engine's embedded broker does); overrides `username`/`password` for the devices it answers.
   */
  readonly credentialsFor?: (deviceId: string) => { readonly username: string; readonly password: string } | undefined;
  readonly reconnectPeriodMs?: number;
  /** Sensor-noise multiplier (1 = the models' moderate default). */
  readonly noiseScale?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
  /** JSON file remembering the epoch and what was published, so a restart continues. */
  readonly stateFile?: string;
}

export interface SimulatorStats {
  /** MQTT messages acknowledged (telemetry, events, status). */
  readonly published: number;
  /** Telemetry samples acknowledged (one per device and tick). */
  readonly samples: number;
}

export interface SimulatorHandle {
  readonly epoch: number;
  readonly devices: readonly SimulatedDevice[];
  /** Resolves once every device has published its backlog (or the simulator was stopped). */
  readonly backfillDone: Promise<void>;
  stats(): SimulatorStats;
  /** Publishes `offline`, saves the state and disconnects every device. */
  stop(): Promise<void>;
}

export const DEFAULT_TOPIC_PREFIX = 'guardian';

const STATE_FLUSH_MS = 1_000;
const STOP_GRACE_MS = 3_000;

export interface DeviceTopics {
  readonly telemetry: string;
  readonly event: string;
  readonly status: string;
}

/** The topics a simulated device publishes to (design §2, under the configured prefix). */
export function deviceTopics(prefix: string, site: string, device: string): DeviceTopics {
  const base = `${prefix}/${site}/${device}`;
  return { telemetry: `${base}/telemetry`, event: `${base}/event`, status: `${base}/status` };
}

/** Refuses a prefix no broker would route as meant: empty levels, wildcards, `$` topics. */
function checkTopicPrefix(prefix: string): void {
  if (prefix.split('/').some((level) => level.length === 0) || /[#+]/.test(prefix) || prefix.startsWith('$')) {
    throw new Error(`simulator: topic prefix "${prefix}" must be one or more non-empty topic levels without wildcards (e.g. guardian)`);
  }
}

function alignDown(t: number, step: number): number {
  return Math.floor(t / step) * step;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Shared {
  readonly now: () => number;
  readonly logger: Logger | undefined;
  readonly backfillMs: number;
  readonly backfillTickMs: number;
  readonly intervalMs: number;
  readonly batchSize: number;
  readonly maxInFlight: number;
  readonly qos: 0 | 1 | 2;
  readonly topicPrefix: string;
  readonly counts: { published: number; samples: number };
  readonly saveState: () => void;
  readonly credentialsFor: SimulatorOptions['credentialsFor'];
}

/** One simulated scanner: its own MQTT connection, backlog and live loop. */
class DeviceRunner {
  readonly client: MqttClient;
  lastTs: number | undefined;
  seq: number;
  private stopped = false;
  private published: DeviceState | undefined;
  private wake: (() => void) | undefined;
  private stopWaiting: (() => void) | undefined;
  private connectedOnce: Promise<void>;
  private readonly topic: DeviceTopics;
  readonly done: Promise<void>;
  readonly backfilled: Promise<void>;
  private markBackfilled!: () => void;

  constructor(
    readonly sim: SimulatedDevice,
    private readonly shared: Shared,
    connect: IClientOptions,
    url: string,
    resume: { lastTs?: number; seq: number },
  ) {
    const { site, id } = sim.device;
    this.topic = deviceTopics(shared.topicPrefix, site, id);
    this.lastTs = resume.lastTs;
    this.seq = resume.seq;
    this.backfilled = new Promise((resolve) => (this.markBackfilled = resolve));
    const log = shared.logger?.child({ device: id });
    this.client = mqtt.connect(url, {
      ...connect,
      ...shared.credentialsFor?.(id),
      clientId: `sim-${id}`,
      // The broker publishes the will when the connection dies without a DISCONNECT; its ts is
      // the connect time because a will cannot be re-stamped afterwards.
      will: { topic: this.topic.status, payload: Buffer.from(JSON.stringify({ ts: shared.now(), state: 'offline' })), qos: 1, retain: true },
    });
    this.connectedOnce = new Promise((resolve) => this.client.once('connect', () => resolve()));
    this.client.on('connect', () => {
      log?.info('connected');
      this.published = undefined;
      this.publish(this.topic.status, { ts: shared.now(), state: 'online' }, true).catch((err: unknown) =>
        log?.warn({ err }, 'status publish failed'),
      );
      this.poke();
    });
    this.client.on('error', (err) => log?.warn({ err: err.message }, 'MQTT connection error'));
    this.client.on('offline', () => log?.warn('offline; reconnecting'));
    this.done = this.run().catch((err: unknown) => log?.error({ err }, 'simulated device stopped on an error'));
  }

  private async publish(topic: string, body: unknown, retain = false): Promise<void> {
    await this.client.publishAsync(topic, JSON.stringify(body), { qos: this.shared.qos, retain });
    this.shared.counts.published++;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    await Promise.race([this.connectedOnce, new Promise<void>((resolve) => (this.stopWaiting = resolve))]);
    try {
      while (!this.stopped) {
        if (this.client.connected && (await this.attempt(() => this.catchUp()))) break;
        await this.sleep(this.shared.intervalMs);
      }
    } finally {
      this.markBackfilled();
    }
    const { intervalMs, backfillTickMs } = this.shared;
    while (!this.stopped) {
      await this.sleep(intervalMs - (this.shared.now() % intervalMs));
      if (this.stopped) break;
      // While disconnected nothing is sent; the gap is backfilled on reconnect, as a device's
      // store-and-forward buffer would do.
      if (!this.client.connected) continue;
      const t = this.shared.now();
      const behind = this.lastTs !== undefined && t - this.lastTs > Math.max(backfillTickMs, 3 * intervalMs);
      await this.attempt(() => (behind ? this.catchUp() : this.liveTick(t)));
    }
  }

  /** Runs one step; failures are logged (the next step retries), and stopping is not a failure. */
  private async attempt(step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (err) {
      if (!this.stopped) this.shared.logger?.warn({ device: this.sim.device.id, err: (err as Error).message }, 'publish failed; will retry');
      return false;
    }
  }

  /** Publishes the backlog (lastTs, now] as `samples` batches, in time order, PUBACK-paced. */
  private async catchUp(): Promise<void> {
    const { backfillMs, backfillTickMs: tick, batchSize, maxInFlight } = this.shared;
    const now = this.shared.now();
    let start: number;
    let previous: number;
    if (this.lastTs === undefined || this.lastTs < now - backfillMs) {
      start = alignDown(now - backfillMs, tick) + tick;
      previous = start - tick;
    } else {
      start = alignDown(this.lastTs, tick) + tick;
      previous = this.lastTs;
    }
    if (start > now) return;
    const pending: Array<{ ack: Promise<void>; lastTs: number; samples: number }> = [];
    const settleOldest = async (): Promise<void> => {
      const p = pending.shift();
      if (!p) return;
      await p.ack;
      this.lastTs = p.lastTs;
      this.shared.counts.samples += p.samples;
      this.shared.saveState();
    };
    let batch: TelemetryPoint[] = [];
    let batchPrevious = previous;
    const flush = (): void => {
      const last = batch[batch.length - 1];
      if (!last) return;
      const events = this.sim.instance.events(batchPrevious, last.ts);
      const body = { samples: batch };
      const ack = this.publish(this.topic.telemetry, body).then(() => this.publishEvents(events));
      // Rejections surface when the batch is settled in order; this only keeps Node from
      // reporting them as unhandled while earlier batches are still awaited.
      ack.catch(() => undefined);
      pending.push({ ack, lastTs: last.ts, samples: batch.length });
      batchPrevious = last.ts;
      batch = [];
    };
    for (const point of generateTelemetry(this.sim, start, now, tick, { previousTs: previous })) {
      if (this.stopped) break;
      batch.push(point);
      if (batch.length >= batchSize) {
        flush();
        while (pending.length >= maxInFlight) await settleOldest();
      }
    }
    if (!this.stopped) flush();
    while (pending.length) await settleOldest();
    this.shared.logger?.debug({ device: this.sim.device.id, from: new Date(start).toISOString(), to: new Date(now).toISOString() }, 'backlog published');
  }

  private async publishEvents(events: readonly SimEvent[]): Promise<void> {
    for (const e of events) await this.publish(this.topic.event, e);
  }

  private async liveTick(now: number): Promise<void> {
    const { intervalMs } = this.shared;
    const t = alignDown(now, intervalMs);
    if (this.lastTs !== undefined && t <= this.lastTs) return;
    const previous = this.lastTs ?? t - intervalMs;
    const metrics = readingAt(this.sim, t, previous);
    const seq = this.seq + 1;
    await this.publish(this.topic.telemetry, { ts: t, seq, metrics });
    this.seq = seq;
    this.lastTs = t;
    this.shared.counts.samples++;
    this.shared.saveState();
    if (this.stopped) return;
    await this.publishEvents(eventsFor(this.sim, previous, t, metrics));
    const state = stateAt(this.sim, t);
    if (state !== this.published && !this.stopped) {
      await this.publish(this.topic.status, { ts: t, state }, true);
      this.published = state;
    }
  }

  /** Stops the loops; returns once the current publish (if any) is settled or the grace is over. */
  async halt(): Promise<void> {
    this.stopped = true;
    this.poke();
    this.stopWaiting?.();
    // A publish waiting for a broker that is gone would only be resent on a reconnect: don't wait.
    await withTimeout(this.done, this.client.connected ? STOP_GRACE_MS : 0);
  }

  async disconnect(): Promise<void> {
    if (!this.client.connected) {
      await this.client.endAsync(true);
      return;
    }
    const r = await withTimeout(
      this.publish(this.topic.status, { ts: this.shared.now(), state: 'offline' }, true).then(() => 'ok' as const),
      STOP_GRACE_MS,
    ).catch(() => 'failed' as const);
    if (r !== 'ok') this.shared.logger?.warn({ device: this.sim.device.id }, 'offline status not acknowledged');
    const ended = await withTimeout(this.client.endAsync(), STOP_GRACE_MS).catch(() => 'timeout' as const);
    if (ended === 'timeout') await this.client.endAsync(true);
  }
}

/**
 * Runs a simulated fleet against an MQTT broker: one connection per device, the backlog first
 * (`samples` batches with real past timestamps), then live readings every `intervalMs`, plus
 * discrete events and a retained status with a last will.
 */
export async function startSimulator(options: SimulatorOptions): Promise<SimulatorHandle> {
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const backfillMs = options.backfillMs ?? 14 * DAY;
  const backfillTickMs = options.backfillTickMs ?? 60_000;
  const intervalMs = options.intervalMs ?? 5_000;
  for (const [name, v] of Object.entries({ backfillTickMs, intervalMs })) {
    if (!(v > 0)) throw new Error(`simulator: ${name} must be positive`);
  }
  if (!(backfillMs >= 0)) throw new Error('simulator: backfillMs must not be negative');
  const topicPrefix = options.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
  checkTopicPrefix(topicPrefix);

  let previous: SimulatorState | undefined;
  if (options.stateFile) {
    try {
      previous = readStateFile(options.stateFile);
    } catch (err) {
      logger?.warn({ err: (err as Error).message }, 'ignoring the simulator state file; starting afresh');
    }
    if (previous && previous.seed !== options.seed) {
      logger?.warn({ was: previous.seed, now: options.seed }, 'seed changed since the last run; history already sent came from the old seed');
    }
  }
  const epoch = options.epoch ?? previous?.epoch ?? alignDown(now() - backfillMs, backfillTickMs);
  const fleet = buildFleet(options.devices, { seed: options.seed, epoch, ...(options.noiseScale !== undefined && { noiseScale: options.noiseScale }) });

  const state: SimulatorState = { version: 1, seed: options.seed, epoch, devices: { ...previous?.devices } };
  let flushTimer: NodeJS.Timeout | undefined;
  const runners: DeviceRunner[] = [];
  const writeState = (): void => {
    if (!options.stateFile) return;
    for (const r of runners) {
      if (r.lastTs !== undefined) state.devices[r.sim.device.id] = { lastTs: r.lastTs, seq: r.seq };
    }
    try {
      writeStateFile(options.stateFile, state);
    } catch (err) {
      logger?.warn({ err: (err as Error).message }, 'could not write the simulator state file');
    }
  };
  const saveState = (): void => {
    if (!options.stateFile || flushTimer) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      writeState();
    }, STATE_FLUSH_MS);
  };
  writeState();

  const shared: Shared = {
    now,
    logger,
    backfillMs,
    backfillTickMs,
    intervalMs,
    batchSize: Math.max(1, options.batchSize ?? 200),
    maxInFlight: Math.max(1, options.maxInFlight ?? 4),
    qos: options.qos ?? 1,
    topicPrefix,
    counts: { published: 0, samples: 0 },
    saveState,
    credentialsFor: options.credentialsFor,
  };
  const connect: IClientOptions = {
    protocolVersion: options.protocolVersion ?? 4,
    clean: true,
    reconnectPeriod: options.reconnectPeriodMs ?? 2_000,
    connectTimeout: 10_000,
    ...(options.username !== undefined && { username: options.username }),
    ...(options.password !== undefined && { password: options.password }),
  };
  for (const sim of fleet) {
    const resume = state.devices[sim.device.id];
    runners.push(new DeviceRunner(sim, shared, connect, options.url, { ...(resume && { lastTs: resume.lastTs }), seq: resume?.seq ?? 0 }));
  }
  logger?.info(
    { devices: fleet.length, epoch: new Date(epoch).toISOString(), backfillMs, topicPrefix, resumed: previous !== undefined },
    'simulator started',
  );
  for (const sim of fleet) {
    const truth = sim.groundTruth;
    if (truth.scenario === 'healthy') continue;
    logger?.info(
      {
        device: sim.device.id,
        scenario: truth.scenario,
        onsetAt: new Date(truth.onsetAt).toISOString(),
        criticalAt: truth.criticalAt === null ? null : new Date(truth.criticalAt).toISOString(),
        criticalCondition: truth.criticalCondition,
      },
      'scenario ground truth',
    );
  }

  let stopping: Promise<void> | undefined;
  const backfillDone = Promise.all(runners.map((r) => r.backfilled)).then(() => {
    logger?.info({ samples: shared.counts.samples }, stopping ? 'simulator backfill cut short by stop' : 'simulator backfill done');
  });
  return {
    epoch,
    devices: fleet,
    backfillDone,
    stats: () => ({ ...shared.counts }),
    stop() {
      stopping ??= (async () => {
        await Promise.all(runners.map((r) => r.halt()));
        await Promise.all(runners.map((r) => r.disconnect()));
        clearTimeout(flushTimer);
        flushTimer = undefined;
        writeState();
        logger?.info(shared.counts, 'simulator stopped');
      })();
      return stopping;
    },
  };
}
