import type { Logger } from 'pino';
import { inferModality } from '../src/kernel/catalogue/metrics.js';
import type { DeviceState, RegisteredDevice } from '../src/kernel/device.js';
import type { DeviceDirectory } from '../src/kernel/ports/device-directory.js';
import type { DeviceEventStore } from '../src/kernel/ports/device-event-store.js';
import type { DeadLetterQueue } from './dead-letter-queue.js';
import { decodeEvent, decodeStatus, decodeTelemetry, metricNamesOf, readJsonObject, type DecodeLimits } from './decode.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { Rejection } from './reasons.js';
import type { SampleBatcher } from './sample-batcher.js';
import { parseTopic, type ParsedTopic } from './topic.js';

const TOPIC_CACHE_SIZE = 10_000;

export interface IngestorOptions {
  readonly registry: DeviceDirectory;
  readonly batcher: SampleBatcher;
  readonly deadLetters: DeadLetterQueue;
  /** Where device events go (the event repository, and the rule engine's event-count rules). */
  readonly events: Pick<DeviceEventStore, 'insert'>;
  readonly metrics: IngestMetrics;
  readonly limits: DecodeLimits;
  readonly autoRegister: boolean;
  /**
   * Bounds of auto-registration: new devices a minute (a bucket that refills evenly) and devices
   * registered this way in all. A message of a device refused by them is a dead letter
   * (`unknown_device`) and counted in `guardian_devices_auto_register_refused_total`.
   */
  readonly autoRegisterLimits?: { readonly perMinute: number; readonly max: number };
  readonly topicPrefix: string;
  /** Bytes of a rejected payload kept with its dead letter. */
  readonly deadLetterPayloadBytes: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * The ingest path after the broker: topic → decode and validate → registry → batches for the
 * store, rejections → dead letters. Independent of MQTT so tests and other transports can
 * feed it. `handle` never throws: whatever goes wrong with one message stays with that message.
 */
export class Ingestor {
  private readonly now: () => number;
  /** Status reports of devices not registered yet, applied when they register. */
  private readonly pendingStatus = new Map<string, { state: DeviceState; ts: number }>();
  private readonly registering = new Map<string, Promise<RegisteredDevice | undefined>>();
  /** Topics parsed before: a fleet publishes on a few topics per device, over and over. */
  private readonly topics = new Map<string, ParsedTopic>();
  /** Auto-registrations left in the current bucket, and when it was last refilled. */
  private registrationTokens: number;
  private refilledAt: number;
  /** Devices registered automatically so far (counted against the cap). */
  private autoRegisteredCount: number;

  constructor(private readonly options: IngestorOptions) {
    this.now = options.now ?? Date.now;
    this.registrationTokens = options.autoRegisterLimits?.perMinute ?? 0;
    this.refilledAt = this.now();
    this.autoRegisteredCount = options.autoRegisterLimits ? options.registry.list().filter((d) => d.source === 'auto').length : 0;
  }

  /** Whether one more device may be registered automatically now; counts the refusal when not. */
  private admitRegistration(device: string): Rejection | undefined {
    const limits = this.options.autoRegisterLimits;
    if (!limits) return undefined;
    if (this.autoRegisteredCount + this.registering.size >= limits.max) {
      this.options.metrics.autoRegisterRefused.inc({ reason: 'cap' });
      return {
        reason: 'unknown_device',
        detail: `device ${device} is not registered and ${limits.max} devices were already registered automatically (autoRegisterMax); register it (POST /api/devices)`,
        count: 1,
      };
    }
    const now = this.now();
    this.registrationTokens = Math.min(limits.perMinute, this.registrationTokens + ((now - this.refilledAt) * limits.perMinute) / 60_000);
    this.refilledAt = now;
    if (this.registrationTokens < 1) {
      this.options.metrics.autoRegisterRefused.inc({ reason: 'rate' });
      return {
        reason: 'unknown_device',
        detail: `device ${device} is not registered and more than ${limits.perMinute} devices a minute ask to be registered automatically (autoRegisterPerMinute); it is registered when it sends again later`,
        count: 1,
      };
    }
    this.registrationTokens -= 1;
    return undefined;
  }

