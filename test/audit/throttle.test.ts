/**
 * Requests without a token cannot grow the audit trail without end: they count toward the brake
 * on failed authentication like wrong tokens do, and a throttled address is recorded at its first
 * 429 of the window, not at every one after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { tempDir, testConfig } from '../helpers.js';

const ADMIN = 'test-admin-token-0123456789';

describe('audit trail under a stream of unauthenticated requests', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;

  const call = async (token: string | null, path: string) =>
    (await fetch(`${guardian.httpUrl}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })).status;

  beforeAll(async () => {
    guardian = await startGuardian({ config: testConfig(dir.path, { http: { host: '127.0.0.1', port: 0, authFailureLimit: 3, authFailureWindow: 1_500 } }), logger: silentLogger() });
  });
  afterAll(async () => {
    await guardian?.stop();
    dir.remove();
  });

  it('counts missing tokens toward the brake and records one 429 per window, not one per request', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push(await call(null, '/api/devices'));
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(new Set(statuses.slice(3))).toEqual(new Set([429]));

    // Once the window has ended, the admin reads the trail (its own reads are not recorded).
    await new Promise((r) => setTimeout(r, 1_700));
    let entries: Array<{ actor: string; status: number; url: string }> = [];
    for (let tries = 0; tries < 50; tries++) {
      const response = await fetch(`${guardian.httpUrl}/api/audit?path=/api/devices`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(response.status).toBe(200);
      entries = ((await response.json()) as { items: typeof entries }).items;
      if (entries.length >= 4) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    const again = (await (await fetch(`${guardian.httpUrl}/api/audit?path=/api/devices`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { items: typeof entries };
    expect(again.items.map((e) => [e.actor, e.status]).reverse()).toEqual([
      ['anonymous', 401],
      ['anonymous', 401],
      ['anonymous', 401],
      ['anonymous', 429],
    ]);
  });
});
