import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import type { GuardianConfig } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { formatLocalMinute } from '../kernel/alerts.js';
import { ID_PATTERN } from '../kernel/device.js';
import { GRADE_LABELS, GRADES, type Grade } from '../kernel/grades.js';
import { formatDuration } from '../kernel/time/duration.js';
import { ISO_INSTANT_EXAMPLE, parseIsoInstant } from '../kernel/time/instant.js';
import { DEFAULT_TIME_ZONE } from '../kernel/time/zone.js';
import { createChannel } from '../notify/channels/index.js';
import { chainFor, resolveTarget, type ChainTarget } from '../notify/escalation.js';
import { storedToOverride } from '../notify/notifier.js';
import { compileRoster, onCallAt, rotationFor } from '../notify/oncall.js';
import { ONCALL_ROLES } from '../notify/roster-schema.js';
import { NotifyError, sendTest } from '../notify/service.js';
import type { StoredOverride } from '../notify/store.js';
import { sampleNotification } from '../notify/templates.js';
import type { Recipient } from '../notify/types.js';
import { openSqlDatabase, type SqlDatabase } from '../storage/sql/database.js';
import { SqlNotificationStore } from '../storage/sql/notification-repository.js';
import { UsageError } from './usage.js';

/** Where `guardian notify` writes: the answer, and notes about what it could not read. */
export interface NotifyOutput {
  out(text: string): void;
  err(text: string): void;
}

const standardOutput: NotifyOutput = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

function load(configFile: string | undefined): GuardianConfig {
  return loadConfig(configFile ? { file: configFile } : {}).config;
}

export interface NotifyTestOptions {
  readonly channel?: string;
  /** A person of notify.people; default: the first who uses the channel. */
  readonly to?: string;
}

/**
 * `guardian notify test --channel ID [--to PERSON]`: sends the sample message (an emergency on an
 * MR scanner, marked as a test) on one configured channel and prints what the receiver answered
 * in one line. Returns the exit code: 0 delivered, 1 refused or unreachable receiver; a command
 * line it cannot act on (no such channel or person) throws UsageError (exit 2).
 */
export async function runNotifyTest(configFile: string | undefined, options: NotifyTestOptions, output: NotifyOutput = standardOutput): Promise<number> {
  if (options.channel === undefined) throw new UsageError('give --channel ID: one of notify.channels');
  if (!ID_PATTERN.test(options.channel)) throw new UsageError(`"${options.channel}" is not a channel id`);
  if (options.to !== undefined && !ID_PATTERN.test(options.to)) throw new UsageError(`"${options.to}" is not a person id`);
  const settings = load(configFile).notify;
  const config = settings.channels[options.channel];
  if (!config) {
    const known = Object.keys(settings.channels);
    throw new UsageError(`no channel "${options.channel}" in notify.channels${known.length > 0 ? `; configured: ${known.join(', ')}` : ' (none is configured)'}`);
  }
  // Warnings of the channel (a bad setting it worked around) go to standard error; the answer is the one line.
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const channel = createChannel(options.channel, config, { logger, language: settings.language });
  let recipient: Recipient | undefined;
  try {
    const result = await sendTest(settings, channel, options.to, (to) => {
      recipient = to;
      return sampleNotification({ recipient: to, deliveryId: `test-cli-${Date.now().toString(36)}`, language: settings.language, ...(settings.publicUrl !== undefined && { publicUrl: settings.publicUrl }) });
    });
    const who = recipient ? `${recipient.name} (${recipient.id})` : 'nobody';
    const where = `${config.type} channel ${options.channel}`;
    if (result.ok) {
      output.out(`ok: test message sent on ${where} to ${who}${result.status !== undefined ? ` — answered ${result.status}` : ''}${result.detail ? ` ${result.detail}` : ''}\n`);
      return 0;
    }
    const status = result.status !== undefined ? ` ${result.status}` : '';
    output.out(`failed: test message on ${where} to ${who} —${status} ${result.error}${result.retryable ? ' (temporary: worth trying again)' : ''}\n`);
    return 1;
  } catch (error) {
    if (error instanceof NotifyError) throw new UsageError(error.message);
    throw error;
  } finally {
    await channel.close?.().catch(() => undefined);
  }
}

export interface NotifyOnCallOptions {
  readonly site?: string;
  /** ISO-8601 with a zone; default now. */
  readonly at?: string;
  readonly grade?: string;
}

