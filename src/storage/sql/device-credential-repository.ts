import type { ColumnType, Kysely, Selectable } from 'kysely';
import type { DeviceCredentialStore, StoredDeviceCredential } from '../../kernel/ports/device-credential-store.js';
import type { Database } from './schema.js';

type Millis = ColumnType<number, number, number>;

/** Table `device_credentials` (migration 0007_device_credentials): one row per device. */
export interface DeviceCredentialsTable {
  device_id: string;
  username: string;
  /** PBKDF2-SHA512 in Mosquitto's `$7$` format; never the secret. */
  secret_hash: string;
  created_at: Millis;
  created_by: string;
  revoked_at: Millis | null;
}

type Tables = Database & { device_credentials: DeviceCredentialsTable };

function toStored(row: Selectable<DeviceCredentialsTable>): StoredDeviceCredential {
  return {
    deviceId: row.device_id,
    username: row.username,
    secretHash: row.secret_hash,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
    ...(row.revoked_at !== null && { revokedAt: Number(row.revoked_at) }),
  };
}

/** Device credentials in the SQL database (SQLite or PostgreSQL). */
export class DeviceCredentialRepository implements DeviceCredentialStore {
  private readonly db: Kysely<Tables>;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<{ device_credentials: DeviceCredentialsTable }>();
  }

  async put(credential: StoredDeviceCredential): Promise<void> {
    const row = {
      username: credential.username,
      secret_hash: credential.secretHash,
      created_at: credential.createdAt,
      created_by: credential.createdBy,
      revoked_at: credential.revokedAt ?? null,
    };
    await this.db
      .insertInto('device_credentials')
      .values({ device_id: credential.deviceId, ...row })
      .onConflict((oc) => oc.column('device_id').doUpdateSet(row))
      .execute();
  }

  async get(deviceId: string): Promise<StoredDeviceCredential | undefined> {
    const row = await this.db.selectFrom('device_credentials').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
    return row && toStored(row);
  }

  async revoke(deviceId: string, at: number): Promise<boolean> {
    const result = await this.db.updateTable('device_credentials').set({ revoked_at: at }).where('device_id', '=', deviceId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async list(): Promise<StoredDeviceCredential[]> {
    return (await this.db.selectFrom('device_credentials').selectAll().orderBy('device_id').execute()).map(toStored);
  }
}
