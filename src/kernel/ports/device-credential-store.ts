/**
 * A device's MQTT credential as it is kept: the user name it connects with and a one-way hash of
 * its secret. The secret itself is shown once, when issued, and never stored.
 */
export interface StoredDeviceCredential {
  readonly deviceId: string;
  /** The MQTT user name: the device id. */
  readonly username: string;
  /**
   * PBKDF2-SHA512 of the secret in Mosquitto's password-file format
   * (`$7$<iterations>$<salt, base64>$<hash, base64>`), so a broker's password file can be made
   * from the database without knowing any secret.
   */
  readonly secretHash: string;
  readonly createdAt: number;
  /** Who issued it (a token name, `cli`, `demo`). */
  readonly createdBy: string;
  readonly revokedAt?: number;
}

/**
 * Device credentials in the SQL database, one per device: issuing again replaces the previous
 * secret (rotation), revoking keeps the row with its time for the record.
 */
export interface DeviceCredentialStore {
  /** Writes the device's live credential, replacing any earlier one (revoked or not). */
  put(credential: StoredDeviceCredential): Promise<void>;
  /** The device's credential, live or revoked; undefined when none was ever issued. */
  get(deviceId: string): Promise<StoredDeviceCredential | undefined>;
  /** Revokes the device's live credential; false when it has none. */
  revoke(deviceId: string, at: number): Promise<boolean>;
  /** Every credential, live and revoked, by device id. */
  list(): Promise<StoredDeviceCredential[]>;
}
