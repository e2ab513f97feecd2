import type { ColumnDefinitionBuilder, Kysely, Migration, MigrationProvider } from 'kysely';

/**
 * Schema migrations, in order. Each is written once with Kysely's schema builder so the same
 * code creates the schema on SQLite and PostgreSQL. Never edit a migration that has shipped:
 * add a new one.
 */
export type SqlDialectName = 'sqlite' | 'postgres';

function buildMigrations(dialect: SqlDialectName): Record<string, Migration> {
  // An auto-numbered key: SQLite's rowid alias versus a PostgreSQL identity column.
  const serial = (c: ColumnDefinitionBuilder) =>
    dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedByDefaultAsIdentity();
  return {
  '0001_registry_and_ingest': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sites')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(200)', (c) => c.notNull())
        .addColumn('name_en', 'varchar(200)')
        .addColumn('timezone', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('devices')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('site', 'varchar(64)', (c) => c.notNull().references('sites.id'))
        .addColumn('modality', 'varchar(8)', (c) => c.notNull())
        .addColumn('vendor', 'varchar(100)', (c) => c.notNull())
        .addColumn('model', 'varchar(100)', (c) => c.notNull())
        .addColumn('serial', 'varchar(100)')
        .addColumn('install_date', 'varchar(10)')
        .addColumn('name', 'varchar(200)')
        .addColumn('department', 'varchar(100)')
        .addColumn('floor', 'varchar(20)')
        .addColumn('room', 'varchar(50)')
        .addColumn('source', 'varchar(16)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('status', 'varchar(16)')
        .addColumn('status_ts', 'bigint')
        .addColumn('last_seen_ts', 'bigint')
        .addColumn('unknown_metrics', 'text')
        .execute();
      await db.schema.createIndex('devices_site').on('devices').column('site').execute();
      await db.schema
        .createTable('dead_letters')
        .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', serial)
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('reason', 'varchar(40)', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('topic', 'text', (c) => c.notNull())
        .addColumn('site', 'varchar(200)')
        .addColumn('device_id', 'varchar(200)')
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('payload_bytes', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('dead_letters_received').on('dead_letters').column('received_at').execute();
      await db.schema.createIndex('dead_letters_reason').on('dead_letters').columns(['reason', 'received_at']).execute();
      await db.schema
        .createTable('device_events')
        .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', serial)
        .addColumn('device_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('ts', 'bigint', (c) => c.notNull())
        .addColumn('code', 'varchar(64)', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('data', 'text')
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .execute();
      // A redelivered event (QoS 1 after a reconnect) must not be stored twice.
      await db.schema.createIndex('device_events_identity').on('device_events').columns(['device_id', 'ts', 'code']).unique().execute();
    },
  },
    '0002_alerts': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('alerts')
          .addColumn('device_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('rule_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('pack', 'varchar(64)', (c) => c.notNull())
          .addColumn('state', 'varchar(16)', (c) => c.notNull())
          .addColumn('grade', 'varchar(16)')
          .addColumn('last_value', 'double precision')
          .addColumn('record', 'text', (c) => c.notNull())
          .addColumn('condition', 'text', (c) => c.notNull())
          .addColumn('message_zh', 'text', (c) => c.notNull())
          .addColumn('message_en', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          // One alert per identity (device + rule): the same fault firing again updates it.
          .addPrimaryKeyConstraint('alerts_identity', ['device_id', 'rule_id'])
          .execute();
        await db.schema.createIndex('alerts_state').on('alerts').column('state').execute();
      },
    },
  };
}

export function migrationProvider(dialect: SqlDialectName): MigrationProvider {
  return { getMigrations: () => Promise.resolve(buildMigrations(dialect)) };
}
