import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { capturedLogger } from '../helpers.js';
import { apiFixture, type ApiFixture } from './fixture.js';

const WRONG = 'wrong-token-0123456789abcdef';

/**
 * The brake on guessing tokens: failures are limited per client address (429 with Retry-After),
 * each is logged (address and reason, never the token) and counted in /metrics; requests that
 * authenticate are not counted. Behind a trusted proxy the address is the forwarded one.
 */
describe('failed authentication: brake, log and metrics', () => {
  const WINDOW_MS = 1_500;
  let api: ApiFixture;
  const log = capturedLogger();
  const from = (address: string) => ({ 'x-forwarded-for': address });

  beforeAll(async () => {
    api = await apiFixture({ logger: log.logger, http: { authFailureLimit: 3, authFailureWindowMs: WINDOW_MS } });
  });
  afterAll(async () => api?.close());
  afterEach(async () => {
    // Every test starts with a clean slate for the addresses it uses.
    await new Promise((r) => setTimeout(r, WINDOW_MS + 100));
  });

  const metric = async (name: string) => {
    const text = await api.metrics.metrics();
    return text.split('\n').filter((line) => line.startsWith(name));
  };

  it('after the limit of wrong tokens, the address is answered 429 with Retry-After, even with a good token, until its window ends', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await api.call(`${WRONG}${i}`, 'GET', '/api/devices');
      expect(answer.status).toBe(401);
    }
    const refused = await api.call(WRONG, 'GET', '/api/devices');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(2);
    expect(refused.body).toMatchObject({ error: 'too_many_failures' });
    // A right guess now looks like a wrong one: the brake gives nothing away.
    expect((await api.call(api.tokens.admin, 'GET', '/api/devices')).status).toBe(429);
    // Public routes stay reachable.
    expect((await api.call(null, 'GET', '/healthz')).status).toBe(200);
    await new Promise((r) => setTimeout(r, WINDOW_MS + 100));
    expect((await api.call(api.tokens.admin, 'GET', '/api/devices')).status).toBe(200);
  });

  it('successful requests are not counted', async () => {
    for (let i = 0; i < 20; i++) expect((await api.call(api.tokens.engineer, 'GET', '/api/alerts')).status).toBe(200);
    expect((await api.call(WRONG, 'GET', '/api/alerts')).status).toBe(401);
    expect((await api.call(WRONG, 'GET', '/api/alerts')).status).toBe(401);
    expect((await api.call(api.tokens.engineer, 'GET', '/api/alerts')).status).toBe(200);
  });

  it('a missing token counts as a failure too: an address sending none is braked like one guessing', async () => {
    for (let i = 0; i < 3; i++) expect((await api.call(null, 'GET', '/api/alerts')).status).toBe(401);
    expect((await api.call(null, 'GET', '/api/alerts')).status).toBe(429);
    expect((await api.call(api.tokens.engineer, 'GET', '/api/alerts')).status).toBe(429);
  });

  it('logs each failure as a warning with the address and reason, never the token; counts failures by reason and 429s', async () => {
    const before = log.lines.length;
    expect((await api.call(WRONG, 'GET', '/api/sites')).status).toBe(401);
    expect((await api.call(null, 'GET', '/api/sites', undefined, { authorization: `Basic ${WRONG}` })).status).toBe(401);
    // A missing token is the third failure of the limit of 3.
    expect((await api.call(null, 'GET', '/api/sites')).status).toBe(401);
    expect((await api.call(WRONG, 'GET', '/api/sites?x=1')).status).toBe(429);
    const lines = log.lines.slice(before);
    const failures = lines.filter((l) => l.msg === 'authentication failed');
    expect(failures.map((l) => [l.level, l.address, l.reason, l.route])).toEqual([
      [40, '127.0.0.1', 'invalid', 'GET /api/sites'],
      [40, '127.0.0.1', 'malformed', 'GET /api/sites'],
      [40, '127.0.0.1', 'missing', 'GET /api/sites'],
    ]);
    expect(lines.filter((l) => l.level === 40 && String(l.msg).startsWith('too many failed authentications'))).toHaveLength(1);
    expect(log.raw.join('\n')).not.toContain(WRONG);
    expect(await metric('guardian_http_auth_failures_total')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^guardian_http_auth_failures_total\{reason="invalid"\} \d+$/), expect.stringMatching(/reason="malformed"\} [1-9]/), expect.stringMatching(/reason="missing"\} [1-9]/)]),
    );
    expect((await metric('guardian_http_auth_throttled_total'))[0]).toMatch(/^guardian_http_auth_throttled_total [1-9]\d*$/);
    // And /metrics itself serves them (once this address may authenticate again).
    await new Promise((r) => setTimeout(r, WINDOW_MS + 100));
    const scraped = await api.call(api.tokens.admin, 'GET', '/metrics');
    expect(String(scraped.body.text)).toContain('guardian_http_auth_failures_total{reason="invalid"}');
  });

  it('without trustProxy, X-Forwarded-For is ignored: every forged address is the one connection', async () => {
    for (let i = 0; i < 3; i++) expect((await api.call(WRONG, 'GET', '/api/alerts', undefined, from(`10.0.0.${i}`))).status).toBe(401);
    expect((await api.call(WRONG, 'GET', '/api/alerts', undefined, from('10.0.0.99'))).status).toBe(429);
  });
});

