import { isIP } from 'node:net';
import { z } from 'zod';
import { FAULT_TYPES } from '../kernel/catalogue/fault-types.js';
import { parseDuration } from '../kernel/time/duration.js';
import { NotifySettingsSchema } from '../notify/settings.js';

/** A duration setting: milliseconds or text such as `30s`, `14d`. */
const duration = (fallback: string) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 0) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 30s, 5m, 2h, 14d)` });
        return z.NEVER;
      }
      return ms;
    });

const port = z.coerce.number().int().min(0).max(65535);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'])]).transform((v) =>
  typeof v === 'boolean' ? v : ['true', '1', 'on', 'yes'].includes(v),
);

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
const isProxyAddress = (text: string) => {
  const [address, prefix, ...rest] = text.split('/');
  if (rest.length > 0 || address === undefined) return false;
  if (prefix === undefined) return isIP(address) !== 0 || PROXY_NAMES.includes(address);
  const bits = Number(prefix);
  return /^\d{1,3}$/.test(prefix) && isIP(address) !== 0 && bits <= (isIP(address) === 4 ? 32 : 128);
};
/** `http.trustProxy`: true/false, or the trusted proxies' addresses (text with commas, or a list). */
const trustProxy = z.union([z.boolean(), z.string(), z.array(z.string())]).transform((value, ctx): boolean | string[] => {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && ['true', 'false'].includes(value.trim())) return value.trim() === 'true';
  const list = (typeof value === 'string' ? value.split(',') : value).map((a) => a.trim()).filter(Boolean);
  const bad = list.filter((a) => !isProxyAddress(a));
  if (list.length === 0 || bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `must be true, false, or proxy addresses / CIDR ranges${bad.length ? ` (not an address: ${bad.join(', ')})` : ''}` });
    return z.NEVER;
  }
  return list;
});

export const ConfigSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        pretty: bool.optional(),
      })
      .prefault({}),
    http: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(8080),
        /**
         * How long an API token's check against the database is reused. Tokens issued or revoked
         * on another engine sharing the database take effect here within this time (at most 5 s).
         */
        tokenCache: duration('2s').refine((ms) => ms <= 5_000, 'must be at most 5s: a revoked token must stop working on every engine within seconds'),
        /**
         * Brake on guessing tokens: a client address that fails authentication this many times
         * within `authFailureWindow` is answered 429 until the window ends.
         */
        authFailureLimit: z.coerce.number().int().min(1).default(10),
        authFailureWindow: duration('1m').refine((ms) => ms >= 1_000, 'must be at least 1s'),
        /**
         * Behind a reverse proxy: which proxies' X-Forwarded-For to believe for the client's
         * address (the failure brake and the logs key on it). false (default): the connecting
         * address; true: every proxy (the left-most forwarded address, which a client can forge);
         * or the proxies' addresses and CIDR ranges (comma-separated or a list; also loopback,
         * linklocal, uniquelocal), so the address is the one the nearest untrusted hop gave.
         */
        trustProxy: trustProxy.default(false),
      })
      .prefault({}),
    /** Bootstrap admin bearer token; unset → generated once and kept in `<dataDir>/admin-token`. */
    adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
    mqtt: z
      .object({
        /** External broker; unset → the embedded broker. */
        url: z
          .string()
          .regex(/^(mqtts?|wss?):\/\//, 'must start with mqtt://, mqtts://, ws:// or wss://')
          .optional(),
        /** Embedded broker's port; when not set explicitly and 1883 is taken, a free port is used. */
        port: port.optional(),
        host: z.string().default('127.0.0.1'),
        username: z.string().optional(),
        password: z.string().optional(),
        /** Fixed client id: the broker keeps this collector's session (and queued messages) under it. Unique per instance. */
        clientId: z.string().min(1).max(64).default('guardian-collector'),
        /**
         * MQTT 5 shared-subscription group: instances with the same group split the telemetry
         * between them (`$share/<group>/…`). External brokers only (Mosquitto ≥ 2, EMQX).
         */
        sharedGroup: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only').optional(),
        /** How long an external broker keeps this collector's session while it is away. */
        sessionExpiry: duration('1d'),
        /** TLS for mqtts:// and wss://: CA, client certificate and key files (PEM). */
        caFile: z.string().optional(),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
        rejectUnauthorized: bool.default(true),
        /** Reconnect back-off: first and longest wait (with ±25 % jitter). */
        reconnectMin: duration('1s'),
        reconnectMax: duration('30s'),
        topicPrefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default('guardian'),
        /**
         * Embedded broker: the secret a device without a credential of its own connects with (user
         * name = its device id) while auto-registration is on. Unset → generated in
         * `<dataDir>/mqtt-enrolment-secret` (mode 0600).
         */
        enrolmentSecret: z.string().min(16, 'must be at least 16 characters').optional(),
        /** Embedded broker: an mqtts listener beside the plain one (certificate and key files, PEM). */
        tls: z
          .strictObject({
            port: port,
            certFile: z.string().min(1),
            keyFile: z.string().min(1),
            /** CA of client certificates (and of the chain sent with ours). */
            caFile: z.string().min(1).optional(),
            /** Accept a client certificate signed by caFile whose common name is a device id as that device's identity. */
            clientCertificates: bool.default(false),
          })
          .refine((t) => !t.clientCertificates || t.caFile !== undefined, { message: 'clientCertificates needs caFile (the CA that signs device certificates)', path: ['caFile'] })
          .optional(),
      })
      .prefault({}),
    /** Telemetry store; InfluxDB is configured by `influx.url`, otherwise SQLite under dataDir. */
    influx: z
      .object({
        url: z.url().optional(),
        /** 2.x/3.x API token, or `user:password` on 1.8+. */
        token: z.string().optional(),
        /** 2.x organisation. */
        org: z.string().optional(),
        /** 2.x/3.x bucket, or the 1.x database (created when missing). */
        bucket: z.string().min(1).default('guardian'),
        /** Database name for InfluxQL reads when it differs from the bucket (2.x DBRP mapping). */
        database: z.string().optional(),
        /** 1.x retention policy to write to; the database's default when unset. */
        retentionPolicy: z.string().optional(),
        /** Write endpoint: probe (`auto`), `v1` (/write) or `v2` (/api/v2/write). */
        writeApi: z.enum(['auto', 'v1', 'v2']).default('auto'),
        /** Gzip write bodies: `auto` compresses unless InfluxDB is on this host (localhost, 127.x, ::1). */
        gzip: z.union([z.literal('auto'), bool]).default('auto'),
      })
      .prefault({}),
    database: z
      .object({
        /** `postgres://…`; unset → SQLite file under dataDir. */
        url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
      })
      .prefault({}),
    /** Fleet file (YAML) of sites and devices registered at start. */
    fleetFile: z.string().optional(),
    /** Accept telemetry from unregistered devices and register them. Default: on in the demo. */
    autoRegister: bool.optional(),
    /** Auto-registration bounds: new devices a minute, and devices registered this way in all. Refused ones are counted. */
    autoRegisterPerMinute: z.coerce.number().int().min(1, 'must be at least 1 (turn auto-registration off with autoRegister: false)').max(100_000).default(30),
    autoRegisterMax: z.coerce.number().int().min(1, 'must be at least 1 (turn auto-registration off with autoRegister: false)').max(1_000_000).default(500),
    simulate: z
      .object({
        /** Run the simulated fleet inside `guardian start`. Default: on unless mqtt.url is set. */
        enabled: bool.optional(),
        seed: z.coerce.number().int().default(42),
        backfill: duration('14d'),
        interval: duration('5s'),
        backfillTick: duration('1m'),
      })
      .prefault({}),
    collector: z
      .object({
        maxPayloadBytes: z.coerce.number().int().positive().default(512 * 1024),
        maxMetricsPerSample: z.coerce.number().int().positive().default(64),
        maxSamplesPerMessage: z.coerce.number().int().positive().default(5_000),
        /** Samples dated further ahead than this are rejected (device clock skew). */
        futureTolerance: duration('5m'),
        /** Unknown metric names: `reject` them as dead letters, or `store` them flagged. */
        unknownMetrics: z.enum(['reject', 'store']).default('reject'),
        /** Values per store write; default 5,000 for SQLite, 20,000 for InfluxDB (fewer, larger HTTP requests). */
        batchSize: z.coerce.number().int().positive().optional(),
        /** Store writes in flight at once; default 1 for SQLite (synchronous anyway), 2 for InfluxDB. */
        maxConcurrentWrites: z.coerce.number().int().min(1).max(64).optional(),
        /** Longest a partial batch waits while a write is in flight. */
        flushInterval: duration('250ms'),
        /**
         * With no write in flight, samples wait this long for company before they are written:
         * fewer, larger writes under load (InfluxDB spends less per point), little added latency.
         */
        linger: duration('25ms'),
        /** Samples held in memory waiting for the store before the collector stops reading. */
        maxBufferedSamples: z.coerce.number().int().positive().default(50_000),
        /**
         * Write-ahead spool under `<dataDir>/spool`: accepted samples are on disk before their
         * message is acknowledged, and survive a crash or a store outage.
         */
        spool: z
          .object({
            enabled: bool.default(true),
            /** Past this, the collector stops acknowledging and the broker holds the messages. */
            maxBytes: z.coerce.number().int().positive().default(1024 * 1024 * 1024),
            segmentBytes: z.coerce.number().int().positive().default(2 * 1024 * 1024),
            /** How often the spool is forced to disk (0: left to the OS; safe against a process crash, not a power cut). */
            fsyncInterval: duration('1s'),
          })
          .prefault({}),
        /** Bytes of a rejected payload kept with its dead letter. */
        deadLetterPayloadBytes: z.coerce.number().int().positive().default(4_096),
        /** Dead letters kept for inspection; older ones are pruned. */
        deadLetterLimit: z.coerce.number().int().positive().default(10_000),
      })
      .prefault({}),
    rules: z
      .object({
        /** Folder of rule packs (*.yaml); default: the packs shipped in rules/packs. */
        dir: z.string().optional(),
        /**
         * How far out of order (per device, event time) a sample may arrive and still be evaluated in
         * timestamp order. A device whose samples arrive in order has them evaluated at once. One that
         * sends a sample older than its newest by up to this much has that sample counted late and its
         * samples held this long from then on, in timestamp order, until it has been in order for 10
         * minutes of its event time; its alerts come this much later meanwhile. Older samples are late
         * either way. 0: never held, every out-of-order sample is late.
         */
        reorderTolerance: duration('2s'),
      })
      .prefault({}),
    workOrders: z
      .object({
        /** After a fault's work order closes, the same fault firing again within this adds to it instead of opening a new one. */
        cooldown: duration('12h'),
        /** Alerts below this grade open no work order. */
        minGrade: z.enum(['minor', 'general', 'severe', 'emergency']).default('minor'),
        /**
         * Self-recovery: a work order of this grade or below that nobody acknowledged (new, notified)
         * closes itself when its alert resolves, recorded as recovered by itself; `none` turns it off.
         */
        closeRecovered: z.enum(['none', 'minor', 'general', 'severe', 'emergency']).default('general'),
        /** How often the response-time clocks are checked for breaches. */
        breachCheck: duration('15s'),
        /** How often firing alerts are checked for a missing work order (a lost alert change). */
        reconcile: duration('60s'),
        /** Alert outbox: polled this often for other processes' changes; a claim holds for `outboxLease`; consumed changes are kept `outboxRetention`. */
        outboxPoll: duration('5s'),
        outboxLease: duration('1m'),
        outboxRetention: duration('7d'),
        /** Repair targets by fault type for severe and emergency faults (tender: tube 24 h, detector 48 h, workstation software 12 h). */
        repairTargets: z.partialRecord(z.enum(FAULT_TYPES), z.union([z.number(), z.string()])).default({ tube: '24h', detector: '48h', software: '12h' }),
      })
      .prefault({}),
    retention: z
      .object({
        raw: duration('30d'),
        rollup: duration('730d'),
        interval: duration('1h'),
      })
      .prefault({}),
    audit: z
      .object({
        /** Audit entries (changes asked of the API, refused requests) older than this are deleted. */
        retention: duration('400d').refine((ms) => ms >= 86_400_000, 'must be at least 1d'),
      })
      .prefault({}),
    silences: z
      .object({
        /**
         * Longest a silence may hold notifications: a one-off window from start to end, a recurring
         * one per window (windows that follow each other without a gap count as one).
         */
        maxDuration: duration('30d').refine((ms) => ms >= 60_000, 'must be at least 1m'),
      })
      .prefault({}),
    /** Pushes to the people on call: channels, people, rosters, escalation (`src/notify/settings.ts`, design §7). */
    notify: NotifySettingsSchema.prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.mqtt.tls && config.mqtt.url) {
      ctx.addIssue({ code: 'custom', path: ['mqtt', 'tls'], message: 'is the embedded broker\'s TLS listener; with an external broker (mqtt.url) configure TLS there' });
    }
    if (config.mqtt.sharedGroup && !config.mqtt.url) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqtt', 'sharedGroup'],
        message: 'needs an external broker (mqtt.url / GUARDIAN_MQTT_URL): the embedded broker has no shared subscriptions',
      });
    }
  });

export type GuardianConfig = z.output<typeof ConfigSchema>;
export type GuardianConfigInput = z.input<typeof ConfigSchema>;
