import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { tempDir, testConfig } from '../helpers.js';

const ADMIN = 'test-admin-token-0123456789';

describe('security headers on every answer', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  /** Reads the body too: a response left unread keeps its connection busy and the engine from stopping. */
  const get = async (path: string, token?: string) => {
    const response = await fetch(`${guardian.httpUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { headers: response.headers, status: response.status, body: await response.text() };
  };

  beforeAll(async () => {
    guardian = await startGuardian({ config: testConfig(dir.path), explicit: new Set(['mqtt.port']), logger: silentLogger() });
  }, 30_000);

  afterAll(async () => {
    await guardian?.stop();
    dir.remove();
  });

  const expectCommon = (response: { headers: Headers }) => {
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('strict-transport-security')).toBeNull();
  };

  it('/healthz: the headers, and cacheable (no no-store)', async () => {
    const response = await get('/healthz');
    expect(response.status).toBe(200);
    expectCommon(response);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('cache-control')).toBeNull();
  });

  it('an authenticated /api answer: the headers and Cache-Control: no-store', async () => {
    const response = await get('/api/devices', ADMIN);
    expect(response.status).toBe(200);
    expectCommon(response);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('a 401 (sent by auth before any route): the headers and no-store', async () => {
    for (const token of [undefined, 'not-a-token']) {
      const response = await get('/api/devices', token);
      expect(response.status).toBe(401);
      expectCommon(response);
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('/docs still serves the Swagger UI, under a CSP that lets its own scripts run', async () => {
    const page = await get('/docs/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.body).toContain('swagger-ui-bundle.js');
    expectCommon(page);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(csp).not.toContain("default-src 'none'"); // the docs' policy replaces the API's, not added to it
    for (const asset of ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/json']) {
      const response = await get(asset);
      expect(response.status, asset).toBe(200);
      expect(response.headers.get('cache-control') ?? '', asset).not.toContain('no-store');
    }
  });
});