  /**
   * Handles one message. Returns undefined when it was handled synchronously — the common case,
   * telemetry of a registered device — so the caller can acknowledge it at once; otherwise a
   * promise that settles when the message is done (events and status go to the database).
   */
  handle(topic: string, payload: Uint8Array): Promise<void> | undefined {
    try {
      return this.route(topic, payload)?.catch((error: unknown) => this.internalError(topic, payload, error));
    } catch (error) {
      this.internalError(topic, payload, error);
      return undefined;
    }
  }

  private internalError(topic: string, payload: Uint8Array, error: unknown): void {
    this.options.logger.error({ err: error, topic }, 'unexpected error while ingesting a message');
    this.reject(topic, payload, undefined, { reason: 'internal_error', detail: `${(error as Error).message}`, count: 1 });
  }

  private route(topic: string, payload: Uint8Array): Promise<void> | undefined {
    let parsed = this.topics.get(topic);
    if (parsed === undefined) {
      const result = parseTopic(topic, this.options.topicPrefix);
      if ('error' in result) {
        this.options.metrics.messages.inc({ kind: 'invalid' });
        this.reject(topic, payload, undefined, { reason: 'bad_topic', detail: result.error, count: 1 });
        return undefined;
      }
      // Bounded: anyone may publish on any number of well-formed topics.
      if (this.topics.size >= TOPIC_CACHE_SIZE) this.topics.clear();
      this.topics.set(topic, result);
      parsed = result;
    }
    if (parsed.kind === 'telemetry') this.options.metrics.telemetryMessages.inc();
    else this.options.metrics.messages.inc({ kind: parsed.kind });
    const read = readJsonObject(payload, this.options.limits.maxPayloadBytes);
    if (!read.ok) {
      this.reject(topic, payload, parsed, read.rejection);
      return undefined;
    }
    const body = read.body;
    const now = this.now();
    if (parsed.kind === 'status') return this.handleStatus(topic, payload, parsed, body, now);

    const known = this.options.registry.get(parsed.device);
    if (known && known.site === parsed.site) return this.handleDeviceMessage(topic, payload, parsed, known, body, now);
    return this.resolveDevice(parsed, body).then((device) =>
      'rejection' in device ? this.reject(topic, payload, parsed, device.rejection) : this.handleDeviceMessage(topic, payload, parsed, device, body, now),
    );
  }

  private async handleStatus(topic: string, payload: Uint8Array, parsed: ParsedTopic, body: Record<string, unknown>, now: number): Promise<void> {
    const status = decodeStatus(body, now, this.options.limits);
    if (!status.ok) return this.reject(topic, payload, parsed, status.rejection);
    const device = this.options.registry.get(parsed.device);
    if (!device) {
      if (!this.options.autoRegister) return this.reject(topic, payload, parsed, unknownDevice(parsed));
      // Retained status usually arrives before the first telemetry that registers the device.
      if (this.pendingStatus.size < 10_000) this.pendingStatus.set(parsed.device, { state: status.state, ts: status.ts });
      return;
    }
    if (device.site !== parsed.site) return this.reject(topic, payload, parsed, siteMismatch(device, parsed));
    await this.options.registry.recordStatus(device.id, status.state, status.ts, now);
  }

  private handleDeviceMessage(
    topic: string,
    payload: Uint8Array,
    parsed: ParsedTopic,
    device: RegisteredDevice,
    body: Record<string, unknown>,
    now: number,
  ): Promise<void> | undefined {
    if (parsed.kind === 'event') {
      const event = decodeEvent(body, device.id, now, this.options.limits);
      if (!event.ok) {
        this.reject(topic, payload, parsed, event.rejection);
        return undefined;
      }
      this.options.registry.touch(device.id, event.event.ts);
      return this.options.events.insert([event.event], now);
    }

    const decoded = decodeTelemetry(body, device.id, device.modality, now, this.options.limits);
    for (const rejection of decoded.rejections) this.reject(topic, payload, parsed, rejection);
    if (decoded.samples.length > 0) {
      this.options.batcher.add(device.id, decoded.samples);
      this.options.metrics.points.inc(decoded.samples.length);
      let newest = 0;
      for (const s of decoded.samples) if (s.ts > newest) newest = s.ts;
      this.options.metrics.samples.inc(decoded.acceptedSamples);
      this.options.registry.touch(device.id, newest);
    }
    return decoded.flaggedMetrics.length > 0 ? this.options.registry.flagUnknownMetrics(device.id, decoded.flaggedMetrics) : undefined;
  }