/** The overrides made through the API, read from the engine's database when it can be reached. */
async function storedOverrides(config: GuardianConfig): Promise<{ overrides: StoredOverride[]; note: string }> {
  const url = config.database.url;
  const sqliteFile = join(resolve(config.dataDir), 'guardian.db');
  // A command that only reads creates no database.
  if (!url && !existsSync(sqliteFile)) return { overrides: [], note: `no database yet at ${sqliteFile}: only the config file's overrides count` };
  let sql: SqlDatabase;
  try {
    sql = await openSqlDatabase({ ...(url && { url }), sqliteFile, connectTimeoutMs: 5_000 });
  } catch (error) {
    return { overrides: [], note: `overrides made through the API are not included: the database cannot be reached (${(error as Error).message})` };
  }
  try {
    const overrides = await new SqlNotificationStore(sql.db, sql.dialect).overrides();
    return { overrides, note: `${overrides.length} override(s) made through the API read from ${sql.location}` };
  } catch (error) {
    return { overrides: [], note: `overrides made through the API are not included: reading them from ${sql.location} failed (${(error as Error).message}); is the database migrated (guardian migrate)?` };
  } finally {
    await sql.close();
  }
}

const delay = (ms: number) => (ms === 0 ? '0m' : formatDuration(ms));
const pad = (text: string, width: number) => text + ' '.repeat(Math.max(1, width - [...text].length));

/**
 * `guardian notify oncall --site S [--at ISO] [--grade G]`: who is on call at a site per role and
 * the escalation chain of each grade (or one), from the config file's rosters and the overrides
 * made through the API (read from the database when it can be reached; a note says when not).
 */
export async function runNotifyOnCall(configFile: string | undefined, options: NotifyOnCallOptions, output: NotifyOutput = standardOutput): Promise<number> {
  const site = options.site;
  if (site === undefined) throw new UsageError('give --site SITE: the site id');
  if (!ID_PATTERN.test(site)) throw new UsageError(`"${site}" is not a site id`);
  const at = options.at === undefined ? Date.now() : parseIsoInstant(options.at);
  if (at === undefined) throw new UsageError(`--at ${options.at} is not an ISO-8601 time with a zone, e.g. ${ISO_INSTANT_EXAMPLE}`);
  if (options.grade !== undefined && !(GRADES as readonly string[]).includes(options.grade)) throw new UsageError(`--grade ${options.grade} is not one of: ${GRADES.join(', ')}`);
  const grades: Grade[] = options.grade === undefined ? [...GRADES].reverse() : [options.grade as Grade];

  const config = load(configFile);
  const settings = config.notify;
  const { overrides, note } = await storedOverrides(config);
  const roster = compileRoster({ ...settings, overrides: [...settings.overrides, ...overrides.map(storedToOverride)] });
  const zone = rotationFor(roster, site, 'primary')?.zone ?? DEFAULT_TIME_ZONE;
  const time = (ms: number) => formatLocalMinute(zone, ms);
  const nameOf = (person: string) => settings.people[person]?.name ?? person;
  const who = (t: ChainTarget) => (t.person === undefined ? `— (${t.missing ?? 'nobody'})` : `${nameOf(t.person)} (${t.person})${t.ref !== t.person ? ` as ${t.ref}` : ''}`);

  const lines: string[] = [];
  lines.push(`On call at ${site}, ${time(at)} ${zone} / 值班`);
  if (settings.rotations.length === 0) lines.push('  no rotation is configured (notify.rotations)');
  for (const role of ONCALL_ROLES) {
    const target = resolveTarget(roster, settings.people, site, role, at);
    const onCall = onCallAt(roster, site, at, role);
    const parts: string[] = [];
    if (target.rotation !== undefined) parts.push(`rotation ${target.rotation}`);
    if (onCall) parts.push(`shift ${time(onCall.shift.start)} → ${time(onCall.shift.end)}`);
    else if (target.person !== undefined && role === 'secondary') parts.push('next in the primary rotation');
    if (target.override) parts.push(`${target.override.kind} override ${target.override.id}${target.scheduled !== undefined ? ` instead of ${nameOf(target.scheduled)}` : ''}`);
    const person = target.person === undefined ? `— ${target.missing ?? ''}`.trimEnd() : `${nameOf(target.person)} (${target.person})`;
    lines.push(`  ${pad(role, 12)}${pad(person, 24)}${parts.join(', ')}`.trimEnd());
  }
  lines.push('Escalation / 升级链');
  for (const grade of grades) {
    const label = GRADE_LABELS[grade];
    const chain = chainFor(settings, roster, site, grade, at);
    if (chain.digest) {
      const primary = resolveTarget(roster, settings.people, site, 'primary', at);
      lines.push(`  ${grade} ${label.zh}: no call; the morning digest at ${settings.digest.at} (site time) to ${who(primary)}`);
      continue;
    }
    lines.push(`  ${grade} ${label.zh}`);
    for (const step of chain.steps) {
      const channels = Array.isArray(step.channels) ? step.channels.join(', ') : step.channels;
      lines.push(`    ${pad(`+${delay(step.afterMs)}`, 7)}${pad(time(step.at), 18)}${step.to.map(who).join('; ')}  [channels: ${channels}]`);
    }
    if (chain.repeat) lines.push(`    then the last step again every ${delay(chain.repeat.everyMs)}, ${chain.repeat.times} time(s), until someone acknowledges`);
  }
  output.out(`${lines.join('\n')}\n`);
  output.err(`note: ${note}\n`);
  return 0;
}
