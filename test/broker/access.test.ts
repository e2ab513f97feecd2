import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/app/log.js';
import { BrokerAccess } from '../../src/broker/access.js';

const sites: Record<string, string> = { 'MR-1': 'h1' };
const access = new BrokerAccess({
  topicPrefix: 'guardian',
  engine: { username: 'guardian-engine', password: 'engine-secret-0123456789', clientId: 'guardian-collector' },
  checkDevice: () => Promise.resolve({ result: 'unknown' }),
  siteOf: (id) => sites[id],
  enrolmentSecret: () => undefined,
  logger: silentLogger(),
});
const client = (id: string) => ({ id, conn: {} }) as unknown as Client;

describe('which topics a device may publish and subscribe to', () => {
  const registered = client('c-mr-1');
  access.assign(registered, BrokerAccess.device('MR-1', 'credential'));
  const enrolled = client('c-new');
  access.assign(enrolled, BrokerAccess.device('CT-NEW', 'enrolment'));

  it('allows its own topics under its registered site only', () => {
    for (const topic of ['guardian/h1/MR-1/telemetry', 'guardian/h1/MR-1/event', 'guardian/h1/MR-1/status']) expect(access.mayPublish(registered, topic), topic).toBe(true);
    for (const topic of [
      'guardian/h2/MR-1/telemetry', // another site
      'guardian/h1/MR-2/telemetry', // another device
      'guardian/h1/MR-10/telemetry', // a longer id with its id as a prefix
      'guardian/h1/MR-1', // no kind
      'guardian/h1/MR-1/', // empty kind
      'guardian/h1/MR-1/config', // a kind outside the MQTT contract
      'guardian/h1/MR-1/telemetry/extra', // below a kind
      'guardian//MR-1/telemetry', // empty site
      'guardianx/h1/MR-1/telemetry', // another prefix
      'other/h1/MR-1/telemetry',
      '$SYS/broker/load',
    ]) {
      expect(access.mayPublish(registered, topic), topic).toBe(false);
    }
  });

  it('lets a device not registered yet publish under any site, as itself only', () => {
    expect(access.mayPublish(enrolled, 'guardian/new-site/CT-NEW/telemetry')).toBe(true);
    expect(access.mayPublish(enrolled, 'guardian/new-site/MR-1/telemetry')).toBe(false);
    expect(access.mayPublish(enrolled, 'guardian/../CT-NEW/telemetry')).toBe(false);
  });

  it('holds a device to the site it is registered at from then on, even on a topic it used before', () => {
    const device = client('c-reg-later');
    access.assign(device, BrokerAccess.device('CT-LATER', 'enrolment'));
    expect(access.mayPublish(device, 'guardian/guessed-site/CT-LATER/telemetry')).toBe(true);
    sites['CT-LATER'] = 'h1';
    expect(access.mayPublish(device, 'guardian/guessed-site/CT-LATER/telemetry')).toBe(false);
    expect(access.mayPublish(device, 'guardian/h1/CT-LATER/telemetry')).toBe(true);
  });

  it('refuses a client without an identity, and lets the engine do anything', () => {
    expect(access.mayPublish(client('nobody'), 'guardian/h1/MR-1/telemetry')).toBe(false);
    const engine = client('guardian-collector');
    access.assign(engine, { kind: 'engine' });
    expect(access.mayPublish(engine, 'guardian/h9/ANY/telemetry')).toBe(true);
    expect(access.maySubscribe(engine, '#')).toBe(true);
    expect(access.maySubscribe(engine, '$SYS/#')).toBe(true);
  });

  it('lets a device subscribe under its own topics only', () => {
    expect(access.maySubscribe(registered, 'guardian/h1/MR-1/command/#')).toBe(true);
    for (const filter of ['#', '$SYS/#', 'guardian/#', 'guardian/+/MR-1/#', 'guardian/h1/+/telemetry', 'guardian/h1/MR-2/#', 'guardian/h1/MR-10/x']) {
      expect(access.maySubscribe(registered, filter), filter).toBe(false);
    }
    // Before it is registered its site is unknown: nothing.
    expect(access.maySubscribe(enrolled, 'guardian/new-site/CT-NEW/command')).toBe(false);
  });
});

