import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/app/log.js';
import { BrokerAccess } from '../../src/broker/access.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { DeviceCredentialService } from '../../src/devices/credentials.js';
import { migrateToLatest, openSqlDatabase, type SqlDatabase } from '../../src/storage/sql/database.js';
import { DeviceCredentialRepository } from '../../src/storage/sql/device-credential-repository.js';
import { waitFor } from '../helpers.js';
import { sqliteTarget } from '../support/sql-targets.js';

const ENROLMENT = 'enrolment-secret-0123456789';

/**
 * Two engines on one database: a credential rotated or revoked through the other one (whose
 * changes cannot reach this broker directly) still ends the scanner's connection here.
 */
describe('scanners connected to the embedded broker when another engine changes their credential', () => {
  const target = sqliteTarget();
  let sql: SqlDatabase;
  let broker: EmbeddedBroker;
  let elsewhere: DeviceCredentialService;
  const clients: MqttClient[] = [];
  const connect = async (username: string, password: string) => {
    const client = await mqtt.connectAsync(broker.url, { clientId: `sweep-${username}-${clients.length}`, username, password, reconnectPeriod: 0 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    sql = await openSqlDatabase(await target.fresh());
    await migrateToLatest(sql);
    const here = new DeviceCredentialService(new DeviceCredentialRepository(sql.db), { iterations: 1_000 });
    elsewhere = new DeviceCredentialService(new DeviceCredentialRepository(sql.db), { iterations: 1_000 });
    const access = new BrokerAccess({
      topicPrefix: 'guardian',
      engine: { username: 'guardian-engine', password: 'engine-secret-0123456789', clientId: 'guardian-collector' },
      checkDevice: (u, p) => here.check(u, p),
      siteOf: () => undefined,
      enrolmentSecret: () => ENROLMENT,
      logger: silentLogger(),
    });
    broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      fallbackWhenTaken: false,
      access,
      credentialSweep: { everyMs: 100, read: async () => new Map((await here.list()).map((c) => [c.deviceId, c])) },
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    for (const client of clients) client.end(true);
    await broker?.close();
    await sql?.close();
    await target.cleanup();
  });

  it('disconnects a scanner whose credential was rotated elsewhere; the new password connects', async () => {
    const first = await elsewhere.issue('MR-1', 'admin');
    const client = await connect('MR-1', first.password);
    await new Promise((r) => setTimeout(r, 300));
    expect(client.connected).toBe(true);
    const second = await elsewhere.issue('MR-1', 'admin');
    await waitFor(() => !client.connected, { timeoutMs: 3_000, what: 'the rotated scanner disconnected' });
    const again = await connect('MR-1', second.password);
    await new Promise((r) => setTimeout(r, 300));
    expect(again.connected).toBe(true);
  });

  it('disconnects a scanner whose credential was revoked elsewhere', async () => {
    const issued = await elsewhere.issue('MR-2', 'admin');
    const client = await connect('MR-2', issued.password);
    await elsewhere.revoke('MR-2');
    await waitFor(() => !client.connected, { timeoutMs: 3_000, what: 'the revoked scanner disconnected' });
  });

  it('disconnects an enrolled scanner once it is given a credential of its own', async () => {
    const client = await connect('CT-NEW', ENROLMENT);
    await new Promise((r) => setTimeout(r, 300));
    expect(client.connected).toBe(true);
    await elsewhere.issue('CT-NEW', 'admin');
    await waitFor(() => !client.connected, { timeoutMs: 3_000, what: 'the enrolled scanner disconnected' });
  });
});
