import { join, resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import { migrateToLatest, openSqlDatabase } from '../storage/sql/database.js';

export async function runMigrate(configFile: string | undefined): Promise<void> {
  const { config } = loadConfig(configFile ? { file: configFile } : {});
  const sql = await openSqlDatabase({ ...(config.database.url && { url: config.database.url }), sqliteFile: join(resolve(config.dataDir), 'guardian.db') });
  try {
    const applied = await migrateToLatest(sql);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : `database ${sql.location} is up to date`);
  } finally {
    await sql.close();
  }
}