  /** The registered device of a telemetry/event message, registering it when allowed. */
  private async resolveDevice(topic: ParsedTopic, body: Record<string, unknown>): Promise<RegisteredDevice | { rejection: Rejection }> {
    const known = this.options.registry.get(topic.device);
    if (known) return known.site === topic.site ? known : { rejection: siteMismatch(known, topic) };
    if (!this.options.autoRegister) return { rejection: unknownDevice(topic) };
    const modality = inferModality(metricNamesOf(body));
    if (!modality) {
      return {
        rejection: {
          reason: 'unknown_device',
          detail: `device ${topic.device} is not registered and its metrics name no known modality; register it (POST /api/devices)`,
          count: 1,
        },
      };
    }
    let registering = this.registering.get(topic.device);
    if (!registering) {
      const refused = this.admitRegistration(topic.device);
      if (refused) return { rejection: refused };
      registering = this.autoRegister(topic, modality).finally(() => this.registering.delete(topic.device));
      this.registering.set(topic.device, registering);
    }
    const device = await registering;
    return device ?? { rejection: unknownDevice(topic) };
  }

  private async autoRegister(topic: ParsedTopic, modality: 'CT' | 'MR'): Promise<RegisteredDevice | undefined> {
    try {
      const device = await this.options.registry.upsert({ id: topic.device, site: topic.site, modality, vendor: 'unknown', model: 'unknown' }, 'auto');
      this.options.metrics.autoRegistered.inc();
      this.autoRegisteredCount++;
      this.options.logger.info({ device: device.id, site: device.site, modality }, 'registered a new device from its first telemetry');
      const status = this.pendingStatus.get(topic.device);
      if (status) {
        this.pendingStatus.delete(topic.device);
        await this.options.registry.recordStatus(device.id, status.state, status.ts);
      }
      return this.options.registry.get(device.id);
    } catch (error) {
      this.options.logger.error({ err: error, device: topic.device }, 'auto-registration failed');
      return undefined;
    }
  }

  private reject(topic: string, payload: Uint8Array, parsed: ParsedTopic | undefined, rejection: Rejection): void {
    // Only registered ids become label values: anyone can publish to any topic, and every new
    // label value is a new series in /metrics.
    const device = parsed && this.options.registry.get(parsed.device) ? parsed.device : '';
    this.options.metrics.rejected.inc({ reason: rejection.reason, device }, rejection.count);
    const limit = this.options.deadLetterPayloadBytes;
    const text = Buffer.from(payload.buffer, payload.byteOffset, Math.min(payload.byteLength, limit)).toString('utf8');
    this.options.deadLetters.add({
      receivedAt: this.now(),
      reason: rejection.reason,
      detail: rejection.count > 1 ? `${rejection.count}×: ${rejection.detail}` : rejection.detail,
      topic: topic.slice(0, 500),
      ...(parsed && { site: parsed.site, deviceId: parsed.device }),
      payload: text,
      payloadBytes: payload.byteLength,
    });
  }
}

function unknownDevice(topic: ParsedTopic): Rejection {
  return { reason: 'unknown_device', detail: `device ${topic.device} is not registered (POST /api/devices or a fleet file)`, count: 1 };
}

function siteMismatch(device: RegisteredDevice, topic: ParsedTopic): Rejection {
  return { reason: 'site_mismatch', detail: `device ${device.id} is registered at site ${device.site}, the topic names ${topic.site}`, count: 1 };
}
