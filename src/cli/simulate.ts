import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { loadConfig } from '../config/load.js';
import type { GuardianConfig } from '../config/schema.js';
import { readSecretFile } from '../kernel/private-files.js';
import { DeviceCredentialService } from '../devices/credentials.js';
import { DeviceCredentialRepository } from '../storage/sql/device-credential-repository.js';
import { openEngineDatabase } from './devices.js';
import { parseDuration } from '../kernel/time/duration.js';
import { createLogger } from '../app/log.js';
import { readFleetFile } from '../devices/fleet-file.js';
import { DEMO_FLEET, type SimulatedDeviceLike } from '../../simulators/fleet.js';
import { startSimulator } from '../../simulators/publisher.js';
import { SCENARIOS, scenarioNames } from '../../simulators/scenarios/index.js';
import { UsageError } from './usage.js';

function duration(flag: string, text: unknown, min: number): number {
  const ms = parseDuration(String(text));
  if (ms === undefined || ms < min) throw new UsageError(`--${flag} "${String(text)}" must be a duration of at least ${min} ms (e.g. 5s, 1m, 14d)`);
  return ms;
}

/**
 * The device list to simulate: a fleet file or the demo fleet; `--devices N` repeats it with
 * numbered ids; `--scenario` puts every device of the scenario's modality on that scenario.
 */
export function simulatedDevices(options: { fleet?: string; devices?: string; scenario?: string; onset?: string }): SimulatedDeviceLike[] {
  let devices: SimulatedDeviceLike[] = options.fleet ? readFleetFile(options.fleet).devices : DEMO_FLEET.devices;
  const scenario = options.scenario ? SCENARIOS[options.scenario] : undefined;
  if (options.scenario && !scenario) throw new UsageError(`--scenario ${options.scenario} is not one of: ${scenarioNames.join(', ')}`);
  if (scenario && scenario.modality !== 'any') devices = devices.filter((d) => d.modality === scenario.modality);
  if (options.devices !== undefined) {
    const count = Number(options.devices);
    if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new UsageError(`--devices must be a whole number from 1 to 10000`);
    const templates = devices;
    devices = Array.from({ length: count }, (_, i) => {
      const template = templates[i % templates.length]!;
      return { ...template, id: `${template.id}-${String(i + 1).padStart(3, '0')}` };
    });
  }
  if (scenario) {
    devices = devices.map((d) => ({ ...d, simulation: { scenario: scenario.name, ...(options.onset && { onset: options.onset }) } }));
  }
  return devices;
}

const CredentialsFile = z.union([
  z.record(z.string(), z.string().min(1)),
  z.array(z.object({ deviceId: z.string(), password: z.string().min(1) })).transform((list) => Object.fromEntries(list.map((c) => [c.deviceId, c.password]))),
]);

/** Devices' passwords from a file: `{"<id>": "<password>"}` or `guardian devices credentials --format json`'s list. */
export function readCredentialsFile(file: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--credentials ${file}: ${(error as Error).message}`);
  }
  const result = CredentialsFile.safeParse(parsed);
  if (!result.success) throw new UsageError(`--credentials ${file}: expected {"<device id>": "<password>"} or the JSON list of guardian devices credentials --format json`);
  return result.data;
}

/** Who issued a credential the simulator may replace: the demo and the simulator themselves, never a person. */
const SIMULATED_ISSUERS = new Set(['demo', 'simulate']);

/**
 * Each simulated device's MQTT identity on the engine's embedded broker (which refuses anonymous
 * clients), from the engine's data directory and database: a device with no credential enrols
 * with the enrolment secret when auto-registration is on; otherwise it is issued a credential
 * (replacing one the demo or the simulator issued). A credential a person issued is not replaced:
 * pass it with --credentials.
 */
async function embeddedBrokerCredentials(config: GuardianConfig, ids: readonly string[], logger: Logger): Promise<Record<string, string>> {
  const enrolment = config.mqtt.enrolmentSecret ?? readSecretFile(join(resolve(config.dataDir), 'mqtt-enrolment-secret'));
  const local = config.database.url !== undefined || existsSync(join(resolve(config.dataDir), 'guardian.db'));
  if (!local) {
    if (enrolment === undefined) throw new UsageError(`no engine database or enrolment secret under ${resolve(config.dataDir)}: run guardian simulate with the engine's configuration, or pass --credentials`);
    return Object.fromEntries(ids.map((id) => [id, enrolment]));
  }
  const sql = await openEngineDatabase(config);
  try {
    const service = new DeviceCredentialService(new DeviceCredentialRepository(sql.db));
    const passwords: Record<string, string> = {};
    for (const id of ids) {
      const held = await service.get(id);
      if (!held && enrolment !== undefined) passwords[id] = enrolment;
      else if (!held || held.revokedAt !== undefined || SIMULATED_ISSUERS.has(held.createdBy)) passwords[id] = (await service.issue(id, 'simulate')).password;
      else logger.error({ device: id, issuedBy: held.createdBy }, 'device holds a credential issued by a person; pass its password with --credentials (it is not replaced)');
    }
    return passwords;
  } finally {
    await sql.close();
  }
}