describe('the brake on guessing device passwords', () => {
  let checks = 0;
  const guarded = new BrokerAccess({
    topicPrefix: 'guardian',
    engine: { username: 'guardian-engine', password: 'engine-secret-0123456789', clientId: 'guardian-collector' },
    checkDevice: (_username, password) => {
      checks++;
      return Promise.resolve(password === 'right-password-123' ? { result: 'ok', createdAt: 1 } : { result: 'wrong' });
    },
    siteOf: () => 'h1',
    enrolmentSecret: () => undefined,
    logger: silentLogger(),
    failureLimit: { count: 3, windowMs: 60_000 },
  });
  const from = (address: string, id: string) => ({ id, conn: { remoteAddress: address } }) as unknown as Client;
  const login = (address: string, password: string) =>
    guarded.authenticate(from(address, `c-${Math.random()}`), 'MR-1', Buffer.from(password), () => ({})).then(
      () => 'ok',
      (error: Error & { returnCode?: number }) => `${error.returnCode}: ${error.message}`,
    );

  it('refuses an address at once, without checking the password, after too many failed logins; other addresses go on', async () => {
    for (let i = 0; i < 3; i++) expect(await login('10.0.0.9', `guess-${i}`)).toMatch(/^4: /);
    const before = checks;
    expect(await login('10.0.0.9', 'right-password-123')).toMatch(/^5: .*failed logins/);
    expect(checks).toBe(before);
    expect(await login('10.0.0.10', 'right-password-123')).toBe('ok');
  });
});

describe('the brake when one address holds many clients (a hospital NAT, the engine on 127.0.0.1)', () => {
  const ENGINE = { username: 'guardian-engine', password: 'engine-secret-0123456789', clientId: 'guardian-collector' };
  const passwords: Record<string, string> = { 'MR-1': 'mr-1-password-123', 'MR-2': 'mr-2-password-123' };
  const make = () =>
    new BrokerAccess({
      topicPrefix: 'guardian',
      engine: ENGINE,
      checkDevice: (username, password) =>
        Promise.resolve(passwords[username] === undefined ? { result: 'unknown' } : password === passwords[username] ? { result: 'ok', createdAt: 1 } : { result: 'wrong' }),
      siteOf: () => 'h1',
      enrolmentSecret: () => undefined,
      logger: silentLogger(),
    });
  let n = 0;
  const login = (access: BrokerAccess, address: string, username: string, password: string, clientId = `c-${n++}`) =>
    access.authenticate({ id: clientId, conn: { remoteAddress: address } } as unknown as Client, username, Buffer.from(password), () => ({})).then(
      () => 'ok',
      (error: Error & { returnCode?: number }) => `${error.returnCode}: ${error.message}`,
    );

  it('throttles the address only as the user name that failed: the engine and the other devices there still connect', async () => {
    const access = make();
    for (let i = 0; i < 25; i++) await login(access, '127.0.0.1', 'MR-1', `guess-${i}`);
    expect(await login(access, '127.0.0.1', 'MR-1', passwords['MR-1']!)).toMatch(/^5: .*failed logins/);
    expect(await login(access, '127.0.0.1', ENGINE.username, ENGINE.password, ENGINE.clientId)).toBe('ok');
    expect(await login(access, '127.0.0.1', 'MR-2', passwords['MR-2']!)).toBe('ok');
  });

  it('never locks the engine out, however often its password is guessed; a wrong one is still refused', async () => {
    const access = make();
    for (let i = 0; i < 25; i++) expect(await login(access, '127.0.0.1', ENGINE.username, `guess-${i}`)).toMatch(/^4: /);
    expect(await login(access, '127.0.0.1', ENGINE.username, ENGINE.password, ENGINE.clientId)).toBe('ok');
  });

  it('makes room by forgetting the oldest failures, not every brake at once', async () => {
    const access = make();
    for (let i = 0; i < 9_999; i++) await login(access, `10.1.${Math.floor(i / 250)}.${i % 250}`, 'not a device id', 'x');
    for (let i = 0; i < 20; i++) await login(access, '10.9.9.9', 'MR-1', `guess-${i}`);
    // One more address failing: the table is full.
    await login(access, '10.2.0.1', 'not a device id', 'x');
    expect(await login(access, '10.9.9.9', 'MR-1', passwords['MR-1']!)).toMatch(/^5: .*failed logins/);
  });
});

