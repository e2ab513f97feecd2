import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestMetrics } from '../../collectors/ingest-metrics.js';
import type { Ingestor } from '../../collectors/ingestor.js';
import { MqttCollector } from '../../collectors/mqtt-collector.js';
import { SampleBatcher } from '../../collectors/sample-batcher.js';
import { Spool } from '../../collectors/spool.js';
import type { Sample, TelemetryStore } from '../../src/kernel/ports/telemetry-store.js';
import { capturedLogger, tempDir, waitFor } from '../helpers.js';
import { hasCommand, MosquittoServer, needs } from '../support/servers.js';

/** MQTT control packet types (the high nibble of the first byte). */
const PUBACK = 4;
const SUBSCRIBE = 8;

/**
 * A loopback TCP relay between the collector and the broker. It counts the packets the collector
 * sends, by type, and can hold what the collector sends after the broker's first answer (its
 * CONNACK) for `holdMs`: the SUBSCRIBE then reaches the broker that much later, as it does when
 * the collector's process is descheduled on a busy machine or paused by a garbage collection
 * right after the broker accepted it.
 */
class BrokerRelay {
  /** The broker has answered the collector (CONNACK). */
  answered = false;
  /** Bytes the collector sent after that answer are being held. */
  holding = false;
  /** Packets the collector sent that reached the broker, by control packet type. */
  readonly sent = new Map<number, number>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(brokerPort: number, holdMs = 0): Promise<BrokerRelay> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const relay = new BrokerRelay(server, `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`);
    server.on('connection', (client) => relay.relay(client, brokerPort, holdMs));
    return relay;
  }

  private relay(client: Socket, brokerPort: number, holdMs: number): void {
    const broker = connect(brokerPort, '127.0.0.1');
    for (const socket of [client, broker]) {
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        broker.destroy();
      });
    }
    broker.on('data', (chunk: Buffer) => {
      this.answered = true;
      client.write(chunk);
    });
    const counter = packetCounter(this.sent);
    const forward = (chunk: Buffer) => {
      counter(chunk);
      broker.write(chunk);
    };
    const held: Buffer[] = [];
    let released = holdMs <= 0;
    client.on('data', (chunk: Buffer) => {
      if (!this.answered || released) return forward(chunk);
      held.push(chunk);
      if (this.holding) return;
      this.holding = true;
      setTimeout(() => {
        released = true;
        this.holding = false;
        for (const part of held.splice(0)) forward(part);
      }, holdMs);
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Counts whole MQTT packets of a byte stream by type (fixed header, remaining length, body). */
function packetCounter(counts: Map<number, number>): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let at = 1;
      let complete = false;
      while (at < pending.length && at <= 4) {
        const byte = pending[at++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || pending.length < at + length) return;
      const type = pending[0]! >> 4;
      counts.set(type, (counts.get(type) ?? 0) + 1);
      pending = pending.subarray(at + length);
    }
  };
}

/** A spool whose end-of-turn writes wait until the test lets them through. */
class GatedSpool extends Spool {
  private open = false;

  override commit(): void {
    if (this.open) super.commit();
  }

  /** Lets the held write, and every later one, go. */
  letThrough(): void {
    this.open = true;
    super.commit();
  }
}

const suite = needs('MQTT collector against a real Mosquitto', hasCommand('mosquitto'), 'no mosquitto binary on PATH');

