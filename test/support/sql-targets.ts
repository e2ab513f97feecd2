import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { tempDir } from '../helpers.js';

/** Where a suite's databases come from; `fresh()` gives an empty one each call. */
export interface Target {
  fresh(): Promise<{ url?: string; sqliteFile: string }>;
  cleanup(): Promise<void>;
}

export function sqliteTarget(): Target {
  const dir = tempDir('guardian-sql-');
  let n = 0;
  return {
    fresh: () => Promise.resolve({ sqliteFile: join(dir.path, `db-${++n}`, 'guardian.db') }),
    cleanup: () => Promise.resolve(dir.remove()),
  };
}

/** A schema of its own per database, selected through the URL's search_path; all dropped at the end. */
export function postgresTarget(baseUrl: string): Target {
  const schemas: string[] = [];
  const admin = new pg.Pool({ connectionString: baseUrl, max: 1 });
  return {
    async fresh() {
      const schema = `guardian_t_${randomBytes(6).toString('hex')}`;
      await admin.query(`create schema ${schema}`);
      schemas.push(schema);
      return { url: withSearchPath(baseUrl, schema), sqliteFile: '' };
    },
    async cleanup() {
      for (const schema of schemas.splice(0)) await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    },
  };
}

export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