describe('certificate logins and credentials changing while a connection is checked', () => {
  const ENGINE = { username: 'guardian-engine', password: 'engine-secret-0123456789', clientId: 'guardian-collector' };
  const outcome = (promise: Promise<unknown>) =>
    promise.then(
      () => 'ok',
      (error: Error & { returnCode?: number }) => `${error.returnCode}: ${error.message}`,
    );

  it('refuses a certificate holder with 3 (server unavailable) while its credential cannot be looked up, and hashes nothing', async () => {
    const asked: Array<string | undefined> = [];
    let down = true;
    const access = new BrokerAccess({
      topicPrefix: 'guardian',
      engine: ENGINE,
      checkDevice: (_username, password) => {
        asked.push(password);
        return down ? Promise.reject(new Error('database down')) : Promise.resolve({ result: 'revoked' });
      },
      siteOf: () => 'h1',
      enrolmentSecret: () => undefined,
      logger: silentLogger(),
    });
    const cert = () => ({ id: `cert-${asked.length}`, conn: { remoteAddress: '10.0.0.1' } }) as unknown as Client;
    expect(await outcome(access.authenticate(cert(), undefined, undefined, () => ({}), BrokerAccess.device('MR-C', 'certificate')))).toMatch(/^3: /);
    down = false;
    expect(await outcome(access.authenticate(cert(), undefined, undefined, () => ({}), BrokerAccess.device('MR-C', 'certificate')))).toMatch(/^5: .*revoked/);
    // Only the credential's state was asked for: no password to hash.
    expect(asked).toEqual([undefined, undefined]);
  });

  it('checks again a login that overlapped a rotation here, so the replaced password does not stay connected', async () => {
    let calls = 0;
    const access: BrokerAccess = new BrokerAccess({
      topicPrefix: 'guardian',
      engine: ENGINE,
      checkDevice: () => {
        calls++;
        if (calls === 1) {
          // The old row was read; meanwhile the credential is rotated and its connections dropped.
          access.credentialChanged();
          return Promise.resolve({ result: 'ok', createdAt: 1_000 });
        }
        return Promise.resolve({ result: 'wrong' });
      },
      siteOf: () => 'h1',
      enrolmentSecret: () => undefined,
      logger: silentLogger(),
    });
    const racer = { id: 'racer', conn: { remoteAddress: '10.0.0.2' } } as unknown as Client;
    expect(await outcome(access.authenticate(racer, 'MR-R', Buffer.from('old-password-123'), () => ({})))).toMatch(/^4: /);
    expect(calls).toBe(2);
    expect(access.identityOf(racer)).toBeUndefined();
  });

  it('tells credentials apart by their createdAt, not by comparing it with this engine’s clock', () => {
    const access = new BrokerAccess({
      topicPrefix: 'guardian',
      engine: ENGINE,
      checkDevice: () => Promise.resolve({ result: 'unknown' }),
      siteOf: () => 'h1',
      enrolmentSecret: () => undefined,
      // This engine's clock is behind the one that issued the credential.
      now: () => 1_000,
      logger: silentLogger(),
    });
    const same = client('same');
    const replaced = client('replaced');
    access.assign(same, BrokerAccess.device('MR-S', 'credential', 5_000));
    access.assign(replaced, BrokerAccess.device('MR-X', 'credential', 5_000));
    const now = new Map([
      ['MR-S', { createdAt: 5_000 }],
      // Rotated by an engine whose clock is further behind still.
      ['MR-X', { createdAt: 900 }],
    ]);
    expect(access.outdated([same, replaced], now)).toEqual([replaced]);
  });
});