describe.skipIf(suite.skip)(suite.title, () => {
  const dir = tempDir('guardian-collector-broker-');
  let broker: MosquittoServer;
  beforeAll(async () => {
    broker = await MosquittoServer.start(join(dir.path, 'mosquitto'));
  });
  afterAll(async () => {
    await broker?.stop();
    dir.remove();
  });

  const store: Pick<TelemetryStore, 'write'> = { write: (_samples: readonly Sample[]) => Promise.resolve() };

  /** A collector connected through a relay; the ingestor given is this feature's own class, here standing in for it. */
  async function collectorThroughRelay(name: string, options: { holdMs?: number; ingestor: (batcher: SampleBatcher) => Ingestor; spool?: Spool }) {
    const relay = await BrokerRelay.start(broker.port, options.holdMs);
    const { logger, lines } = capturedLogger();
    const batcher = new SampleBatcher(store as TelemetryStore, { batchSize: 100, flushIntervalMs: 50, maxBuffered: 1_000, logger, ...(options.spool && { spool: options.spool }) });
    const collector = new MqttCollector({
      url: relay.url,
      clientId: `guardian-${name}`,
      topicPrefix: 'guardian',
      protocolVersion: 5,
      persistentSession: { expirySeconds: 60 },
      ingestor: options.ingestor(batcher),
      batcher,
      ...(options.spool && { spool: options.spool }),
      metrics: new IngestMetrics(new Registry()),
      logger,
    });
    const said = (text: string) => lines.some((line) => line.msg === text);
    const close = async () => {
      await collector.stop();
      await batcher.close();
      await relay.close();
    };
    return { relay, collector, said, close };
  }

  /** An ingestor that records the topics it is handed and handles each at once. */
  const recording = (handled: string[]) => () => ({ handle: (topic: string) => void handled.push(topic) }) as unknown as Ingestor;

  it('a message published as soon as it says it is connected reaches it', async () => {
    const handled: string[] = [];
    const { relay, collector, said, close } = await collectorThroughRelay('says-connected', { holdMs: 600, ingestor: recording(handled) });
    const device = await mqtt.connectAsync(broker.url, { clientId: 'dev-CT-SAYS', protocolVersion: 5 });
    const pubackCodes: number[] = [];
    device.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback') pubackCodes.push((packet as { reasonCode?: number }).reasonCode ?? 0);
    });
    try {
      const started = collector.start();
      await waitFor(() => relay.holding, { what: 'the broker to accept the connection and the subscription to be on its way' });
      // What an operator's script or the fault tests do: wait for the line, then publish.
      await waitFor(() => said('connected to MQTT broker'), { what: '"connected to MQTT broker"' });
      await device.publishAsync('guardian/hospital/CT-SAYS/telemetry', '{"ts":1,"metrics":{"kv":120}}', { qos: 1 });
      // 16 is "no matching subscribers": the broker acknowledged the message to the device and dropped it.
      expect(pubackCodes).toEqual([0]);
      await waitFor(() => handled.length === 1, { timeoutMs: 5_000, what: 'the message handed to the ingestor' });
      expect(handled).toEqual(['guardian/hospital/CT-SAYS/telemetry']);
      await started;
    } finally {
      await device.endAsync();
      await close();
    }
  });

  it('reports ready (what /readyz reads) only once the broker has granted its subscription', async () => {
    const { relay, collector, said, close } = await collectorThroughRelay('ready', { holdMs: 600, ingestor: recording([]) });
    try {
      const started = collector.start();
      await waitFor(() => relay.holding, { what: 'the broker to accept the connection and the subscription to be on its way' });
      expect(collector.connected).toBe(false);
      expect(said('connected to MQTT broker')).toBe(false);
      await started;
      expect(collector.connected).toBe(true);
      expect(said('connected to MQTT broker')).toBe(true);
      expect(relay.sent.get(SUBSCRIBE)).toBe(1);
    } finally {
      await close();
    }
  });

  it('acknowledges a message handled after a wait only once its samples are written to the spool', async () => {
    const spool = new GatedSpool({ dir: join(dir.path, 'spool-late'), segmentBytes: 1 << 20, maxBytes: 1 << 30, fsyncIntervalMs: 0, logger: capturedLogger().logger });
    let appended = false;
    // As the ingestor does for a device's first message: it registers the device (a database
    // write), and only then accepts the samples.
    const registering = (batcher: SampleBatcher) =>
      ({
        handle: () =>
          new Promise((resolve) => setTimeout(resolve, 20)).then(() => {
            batcher.add('CT-LATE', [{ deviceId: 'CT-LATE', metric: 'tube_temp_c', ts: 1_764_000_000_000, value: 41.5 }]);
            appended = true;
          }),
      }) as unknown as Ingestor;
    const { relay, collector, close } = await collectorThroughRelay('late-ack', { ingestor: registering, spool });
    const device = await mqtt.connectAsync(broker.url, { clientId: 'dev-CT-LATE', protocolVersion: 5 });
    try {
      await collector.start();
      await device.publishAsync('guardian/hospital/CT-LATE/telemetry', '{"ts":1764000000000,"metrics":{"tube_temp_c":41.5}}', { qos: 1 });
      await waitFor(() => appended, { what: 'the samples appended after the registration' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The spool has not written them yet: a crash now would lose a message the broker let go.
      expect(spool.uncommitted).toBe(true);
      expect(relay.sent.get(PUBACK) ?? 0).toBe(0);
      spool.letThrough();
      await waitFor(() => relay.sent.get(PUBACK) === 1, { timeoutMs: 5_000, what: 'the acknowledgement after the spool write' });
    } finally {
      spool.letThrough();
      await device.endAsync();
      await close();
    }
  });
});
