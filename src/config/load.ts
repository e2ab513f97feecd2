import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../kernel/errors.js';
import { ConfigSchema, type GuardianConfig } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'guardian.config.yaml';

/** Environment variables and the setting each one overrides (design §8). */
const ENV_SETTINGS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['GUARDIAN_DATA_DIR', ['dataDir']],
  ['GUARDIAN_LOG_LEVEL', ['log', 'level']],
  ['GUARDIAN_HTTP_HOST', ['http', 'host']],
  ['GUARDIAN_HTTP_PORT', ['http', 'port']],
  ['GUARDIAN_HTTP_TOKEN_CACHE', ['http', 'tokenCache']],
  ['GUARDIAN_HTTP_TRUST_PROXY', ['http', 'trustProxy']],
  ['GUARDIAN_HTTP_AUTH_FAILURE_LIMIT', ['http', 'authFailureLimit']],
  ['GUARDIAN_HTTP_AUTH_FAILURE_WINDOW', ['http', 'authFailureWindow']],
  ['GUARDIAN_ADMIN_TOKEN', ['adminToken']],
  ['GUARDIAN_MQTT_URL', ['mqtt', 'url']],
  ['GUARDIAN_MQTT_PORT', ['mqtt', 'port']],
  ['GUARDIAN_MQTT_USERNAME', ['mqtt', 'username']],
  ['GUARDIAN_MQTT_PASSWORD', ['mqtt', 'password']],
  ['GUARDIAN_MQTT_CLIENT_ID', ['mqtt', 'clientId']],
  ['GUARDIAN_MQTT_SHARED_GROUP', ['mqtt', 'sharedGroup']],
  ['GUARDIAN_MQTT_CA_FILE', ['mqtt', 'caFile']],
  ['GUARDIAN_MQTT_CERT_FILE', ['mqtt', 'certFile']],
  ['GUARDIAN_MQTT_KEY_FILE', ['mqtt', 'keyFile']],
  ['GUARDIAN_MQTT_ENROLMENT_SECRET', ['mqtt', 'enrolmentSecret']],
  ['GUARDIAN_MQTT_TLS_PORT', ['mqtt', 'tls', 'port']],
  ['GUARDIAN_MQTT_TLS_CERT_FILE', ['mqtt', 'tls', 'certFile']],
  ['GUARDIAN_MQTT_TLS_KEY_FILE', ['mqtt', 'tls', 'keyFile']],
  ['GUARDIAN_MQTT_TLS_CA_FILE', ['mqtt', 'tls', 'caFile']],
  ['GUARDIAN_MQTT_TLS_CLIENT_CERTIFICATES', ['mqtt', 'tls', 'clientCertificates']],
  ['GUARDIAN_INFLUX_URL', ['influx', 'url']],
  ['GUARDIAN_INFLUX_TOKEN', ['influx', 'token']],
  ['GUARDIAN_INFLUX_ORG', ['influx', 'org']],
  ['GUARDIAN_INFLUX_BUCKET', ['influx', 'bucket']],
  ['GUARDIAN_INFLUX_DATABASE', ['influx', 'database']],
  ['GUARDIAN_DATABASE_URL', ['database', 'url']],
  ['GUARDIAN_FLEET_FILE', ['fleetFile']],
  ['GUARDIAN_RULES_DIR', ['rules', 'dir']],
  ['GUARDIAN_RULES_REORDER_TOLERANCE', ['rules', 'reorderTolerance']],
  ['GUARDIAN_NOTIFY_ENABLED', ['notify', 'enabled']],
  ['GUARDIAN_NOTIFY_PUBLIC_URL', ['notify', 'publicUrl']],
  ['GUARDIAN_NOTIFY_LINK_SECRET', ['notify', 'linkSecret']],
  ['GUARDIAN_WORK_ORDER_COOLDOWN', ['workOrders', 'cooldown']],
  ['GUARDIAN_WORK_ORDER_MIN_GRADE', ['workOrders', 'minGrade']],
  ['GUARDIAN_WORK_ORDER_CLOSE_RECOVERED', ['workOrders', 'closeRecovered']],
  ['GUARDIAN_SIMULATE', ['simulate', 'enabled']],
  ['GUARDIAN_SIMULATE_SEED', ['simulate', 'seed']],
  ['GUARDIAN_AUTO_REGISTER', ['autoRegister']],
  ['GUARDIAN_AUDIT_RETENTION', ['audit', 'retention']],
  ['GUARDIAN_SILENCES_MAX_DURATION', ['silences', 'maxDuration']],
  ['GUARDIAN_AUTO_REGISTER_PER_MINUTE', ['autoRegisterPerMinute']],
  ['GUARDIAN_AUTO_REGISTER_MAX', ['autoRegisterMax']],
];

function envNameFor(path: readonly PropertyKey[]): string | undefined {
  const key = path.join('.');
  return ENV_SETTINGS.find(([, p]) => p.join('.') === key)?.[0];
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export interface LoadedConfig {
  readonly config: GuardianConfig;
  /** The config file read, if any. */
  readonly file?: string;
  /** Settings given explicitly (file or environment), as dotted paths. */
  readonly explicit: ReadonlySet<string>;
}

function collectPaths(value: unknown, prefix: string[], out: Set<string>): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    out.add(prefix.join('.'));
    return;
  }
  for (const [k, v] of Object.entries(value)) collectPaths(v, [...prefix, k], out);
}

/**
 * Reads the config file (explicit path, or `guardian.config.yaml` in the working directory when
 * present), applies environment overrides and validates the result.
 */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Record<string, unknown> } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  let file: string | undefined;
  let raw: Record<string, unknown> = {};
  if (options.file) {
    file = resolve(options.file);
    if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  } else if (existsSync(DEFAULT_CONFIG_FILE)) {
    file = resolve(DEFAULT_CONFIG_FILE);
  }
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a mapping of settings`);
      raw = parsed as Record<string, unknown>;
    }
  }
  for (const [name, path] of ENV_SETTINGS) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, value);
  }
  for (const [dotted, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) setPath(raw, dotted.split('.'), value);
  }
  const explicit = new Set<string>();
  collectPaths(raw, [], explicit);

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(result.error, file));
  return file ? { config: result.data, file, explicit } : { config: result.data, explicit };
}

function describeIssues(error: z.ZodError, file: string | undefined): string {
  const lines = error.issues.map((issue) => {
    const setting = issue.path.join('.') || '(root)';
    const envName = envNameFor(issue.path);
    const where = envName ? `${setting} (${envName})` : setting;
    const message = issue.code === 'unrecognized_keys' ? `unknown setting(s) ${issue.keys.join(', ')}` : issue.message;
    return `  - ${where}: ${message}`;
  });
  return `invalid configuration${file ? ` in ${file} or the environment` : ''}:\n${lines.join('\n')}`;
}
