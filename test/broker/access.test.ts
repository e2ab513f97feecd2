import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/app/log.js';
import { BrokerAccess } from '../../src/broker/access.js';

const sites: Record<string, string> = { 'MR-1': 'h1' };
const access = new BrokerAccess({
  topicPrefix: 'guardian',
  engine: { username: 'guardian-engine', password: 'engine-secret-0123456789', clientId: 'guardian-collector' },
  checkDevice: () => Promise.resolve('unknown'),
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
      return Promise.resolve(password === 'right-password-123' ? 'ok' : 'wrong');
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
