import { chmodSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GuardianConfig } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { DeviceCredentialService, passwordFileLine, type IssuedDeviceCredential } from '../devices/credentials.js';
import { ID_PATTERN } from '../kernel/device.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../storage/sql/database.js';
import { DeviceCredentialRepository } from '../storage/sql/device-credential-repository.js';
import { SqlDeviceStore } from '../storage/sql/device-repository.js';
import { UsageError } from './usage.js';

export const CREDENTIAL_FORMATS = ['mosquitto', 'json', 'emqx'] as const;
export type CredentialFormat = (typeof CREDENTIAL_FORMATS)[number];

export interface CredentialsOptions {
  /** Devices to issue (or rotate) a credential for. */
  readonly device?: readonly string[];
  /** Every registered device. */
  readonly all?: boolean;
  /** Devices whose credential to revoke. */
  readonly revoke?: readonly string[];
  /** Print the password file of every live credential from the database; issues nothing. */
  readonly export?: boolean;
  readonly format?: string;
  /** Where the issued passwords go (JSON, mode 0600) with the mosquitto format; default: standard error. */
  readonly secretsOut?: string;
}

/** Opens the engine's SQL database (the same settings as `guardian start`), migrated. */
export async function openEngineDatabase(config: GuardianConfig): Promise<SqlDatabase> {
  const sql = await openSqlDatabase({ ...(config.database.url && { url: config.database.url }), sqliteFile: join(resolve(config.dataDir), 'guardian.db') });
  try {
    await migrateToLatest(sql);
  } catch (error) {
    await sql.close();
    throw error;
  }
  return sql;
}

/** What `guardian devices credentials` writes: to standard output, and the secrets' own stream. */
export interface CredentialsOutput {
  out(text: string): void;
  err(text: string): void;
}

const standardOutput: CredentialsOutput = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/**
 * `guardian devices credentials`: issues (or rotates) devices' MQTT credentials in the engine's
 * database and prints them for the broker — Mosquitto password-file lines (PBKDF2-SHA512, `$7$`),
 * JSON, or EMQX users — or exports the password file of every live credential, or revokes.
 */
export async function runDeviceCredentials(configFile: string | undefined, options: CredentialsOptions, output: CredentialsOutput = standardOutput): Promise<void> {
  const format = (options.format ?? 'mosquitto') as CredentialFormat;
  if (!CREDENTIAL_FORMATS.includes(format)) throw new UsageError(`--format ${options.format} is not one of: ${CREDENTIAL_FORMATS.join(', ')}`);
  const named = [...new Set(options.device ?? [])];
  const revoke = [...new Set(options.revoke ?? [])];
  const actions = [named.length > 0 || options.all === true, revoke.length > 0, options.export === true].filter(Boolean).length;
  if (actions !== 1) throw new UsageError('give one of: --device ID (repeatable) or --all to issue, --revoke ID to revoke, --export to print the password file');
  for (const id of [...named, ...revoke]) if (!ID_PATTERN.test(id)) throw new UsageError(`"${id}" is not a device id (letters, digits, "_", "." or "-", at most 64)`);
  if (options.export && format !== 'mosquitto') throw new UsageError('--export prints a Mosquitto password file; EMQX needs the passwords, which only issuing shows');

  const { config } = loadConfig(configFile ? { file: configFile } : {});
  const sql = await openEngineDatabase(config);
  try {
    const service = new DeviceCredentialService(new DeviceCredentialRepository(sql.db));
    if (options.export) {
      const live = (await service.list()).filter((c) => c.revokedAt === undefined);
      output.out(live.map((c) => `${passwordFileLine(c.username, c.secretHash)}\n`).join(''));
      return;
    }
    if (revoke.length > 0) {
      for (const id of revoke) output.err(`${id}: ${(await service.revoke(id)) ? 'revoked' : 'had no live credential'}\n`);
      return;
    }
    const registered = new Set((await new SqlDeviceStore(sql.db).loadDevices()).map((d) => d.id));
    const ids = options.all ? [...registered].sort() : named;
    const unknown = ids.filter((id) => !registered.has(id));
    if (unknown.length > 0) output.err(`note: not registered (yet): ${unknown.join(', ')} — they can connect, and are accepted once registered or auto-registered\n`);
    const issued: IssuedDeviceCredential[] = [];
    for (const id of ids) issued.push(await service.issue(id, 'cli'));
    write(format, issued, options.secretsOut, output);
  } finally {
    await sql.close();
  }
}

function write(format: CredentialFormat, issued: readonly IssuedDeviceCredential[], secretsOut: string | undefined, output: CredentialsOutput): void {
  if (format === 'json') {
    output.out(`${JSON.stringify(issued.map((c) => ({ deviceId: c.deviceId, username: c.username, password: c.password, rotated: c.rotated, passwordFileLine: passwordFileLine(c.username, c.secretHash) })), null, 2)}\n`);
    return;
  }
  if (format === 'emqx') {
    // One body per line for EMQX's POST /api/v5/authentication/password_based:built_in_database/users.
    output.out(issued.map((c) => `${JSON.stringify({ user_id: c.username, password: c.password, is_superuser: false })}\n`).join(''));
    return;
  }
  output.out(issued.map((c) => `${passwordFileLine(c.username, c.secretHash)}\n`).join(''));
  const secrets = Object.fromEntries(issued.map((c) => [c.deviceId, c.password]));
  if (secretsOut) {
    writeFileSync(secretsOut, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    chmodSync(secretsOut, 0o600);
    output.err(`passwords of ${issued.length} device(s) written to ${secretsOut} (mode 0600); they are not shown again\n`);
  } else {
    output.err(`passwords (shown once; give each to its device):\n${issued.map((c) => `  ${c.deviceId} ${c.password}\n`).join('')}`);
  }
}
