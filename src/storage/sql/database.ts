import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { ConfigError } from '../../kernel/errors.js';
import { keepOwnerOnly } from '../../kernel/private-files.js';
import { migrationProvider, type SqlDialectName } from './migrations.js';
import type { Database } from './schema.js';

export interface SqlDatabase {
  readonly db: Kysely<Database>;
  readonly dialect: SqlDialectName;
  /** Where it lives, for logs (never includes a password). */
  readonly location: string;
  close(): Promise<void>;
}

export interface SqlDatabaseOptions {
  /** `postgres://…`: PostgreSQL; unset: the SQLite file. */
  readonly url?: string;
  readonly sqliteFile: string;
  readonly logger?: Logger;
  /** PostgreSQL connections kept at most. The engine's writes are few and batched, so a handful is enough. */
  readonly poolSize?: number;
  /** How long to wait for a PostgreSQL connection before giving up. */
  readonly connectTimeoutMs?: number;
}

/** PostgreSQL could not be reached at start: a message a person can act on, printed without a stack. */
export class DatabaseUnavailableError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}

/** Opens the SQL database for registry, dead letters, events and alerts. */
export async function openSqlDatabase(options: SqlDatabaseOptions): Promise<SqlDatabase> {
  const database = options.url ? await openPostgres(options.url, options) : openSqlite(options.sqliteFile, options.logger);
  options.logger?.info({ dialect: database.dialect, database: database.location }, 'SQL database opened');
  return database;
}

/** Owner read and write only: the databases hold reporters' names and phone numbers. */
export const DATABASE_FILE_MODE = 0o600;

/**
 * Makes a SQLite database's files owner-only before it is opened. A new database file is created
 * 0600, and SQLite gives its -wal, -shm and -journal files the database file's permissions; files
 * of an existing database that others may read are tightened, with a warning. A file this process
 * may not change is left as it is, with a warning.
 */
export function keepSqliteFilesPrivate(file: string, logger?: Logger): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Created empty when absent (an empty file is an empty database); an existing one is untouched.
  closeSync(openSync(file, 'a', DATABASE_FILE_MODE));
  for (const path of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) keepOwnerOnly(path, DATABASE_FILE_MODE, 'a database file', logger);
}

function openSqlite(file: string, logger?: Logger): SqlDatabase {
  // An in-memory database (tests) has no files.
  if (file !== ':memory:' && file !== '') keepSqliteFilesPrivate(file, logger);
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite', location: file, close: () => db.destroy() };
}

const PG_INT8 = 20;
const PG_NUMERIC = 1700;

/**
 * Column parsers of this pool only (pg's global table stays untouched). PostgreSQL sends BIGINT
 * (epoch milliseconds, identity ids, `count(*)`) and NUMERIC as text because they can exceed a
 * double; the schema keeps them to safe integers, so they are read as numbers, and a value that
 * would lose precision is an error rather than a silently different number.
 */
const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === PG_INT8 && format !== 'binary') {
      return (value: string) => {
        const n = Number(value);
        if (!Number.isSafeInteger(n)) throw new RangeError(`PostgreSQL bigint ${value} is outside JavaScript's safe integer range`);
        return n;
      };
    }
    if (oid === PG_NUMERIC && format !== 'binary') return (value: string) => Number(value);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Connection target as pg resolves it (URL, then PG* variables and defaults), without credentials. */
function describeTarget(url: string): { location: string; target: string } {
  let client: pg.Client;
  try {
    client = new pg.Client({ connectionString: url });
  } catch (error) {
    throw new ConfigError(`database.url (GUARDIAN_DATABASE_URL) is not a valid PostgreSQL URL: ${errorText(error)}`);
  }
  const host = client.host.includes(':') ? `[${client.host}]` : client.host;
  const target = `${host}:${client.port}/${client.database ?? ''}`;
  return { target, location: `postgres://${client.user ? `${encodeURIComponent(client.user)}@` : ''}${target}` };
}

async function openPostgres(url: string, options: SqlDatabaseOptions): Promise<SqlDatabase> {
  const { location, target } = describeTarget(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 5,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    // Shown in pg_stat_activity; an application_name in the URL takes precedence.
    application_name: 'remote-guardian',
    types: pgTypes,
  });
  // A connection that breaks (server restart, network, pg_terminate_backend) emits 'error' on its
  // client; without a listener that ends the process. While the client is idle in the pool the pool
  // also re-emits it; while it is checked out (between a transaction's statements) only the client
  // does, and the statement that uses it next fails and is retried by its caller. Logged once, from
  // the client; the pool replaces the connection on the next query.
  pool.on('connect', (client) => {
    client.on('error', (error) => options.logger?.warn({ err: error, database: location }, 'PostgreSQL connection lost; the pool reconnects on the next query'));
  });
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new DatabaseUnavailableError(`cannot reach PostgreSQL at ${target}: ${errorText(error)}`);
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', location, close: () => db.destroy() };
}

/** One line from a connection error; a refused dual-stack connect is an AggregateError without a message. */
function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return [...new Set(error.errors.map(errorText))].join('; ');
  if (error instanceof Error) return (error.message || (error as NodeJS.ErrnoException).code || error.name).split('\n')[0]!;
  return String(error);
}

/**
 * Brings the schema up to date; returns the names of the migrations applied now. Safe when
 * several processes start at once: on PostgreSQL the migrator holds an advisory lock while it
 * runs, and a process that waited finds the migrations done.
 */
export async function migrateToLatest(database: SqlDatabase): Promise<string[]> {
  const migrator = new Migrator({
    db: database.db,
    provider: migrationProvider(database.dialect),
    // Kysely looks for its bookkeeping tables in every schema unless told which one; name the
    // schema the tables are created in, so another schema of the same database (another
    // installation, another application using Kysely) is not mistaken for this one.
    ...(database.dialect === 'postgres' && { migrationTableSchema: await currentSchema(database) }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

async function currentSchema(database: SqlDatabase): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(database.db);
  const schema = rows[0]?.schema;
  if (!schema) throw new ConfigError(`PostgreSQL at ${database.location}: the search_path names no existing schema to create the tables in`);
  return schema;
}