describe('failed authentication behind a trusted reverse proxy', () => {
  let api: ApiFixture;
  const log = capturedLogger();
  beforeAll(async () => {
    // app.inject connects from 127.0.0.1: the proxy.
    api = await apiFixture({ logger: log.logger, http: { trustProxy: ['127.0.0.1'], authFailureLimit: 2, authFailureWindowMs: 60_000 } });
  });
  afterAll(async () => api?.close());

  it('counts failures per forwarded client address, and logs that address', async () => {
    const at = (address: string) => ({ 'x-forwarded-for': address });
    expect((await api.call(WRONG, 'GET', '/api/alerts', undefined, at('203.0.113.7'))).status).toBe(401);
    expect((await api.call(WRONG, 'GET', '/api/alerts', undefined, at('203.0.113.7'))).status).toBe(401);
    expect((await api.call(WRONG, 'GET', '/api/alerts', undefined, at('203.0.113.7'))).status).toBe(429);
    // Another client behind the same proxy is not held back by the first one's failures.
    expect((await api.call(api.tokens.admin, 'GET', '/api/alerts', undefined, at('203.0.113.8'))).status).toBe(200);
    expect((await api.call(WRONG, 'GET', '/api/alerts', undefined, at('203.0.113.8'))).status).toBe(401);
    expect(log.lines.filter((l) => l.msg === 'authentication failed').map((l) => l.address)).toEqual(['203.0.113.7', '203.0.113.7', '203.0.113.8']);
  });
});

describe('http.trustProxy, http.authFailureLimit and http.authFailureWindow settings', () => {
  it('default: no proxy trusted, 10 failures a minute', () => {
    const http = ConfigSchema.parse({}).http;
    expect([http.trustProxy, http.authFailureLimit, http.authFailureWindow]).toEqual([false, 10, 60_000]);
  });

  it('reads true/false, and proxy addresses and CIDR ranges from text or a list; refuses what is not an address', () => {
    const parse = (trustProxy: unknown) => ConfigSchema.safeParse({ http: { trustProxy } });
    expect(parse('true').data?.http.trustProxy).toBe(true);
    expect(parse(false).data?.http.trustProxy).toBe(false);
    expect(parse('10.0.0.5, 192.168.0.0/16,loopback').data?.http.trustProxy).toEqual(['10.0.0.5', '192.168.0.0/16', 'loopback']);
    expect(parse(['::1', 'fd00::/8']).data?.http.trustProxy).toEqual(['::1', 'fd00::/8']);
    for (const bad of ['proxy.example', '10.0.0.0/33', '2', '']) {
      const result = parse(bad);
      expect(result.success, bad).toBe(false);
    }
  });

  it('takes them from the environment', () => {
    const { config } = loadConfig({ env: { GUARDIAN_HTTP_TRUST_PROXY: '10.1.2.3', GUARDIAN_HTTP_AUTH_FAILURE_LIMIT: '5', GUARDIAN_HTTP_AUTH_FAILURE_WINDOW: '30s' }, file: undefined });
    expect([config.http.trustProxy, config.http.authFailureLimit, config.http.authFailureWindow]).toEqual([['10.1.2.3'], 5, 30_000]);
  });
});
