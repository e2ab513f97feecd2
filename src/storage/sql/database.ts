import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import type { Logger } from 'pino';
import { ConfigError } from '../../config/load.js';
import { migrationProvider, type SqlDialectName } from './migrations.js';
import type { Database } from './schema.js';

export interface SqlDatabase {
  readonly db: Kysely<Database>;
  readonly dialect: SqlDialectName;
  /** Where it lives, for logs (never includes a password). */
  readonly location: string;
  close(): Promise<void>;
}

/** Opens the SQL database for registry, dead letters and (later) alerts and work orders. */
export async function openSqlDatabase(options: { url?: string; sqliteFile: string; logger?: Logger }): Promise<SqlDatabase> {
  if (options.url) {
    throw new ConfigError('database.url (GUARDIAN_DATABASE_URL): PostgreSQL is not supported by this build yet; unset it to use SQLite');
  }
  mkdirSync(dirname(options.sqliteFile), { recursive: true });
  const sqlite = new BetterSqlite3(options.sqliteFile);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return {
    db,
    dialect: 'sqlite',
    location: options.sqliteFile,
    close: () => db.destroy(),
  };
}

/** Brings the schema up to date; returns the names of the migrations applied now. */
export async function migrateToLatest(database: SqlDatabase): Promise<string[]> {
  const migrator = new Migrator({ db: database.db, provider: migrationProvider(database.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
