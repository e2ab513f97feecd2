import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';

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
    '0004_work_orders': {
      async up(db: Kysely<unknown>) {
        const id = dialect === 'sqlite' ? 'integer' : 'bigint';
        await db.schema
          .createTable('work_order_sequences')
          .addColumn('month', 'varchar(6)', (c) => c.primaryKey())
          .addColumn('last', 'integer', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('work_orders')
          .addColumn('id', id, serial)
          .addColumn('number', 'varchar(20)', (c) => c.notNull().unique())
          .addColumn('identity', 'varchar(300)')
          .addColumn('kind', 'varchar(16)', (c) => c.notNull())
          .addColumn('channel', 'varchar(16)', (c) => c.notNull())
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('grade', 'varchar(16)', (c) => c.notNull())
          .addColumn('site_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('device_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('device', 'text', (c) => c.notNull())
          .addColumn('fault_type', 'varchar(32)', (c) => c.notNull())
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('phenomenon', 'text', (c) => c.notNull())
          .addColumn('alarm_codes', 'text', (c) => c.notNull())
          .addColumn('rule_id', 'varchar(64)')
          .addColumn('reporter_name', 'varchar(100)')
          .addColumn('reporter_phone', 'varchar(40)')
          .addColumn('reporter_department', 'varchar(100)')
          .addColumn('fault_at', 'bigint', (c) => c.notNull())
          .addColumn('reported_at', 'bigint', (c) => c.notNull())
          .addColumn('reported_by', 'varchar(100)', (c) => c.notNull())
          .addColumn('notified_at', 'bigint')
          .addColumn('acknowledged_at', 'bigint')
          .addColumn('acknowledged_by', 'varchar(100)')
          .addColumn('responded_at', 'bigint')
          .addColumn('responded_by', 'varchar(100)')
          .addColumn('response_mode', 'varchar(16)')
          .addColumn('started_at', 'bigint')
          .addColumn('started_by', 'varchar(100)')
          .addColumn('resolved_at', 'bigint')
          .addColumn('resolved_by', 'varchar(100)')
          .addColumn('resolution', 'text')
          .addColumn('closed_at', 'bigint')
          .addColumn('closed_by', 'varchar(100)')
          .addColumn('satisfaction', 'integer')
          .addColumn('satisfaction_comment', 'text')
          .addColumn('cancelled_at', 'bigint')
          .addColumn('cancelled_by', 'varchar(100)')
          .addColumn('assignee', 'varchar(100)')
          .addColumn('assigned_at', 'bigint')
          .addColumn('handover_confirmed_at', 'bigint')
          .addColumn('last_progress_at', 'bigint')
          .addColumn('feedback_at', 'bigint')
          .addColumn('planned_due_at', 'bigint')
          .addColumn('alert_state', 'varchar(16)')
          .addColumn('resolution_suggested_at', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .execute();
        // One open work order per fault identity, enforced by the database so that two engine
        // processes racing on the same alert cannot both open one.
        await db.schema
          .createIndex('work_orders_open_identity')
          .on('work_orders')
          .column('identity')
          .unique()
          .where(sql<boolean>`identity is not null and status in ('new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold')`)
          .execute();
        await db.schema.createIndex('work_orders_identity').on('work_orders').columns(['identity', 'created_at']).execute();
        await db.schema.createIndex('work_orders_site_status').on('work_orders').columns(['site_id', 'status']).execute();
        await db.schema.createIndex('work_orders_device').on('work_orders').column('device_id').execute();
        await db.schema
          .createTable('work_order_events')
          .addColumn('id', id, serial)
          .addColumn('work_order_id', id, (c) => c.notNull().references('work_orders.id'))
          .addColumn('ts', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'varchar(100)', (c) => c.notNull())
          .addColumn('kind', 'varchar(32)', (c) => c.notNull())
          .addColumn('from_state', 'varchar(16)')
          .addColumn('to_state', 'varchar(16)')
          .addColumn('note', 'text')
          .addColumn('data', 'text')
          .execute();
        await db.schema.createIndex('work_order_events_order').on('work_order_events').columns(['work_order_id', 'ts']).execute();
        await db.schema
          .createTable('work_order_breaches')
          .addColumn('work_order_id', id, (c) => c.notNull().references('work_orders.id'))
          .addColumn('clock', 'varchar(16)', (c) => c.notNull())
          .addColumn('due_at', 'bigint', (c) => c.notNull())
          .addColumn('detected_at', 'bigint', (c) => c.notNull())
          .addColumn('grade', 'varchar(16)', (c) => c.notNull())
          .addColumn('site_id', 'varchar(64)', (c) => c.notNull())
          .addPrimaryKeyConstraint('work_order_breaches_identity', ['work_order_id', 'clock', 'due_at'])
          .execute();
        await db.schema.createIndex('work_order_breaches_site').on('work_order_breaches').columns(['site_id', 'due_at']).execute();
        await db.schema
          .createTable('api_tokens')
          .addColumn('id', id, serial)
          .addColumn('name', 'varchar(100)', (c) => c.notNull().unique())
          .addColumn('role', 'varchar(16)', (c) => c.notNull())
          .addColumn('site_id', 'varchar(64)')
          .addColumn('digest', 'varchar(64)', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'varchar(100)', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
      },
    },
    '0005_alert_outbox': {
      async up(db: Kysely<unknown>) {
        const id = dialect === 'sqlite' ? 'integer' : 'bigint';
        // The changes of alerts that others act on (work orders, push), written in the same
        // transaction as the alerts themselves and drained in order per fault identity. A row is
        // claimed for a while (claimed_by, claimed_until) so that two engines never handle it at the
        // same time and a crashed engine's claim runs out; consumed rows are kept for a while, then
        // deleted.
        await db.schema
          .createTable('alert_outbox')
          .addColumn('id', id, serial)
          .addColumn('identity', 'varchar(300)', (c) => c.notNull())
          .addColumn('device_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('site_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('rule_id', 'varchar(64)', (c) => c.notNull())
          .addColumn('change', 'text', (c) => c.notNull())
          // engine: written with the alert; reconcile: made for a firing alert whose change was lost.
          .addColumn('origin', 'varchar(16)', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          // Not before: a failed change waits for its retry here.
          .addColumn('available_at', 'bigint', (c) => c.notNull())
          .addColumn('claimed_by', 'varchar(200)')
          .addColumn('claimed_until', 'bigint')
          .addColumn('consumed_at', 'bigint')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_error', 'text')
          .execute();
        // What is left to do, by identity in order: the claim looks for each identity's oldest.
        await db.schema
          .createIndex('alert_outbox_pending')
          .on('alert_outbox')
          .columns(['identity', 'id'])
          .where(sql<boolean>`consumed_at is null`)
          .execute();
        await db.schema.createIndex('alert_outbox_consumed').on('alert_outbox').column('consumed_at').execute();
        // The alert's last change, kept with it, so reconciliation can rebuild what a lost change said.
        await db.schema.alterTable('alerts').addColumn('last_change', 'text').execute();
        // Alert notes on a timeline carry the change they came from: handling a change twice (a
        // crash between handling it and marking it consumed) cannot record it twice.
        await db.schema.alterTable('work_order_events').addColumn('dedup_key', 'varchar(200)').execute();
        await db.schema
          .createIndex('work_order_events_dedup')
          .on('work_order_events')
          .column('dedup_key')
          .unique()
          .where(sql<boolean>`dedup_key is not null`)
          .execute();
      },
    },
    '0006_alert_change_ids': {
      async up(db: Kysely<unknown>) {
        // The change's own id, made by the engine: a save retried after its commit's reply was
        // lost writes the same change again, and the unique index keeps one row of it. Rows from
        // before have none (NULLs do not collide).
        await db.schema.alterTable('alert_outbox').addColumn('change_id', 'varchar(64)').execute();
        await db.schema.createIndex('alert_outbox_change_id').on('alert_outbox').column('change_id').unique().execute();
      },
    },
    '0003_silences': {
      async up(db: Kysely<unknown>) {
        // Maintenance windows. Expired ones are kept for history (expired_at set, never deleted).
        await db.schema
          .createTable('silences')
          .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('site_id', 'varchar(64)')
          .addColumn('device_id', 'varchar(64)')
          .addColumn('rule_ids', 'text', (c) => c.notNull())
          .addColumn('author', 'varchar(100)', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('timezone', 'varchar(64)', (c) => c.notNull())
          .addColumn('starts_at', 'bigint')
          .addColumn('ends_at', 'bigint')
          .addColumn('schedule', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('expired_at', 'bigint')
          .execute();
        await db.schema.createIndex('silences_site').on('silences').column('site_id').execute();
        await db.schema.createIndex('silences_device').on('silences').column('device_id').execute();
      },
    },
    '0007_device_credentials': {
      async up(db: Kysely<unknown>) {
        // One MQTT credential per device: the user name and a PBKDF2 hash of its secret (never the
        // secret). Issuing again replaces the row (rotation); revoking keeps it with the time.
        await db.schema
          .createTable('device_credentials')
          .addColumn('device_id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('username', 'varchar(64)', (c) => c.notNull().unique())
          .addColumn('secret_hash', 'varchar(300)', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'varchar(100)', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
      },
    },
    '0008_audit': {
      async up(db: Kysely<unknown>) {
        // The audit trail: who asked for which change (or was refused), from where, and how it
        // ended. Never a body or a secret. Pruned by age (audit.retention).
        await db.schema
          .createTable('audit_log')
          .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', serial)
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'varchar(100)', (c) => c.notNull())
          .addColumn('role', 'varchar(16)')
          .addColumn('address', 'varchar(64)', (c) => c.notNull())
          .addColumn('method', 'varchar(10)', (c) => c.notNull())
          .addColumn('route', 'varchar(300)')
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('target_id', 'varchar(200)')
          .addColumn('status', 'integer', (c) => c.notNull())
          .addColumn('request_id', 'varchar(64)', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_log_at').on('audit_log').columns(['at', 'id']).execute();
        await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'at']).execute();
      },
    },
    '0009_notify': {
      async up(db: Kysely<unknown>) {
        const id = dialect === 'sqlite' ? 'integer' : 'bigint';
        // The notice outbox: a row per timeline entry people are told of, written by the work-order
        // store in the transaction of the change that causes it, and planned into deliveries by one
        // engine at a time (claimed with a lease, like the alert outbox). Done rows are kept for a
        // while, then purged.
        await db.schema
          .createTable('notices')
          .addColumn('id', id, serial)
          .addColumn('work_order_id', id, (c) => c.notNull().references('work_orders.id'))
          .addColumn('event_id', id, (c) => c.notNull().references('work_order_events.id'))
          .addColumn('kind', 'varchar(16)', (c) => c.notNull())
          // The work order's grade after the change: what the escalation policy is chosen by.
          .addColumn('grade', 'varchar(16)', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          // Not before: a notice whose planning failed waits for its retry here.
          .addColumn('available_at', 'bigint', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('claimed_by', 'varchar(200)')
          .addColumn('claimed_until', 'bigint')
          .addColumn('last_error', 'text')
          .addColumn('done_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('notices_pending')
          .on('notices')
          .columns(['available_at', 'id'])
          .where(sql<boolean>`done_at is null`)
          .execute();
        await db.schema.createIndex('notices_done').on('notices').column('done_at').execute();
        // One message to one person on one channel. delivery_id is the notification's stable id
        // (X-Guardian-Delivery): planning the same notice twice adds nothing. A row is claimed by
        // one sender at a time; digest and responsible are 0 or 1 (SQLite has no boolean).
        await db.schema
          .createTable('notify_deliveries')
          .addColumn('id', id, serial)
          .addColumn('delivery_id', 'varchar(200)', (c) => c.notNull().unique())
          .addColumn('work_order_id', id, (c) => c.references('work_orders.id'))
          // No reference: done notices are purged before the deliveries planned from them finish.
          .addColumn('notice_id', id)
          .addColumn('event', 'varchar(16)', (c) => c.notNull())
          .addColumn('level', 'integer', (c) => c.notNull())
          .addColumn('person', 'varchar(100)', (c) => c.notNull())
          .addColumn('channel', 'varchar(64)', (c) => c.notNull())
          .addColumn('due_at', 'bigint', (c) => c.notNull())
          .addColumn('digest', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('responsible', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('sent_at', 'bigint')
          .addColumn('last_error', 'text')
          .addColumn('folded_into', 'varchar(200)')
          .addColumn('claimed_by', 'varchar(200)')
          .addColumn('claimed_until', 'bigint')
          .execute();
        await db.schema.createIndex('notify_deliveries_due').on('notify_deliveries').columns(['status', 'due_at']).execute();
        await db.schema.createIndex('notify_deliveries_work_order').on('notify_deliveries').columns(['work_order_id', 'person', 'channel']).execute();
        await db.schema.createIndex('notify_deliveries_person').on('notify_deliveries').columns(['person', 'created_at']).execute();
        await db.schema.createIndex('notify_deliveries_created').on('notify_deliveries').columns(['created_at', 'id']).execute();
        // The delivery log: every attempt, by which engine process.
        await db.schema
          .createTable('notify_attempts')
          .addColumn('id', id, serial)
          .addColumn('delivery', id, (c) => c.notNull().references('notify_deliveries.id'))
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('outcome', 'varchar(16)', (c) => c.notNull())
          .addColumn('status', 'integer')
          .addColumn('error', 'text')
          .addColumn('duration_ms', 'integer')
          .addColumn('by', 'varchar(200)', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('notify_attempts_delivery').on('notify_attempts').columns(['delivery', 'at']).execute();
        // A channel's rate-limit window counts what it sent lately.
        await db.schema.createIndex('notify_attempts_outcome').on('notify_attempts').columns(['outcome', 'at']).execute();
        // Escalation steps waiting for their time: one per notice and level, so planning or
        // expanding twice adds none.
        await db.schema
          .createTable('notify_escalations')
          .addColumn('id', id, serial)
          .addColumn('work_order_id', id, (c) => c.notNull().references('work_orders.id'))
          .addColumn('notice_id', id, (c) => c.notNull())
          .addColumn('level', 'integer', (c) => c.notNull())
          .addColumn('due_at', 'bigint', (c) => c.notNull())
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('claimed_by', 'varchar(200)')
          .addColumn('claimed_until', 'bigint')
          .addUniqueConstraint('notify_escalations_step', ['notice_id', 'level'])
          .execute();
        await db.schema.createIndex('notify_escalations_due').on('notify_escalations').columns(['status', 'due_at']).execute();
        // On-call overrides made through the API (swap, leave, holiday); the roster file holds the rest.
        await db.schema
          .createTable('oncall_overrides')
          .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('rotation', 'varchar(64)', (c) => c.notNull())
          .addColumn('kind', 'varchar(16)', (c) => c.notNull())
          .addColumn('from_ts', 'bigint', (c) => c.notNull())
          .addColumn('until_ts', 'bigint', (c) => c.notNull())
          .addColumn('replaces', 'varchar(100)')
          .addColumn('replacement', 'varchar(100)', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'varchar(100)', (c) => c.notNull())
          .execute();
        // Acknowledge links used: a link works once.
        await db.schema
          .createTable('notify_link_uses')
          .addColumn('link_id', 'varchar(200)', (c) => c.primaryKey())
          .addColumn('work_order_id', id, (c) => c.notNull())
          .addColumn('person', 'varchar(100)', (c) => c.notNull())
          .addColumn('used_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
  };
}

export function migrationProvider(dialect: SqlDialectName): MigrationProvider {
  return { getMigrations: () => Promise.resolve(buildMigrations(dialect)) };
}
