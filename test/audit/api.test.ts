/**
 * The audit trail over HTTP: every change asked of the API (any outcome) and every refused
 * request is recorded with who, role, address, method, route and URL, target, status and request
 * id — never a token or a body — and admins read it at /api/audit, filtered, paged and as CSV.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditPlugin, csvField, redactUrl } from '../../src/api/audit.js';
import type { AuditLog } from '../../src/api/context.js';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import type { Principal } from '../../src/auth/roles.js';
import type { AuditEntry, StoredAuditEntry } from '../../src/kernel/ports/audit-store.js';
import { tempDir, testConfig, waitFor } from '../helpers.js';

const ADMIN = 'test-admin-token-0123456789';

type Json = Record<string, unknown> & { items: Array<Record<string, unknown>>; total: number };

describe('the audit plugin on its own', () => {
  let app: FastifyInstance;
  const recorded: AuditEntry[] = [];
  const log: AuditLog = {
    record: (e) => void recorded.push(e),
    list: async () => ({ items: [], total: 0 }),
  };

  beforeAll(async () => {
    app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    // Stands in for the auth plugin: a principal on some requests, early refusals on others.
    app.decorateRequest('principal', null as unknown as Principal);
    app.addHook('onRequest', async (request, reply) => {
      const who = request.headers['x-who'];
      if (who === 'throttled') return reply.code(429).header('retry-after', '30').send({ error: 'too_many_failures' });
      if (who === undefined) return reply.code(401).send({ error: 'unauthorized' });
      request.principal = { name: String(who), role: who === 'boss' ? 'admin' : 'engineer' };
      if (request.url.startsWith('/admin') && who !== 'boss') return reply.code(403).send({ error: 'forbidden' });
    });
    await app.register(auditPlugin, { audit: log, now: () => 1_700_000_000_000 });
    app.get('/things', { config: { roles: ['engineer'] } }, async () => ({ ok: true }));
    app.get('/admin/things', { config: { roles: ['admin'] } }, async () => ({ ok: true }));
    app.post('/things', { config: { roles: ['engineer'] } }, async (_request, reply) => reply.code(201).send({ id: 'thing-7', secret: 'never-kept' }));
    app.delete('/things/:id', { config: { roles: ['engineer'] } }, async (_request, reply) => reply.code(204).send());
    app.patch('/things/:id', { config: { roles: ['engineer'] } }, async () => {
      throw new Error('boom');
    });
    // A public route whose path parameter is a credential (an acknowledge link's token).
    app.post('/ack/:token', { config: { public: true, secretParams: ['token'] } }, async (_request, reply) => reply.code(409).send({ error: 'used' }));
    app.put('/slow/:id', { config: { roles: ['engineer'] } }, async () => {
      await new Promise((r) => setTimeout(r, 300));
      return { done: true };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => app.close());

  const send = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, who?: string, extra: Record<string, string> = {}) => {
    const before = recorded.length;
    const response = await app.inject({ method, url, headers: { ...(who !== undefined && { 'x-who': who }), ...extra }, ...(method === 'POST' && { payload: { password: 'hunter2' } }) });
    await waitFor(() => recorded.length > before || response.statusCode === 200, { timeoutMs: 1_000 }).catch(() => undefined);
    return { response, entry: recorded.length > before ? recorded[recorded.length - 1] : undefined };
  };

  it('records changes whatever their outcome, with the target from the route or from what was created', async () => {
    const created = await send('POST', '/things', 'wang');
    expect(created.entry).toEqual({
      at: 1_700_000_000_000,
      actor: 'wang',
      role: 'engineer',
      address: '127.0.0.1',
      method: 'POST',
      route: '/things',
      url: '/things',
      targetId: 'thing-7',
      status: 201,
      requestId: created.response.headers['x-request-id'],
    });
    expect((await send('DELETE', '/things/CT-01', 'wang')).entry).toMatchObject({ method: 'DELETE', route: '/things/:id', targetId: 'CT-01', status: 204 });
    expect((await send('PATCH', '/things/CT-02', 'wang')).entry).toMatchObject({ method: 'PATCH', targetId: 'CT-02', status: 500 });
    expect((await send('POST', '/nowhere', 'wang')).entry).toMatchObject({ method: 'POST', url: '/nowhere', status: 404 });
    expect((await send('POST', '/nowhere', 'wang')).entry?.route).toBeUndefined();
  });

  it('records refusals for who asked on any method: 401 as anonymous, 403 with the principal, 429', async () => {
    expect((await send('GET', '/things')).entry).toMatchObject({ actor: 'anonymous', method: 'GET', route: '/things', status: 401 });
    expect((await send('GET', '/things')).entry?.role).toBeUndefined();
    expect((await send('GET', '/admin/things', 'wang')).entry).toMatchObject({ actor: 'wang', role: 'engineer', status: 403 });
    expect((await send('GET', '/things', 'throttled')).entry).toMatchObject({ actor: 'anonymous', status: 429 });
  });

  it('records no successful read, and no body, header or secret of any request', async () => {
    const read = await send('GET', '/things', 'wang');
    expect(read.response.statusCode).toBe(200);
    expect(read.entry).toBeUndefined();
    await send('POST', '/things?access_token=abc123&site=h1&api%5Fkey=k9', 'wang', { authorization: 'Bearer rg_supersecret' });
    const all = JSON.stringify(recorded);
    for (const secret of ['hunter2', 'never-kept', 'rg_supersecret', 'abc123', 'k9']) expect(all).not.toContain(secret);
    expect(recorded[recorded.length - 1]!.url).toBe('/things?access_token=[redacted]&site=h1&api%5Fkey=[redacted]');
  });

  it('never records a path parameter that is a credential, as target or in the URL', async () => {
    const token = 'eyJ3Ijo0Mn0.c2lnbmF0dXJl';
    const { entry } = await send('POST', `/ack/${token}?lang=en`, 'anyone');
    expect(entry).toMatchObject({ method: 'POST', route: '/ack/:token', url: '/ack/[redacted]?lang=en', status: 409 });
    expect(entry!.targetId).toBeUndefined();
    expect(JSON.stringify(recorded)).not.toContain('c2lnbmF0dXJl');
  });

  it('records a change whose caller left before the answer as 499', async () => {
    const before = recorded.length;
    const address = app.server.address() as AddressInfo;
    const request = httpRequest({ host: '127.0.0.1', port: address.port, method: 'PUT', path: '/slow/MR-3', headers: { 'x-who': 'wang' } });
    request.on('error', () => undefined);
    request.end();
    await new Promise((r) => setTimeout(r, 100));
    request.destroy();
    await waitFor(() => recorded.length > before, { timeoutMs: 2_000 });
    // Recorded once, when the connection closed; the handler's late answer adds nothing.
    await new Promise((r) => setTimeout(r, 400));
    expect(recorded.slice(before)).toEqual([expect.objectContaining({ actor: 'wang', method: 'PUT', route: '/slow/:id', targetId: 'MR-3', status: 499 })]);
  });

  it('answers every request with its id', async () => {
    const a = await app.inject({ method: 'GET', url: '/things', headers: { 'x-who': 'wang' } });
    const b = await app.inject({ method: 'GET', url: '/things' });
    expect(a.headers['x-request-id']).toBeTruthy();
    expect(b.headers['x-request-id']).toBeTruthy();
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });
});

describe('redacting and CSV fields', () => {
  it('redacts values of secret-looking query parameters only', () => {
    expect(redactUrl('/api/x')).toBe('/api/x');
    expect(redactUrl('/api/x?token=a&password=b&Secret=c&limit=5&x')).toBe('/api/x?token=[redacted]&password=[redacted]&Secret=[redacted]&limit=5&x');
  });
  it('quotes what needs quoting and defuses spreadsheet formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('@cmd')).toBe("'@cmd");
    expect(csvField(403)).toBe('403');
    expect(csvField(undefined)).toBe('');
  });
});

describe('GET /api/audit on a running engine', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  const tokens: Record<string, string> = { admin: ADMIN };

  const call = async (who: string | null, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${guardian.httpUrl}${path}`, {
      method,
      headers: { ...(who !== null && { authorization: `Bearer ${tokens[who] ?? who}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, body: (text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {}) as Json };
  };
  const audit = async (query = '') => (await call('admin', 'GET', `/api/audit${query}`)).body as { items: StoredAuditEntry[] & Array<Record<string, unknown>>; total: number };

  beforeAll(async () => {
    guardian = await startGuardian({ config: testConfig(dir.path), logger: silentLogger() });
    for (const [name, role] of [['supervisor-chen', 'supervisor'], ['wang', 'engineer']] as const) {
      const created = await call('admin', 'POST', '/api/tokens', { name, role });
      expect(created.status).toBe(201);
      tokens[name] = created.body.token as string;
    }
  });
  afterAll(async () => {
    await guardian?.stop();
    dir.remove();
  });

  it('shows who changed what, newest first, with the created token named and no token in it', async () => {
    const { items, total } = await audit();
    expect(total).toBe(2);
    expect(items.map((i) => [i.actor, i.role, i.method, i.route, i.targetId, i.status])).toEqual([
      ['admin', 'admin', 'POST', '/api/tokens', 'wang', 201],
      ['admin', 'admin', 'POST', '/api/tokens', 'supervisor-chen', 201],
    ]);
    expect(items[0]).toMatchObject({ address: '127.0.0.1', url: '/api/tokens' });
    expect(items[0]!.at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(items[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(items)).not.toContain(tokens.wang!);
  });

  it('records failed authentication and refused roles on reads too, and changes that fail', async () => {
    expect((await call(null, 'GET', '/api/devices')).status).toBe(401);
    expect((await call('not-a-real-token-000000', 'GET', '/api/devices')).status).toBe(401);
    const refused = await call('wang', 'POST', '/api/sites', { id: 'h9', name: '第九医院' });
    expect(refused.status).toBe(403);
    expect((await call('wang', 'GET', '/api/tokens')).status).toBe(403);
    const bad = await call('supervisor-chen', 'POST', '/api/silences', { scope: { siteId: 'nowhere' }, author: '陈', reason: 'x', window: { startsAt: '2020-01-01T00:00:00Z', endsAt: '2020-01-02T00:00:00Z' } });
    expect(bad.status).toBe(400);
    expect((await call('admin', 'DELETE', '/api/tokens/nobody')).status).toBe(404);
    expect((await call('wang', 'GET', '/api/alerts')).status).toBe(200);

    const { items } = await audit('?limit=6');
    expect(items.map((i) => [i.actor, i.method, i.url, i.status])).toEqual([
      ['admin', 'DELETE', '/api/tokens/nobody', 404],
      ['supervisor-chen', 'POST', '/api/silences', 400],
      ['wang', 'GET', '/api/tokens', 403],
      ['wang', 'POST', '/api/sites', 403],
      ['anonymous', 'GET', '/api/devices', 401],
      ['anonymous', 'GET', '/api/devices', 401],
    ]);
    expect(items[0]!.targetId).toBe('nobody');
    expect(items[3]!.role).toBe('engineer');
    expect(items[4]!.role).toBeUndefined();
    expect(refused.headers.get('x-request-id')).toBe(items[3]!.requestId);
  });

  it('filters by actor, method, outcome, path and time, and pages', async () => {
    const anonymous = await audit('?actor=anonymous');
    expect(anonymous.total).toBe(2);
    expect((await audit('?method=DELETE')).items.map((i) => i.url)).toEqual(['/api/tokens/nobody']);
    expect((await audit('?outcome=403')).total).toBe(2);
    expect((await audit('?outcome=4xx')).total).toBe(6);
    expect((await audit('?outcome=ok')).items.map((i) => i.status)).toEqual([201, 201]);
    expect((await audit('?outcome=failed')).total).toBe(6);
    expect((await audit('?path=/api/tokens')).total).toBe(4);
    expect((await audit('?path=/api/tokens&outcome=ok&actor=admin')).total).toBe(2);
    expect((await audit('?from=-1h')).total).toBe(8);
    expect((await audit('?to=-1h')).total).toBe(0);
    const pages = [];
    for (let offset = 0; offset < 8; offset += 3) pages.push(...(await audit(`?limit=3&offset=${offset}`)).items.map((i) => i.id));
    expect(pages).toEqual((await audit()).items.map((i) => i.id));
    const invalid = await call('admin', 'GET', '/api/audit?outcome=bad');
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toContain('querystring.outcome');
  });

  it('is for admins only, and refusing someone is itself recorded', async () => {
    expect((await call('supervisor-chen', 'GET', '/api/audit')).status).toBe(403);
    expect((await call('wang', 'GET', '/api/audit')).status).toBe(403);
    expect((await call(null, 'GET', '/api/audit')).status).toBe(401);
    const refusals = await audit('?path=/api/audit');
    expect(refusals.items.map((i) => [i.actor, i.status])).toEqual([
      ['anonymous', 401],
      ['wang', 403],
      ['supervisor-chen', 403],
    ]);
  });

  it('exports every match as CSV', async () => {
    const csv = await call('admin', 'GET', '/api/audit?format=csv&path=/api/tokens');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-\d{4}-\d\d-\d\d\.csv"$/);
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('at,actor,role,address,method,route,url,targetId,status,requestId');
    expect(lines).toHaveLength(5);
    expect(lines.slice(1).map((l) => l.split(',').slice(1, 9).join(','))).toEqual([
      'admin,admin,127.0.0.1,DELETE,/api/tokens/:name,/api/tokens/nobody,nobody,404',
      'wang,engineer,127.0.0.1,GET,/api/tokens,/api/tokens,,403',
      'admin,admin,127.0.0.1,POST,/api/tokens,/api/tokens,wang,201',
      'admin,admin,127.0.0.1,POST,/api/tokens,/api/tokens,supervisor-chen,201',
    ]);
    expect((await call('wang', 'GET', '/api/audit?format=csv')).status).toBe(403);
  });

  it('counts its entries in /metrics', async () => {
    const metrics = await call('admin', 'GET', '/metrics');
    expect(metrics.text).toMatch(/^guardian_audit_lost_total 0$/m);
    expect(metrics.text).toMatch(/^guardian_audit_recorded_total \d+$/m);
  });
});