/** `guardian simulate`: publish a simulated fleet to any broker until Ctrl-C. */
export async function runSimulate(configFile: string | undefined, opts: Record<string, string | boolean | undefined>): Promise<void> {
  if (opts.listScenarios) {
    for (const name of scenarioNames) {
      const s = SCENARIOS[name]!;
      console.log(`${name.padEnd(22)} ${s.modality.padEnd(4)} ${s.description.zh} — ${s.description.en}`);
    }
    return;
  }
  const { config } = loadConfig(configFile ? { file: configFile } : {});
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty ?? process.stdout.isTTY });
  const url = (opts.url as string | undefined) ?? config.mqtt.url ?? `mqtt://127.0.0.1:${config.mqtt.port ?? 1883}`;
  const devices = simulatedDevices({
    ...(typeof opts.fleet === 'string' && { fleet: opts.fleet }),
    ...(typeof opts.devices === 'string' && { devices: opts.devices }),
    ...(typeof opts.scenario === 'string' && { scenario: opts.scenario }),
    ...(typeof opts.onset === 'string' && { onset: opts.onset }),
  });
  if (devices.length === 0) throw new UsageError('no devices to simulate (a CT scenario with an MR-only fleet?)');
  const seed = Number(opts.seed ?? 42);
  if (!Number.isInteger(seed)) throw new UsageError('--seed must be a whole number');
  // The engine's embedded broker authenticates every device; an external one takes mqtt.username/password.
  const external = config.mqtt.url !== undefined && url === config.mqtt.url;
  const passwords =
    typeof opts.credentials === 'string'
      ? readCredentialsFile(opts.credentials)
      : external
        ? undefined
        : await embeddedBrokerCredentials(config, devices.map((d) => d.id), logger);

  const simulator = await startSimulator({
    url,
    // The engine subscribes under mqtt.topicPrefix: publish there, or nothing is ingested.
    topicPrefix: config.mqtt.topicPrefix,
    devices,
    seed,
    backfillMs: duration('backfill', opts.backfill ?? '14d', 0),
    backfillTickMs: duration('backfill-tick', opts.backfillTick ?? '1m', 1000),
    intervalMs: duration('interval', opts.interval ?? '5s', 100),
    protocolVersion: url === config.mqtt.url ? 5 : 4,
    ...(config.mqtt.username !== undefined && { username: config.mqtt.username }),
    ...(config.mqtt.password !== undefined && { password: config.mqtt.password }),
    ...(passwords && { credentialsFor: (id: string) => (passwords[id] !== undefined ? { username: id, password: passwords[id] } : undefined) }),
    ...(typeof opts.stateFile === 'string' && { stateFile: opts.stateFile }),
    logger,
  });
  logger.info({ url, topicPrefix: config.mqtt.topicPrefix, devices: devices.length, seed }, 'simulated fleet publishing; Ctrl-C stops');
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
    simulator
      .stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
