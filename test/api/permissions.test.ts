import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authPlugin, checkRouteAccess } from '../../src/api/auth.js';
import { ACTION_ROLES } from '../../src/api/work-orders.js';
import { startGuardian, type RunningGuardian } from '../../src/app/guardian.js';
import { silentLogger } from '../../src/app/log.js';
import { ROLES, type Role } from '../../src/auth/roles.js';
import { tempDir, testConfig } from '../helpers.js';

const ADMIN = 'test-admin-token-0123456789';
const DOC = join(import.meta.dirname, '../../docs/permissions.md');

type Cell = 'allowed' | 'denied' | 'public';

/** The rows of the first markdown table in `section` whose header starts with `first`. */
function tableRows(markdown: string, section: string, first: string): string[][] {
  const body = markdown.split(/^## /m).find((s) => s.startsWith(section));
  if (!body) throw new Error(`docs/permissions.md has no section "${section}"`);
  const lines = body.split('\n').filter((l) => l.startsWith('|'));
  const header = lines.findIndex((l) => l.split('|')[1]?.trim() === first);
  if (header < 0) throw new Error(`no table headed "${first}" in "${section}"`);
  const cells = (line: string) => line.split('|').slice(1, -1).map((c) => c.trim());
  expect(cells(lines[header]!).slice(-4)).toEqual([...ROLES]);
  return lines.slice(header + 2).map(cells);
}

const cell = (text: string): Cell => {
  if (text === 'public') return 'public';
  if (text.startsWith('✓')) return 'allowed';
  if (text === '—') return 'denied';
  throw new Error(`unreadable cell "${text}": ✓, — or public`);
};

/** docs/permissions.md's route table: "GET /api/sites/{id}" → role → cell. */
function permissionTable(): Map<string, Record<Role, Cell>> {
  const table = new Map<string, Record<Role, Cell>>();
  for (const [method, path, ...roles] of tableRows(readFileSync(DOC, 'utf8'), 'Routes', 'method')) {
    const key = `${method!} ${path!}`;
    expect(table.has(key), `${key} twice in docs/permissions.md`).toBe(false);
    table.set(key, Object.fromEntries(ROLES.map((r, i) => [r, cell(roles[i]!)])) as Record<Role, Cell>);
  }
  return table;
}

describe('deny by default: a route must declare its roles', () => {
  const build = async (config: Record<string, unknown> | undefined) => {
    const app = Fastify();
    await app.register(authPlugin, { adminToken: ADMIN });
    await app.register(async (api) => {
      api.get('/api/new-thing', { ...(config && { config }) }, async () => ({ ok: true }));
    });
    return app;
  };

  it('refuses, at start-up, a route without roles, naming it', async () => {
    await expect(build(undefined)).rejects.toThrow('route GET /api/new-thing declares no roles: every route declares config.roles (one or more of admin, supervisor, engineer, hospital) or config.public');
    await expect(build({ roles: [] })).rejects.toThrow('route GET /api/new-thing declares an empty list of roles');
    await expect(build({ roles: ['root'] })).rejects.toThrow('route GET /api/new-thing declares unknown role(s) root');
    await expect(build({ public: true, roles: ['admin'] })).rejects.toThrow('is public and also declares roles');
  });

  it('accepts routes with declared roles (as other plugins add them) and public ones, and lets in only those roles', async () => {
    const app = await build({ roles: ['admin', 'supervisor'] });
    const answer = await app.inject({ url: '/api/new-thing', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(answer.statusCode).toBe(200);
    // The automatic HEAD route carries the same declaration.
    expect((await app.inject({ method: 'HEAD', url: '/api/new-thing', headers: { authorization: `Bearer ${ADMIN}` } })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/new-thing' })).statusCode).toBe(401);
    // No such route: 404 to a caller with a token (not a 403 "nobody may"), 401 to one without.
    expect((await app.inject({ url: '/api/no-such-thing', headers: { authorization: `Bearer ${ADMIN}` } })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/api/new-thing', headers: { authorization: `Bearer ${ADMIN}` } })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/no-such-thing' })).statusCode).toBe(401);
    await app.close();
    const open = await build({ public: true });
    expect((await open.inject({ url: '/api/new-thing' })).statusCode).toBe(200);
    await open.close();
    expect(() => checkRouteAccess({ method: 'GET', url: '/docs/json', config: undefined }, ['/docs'])).not.toThrow();
    expect(() => checkRouteAccess({ method: 'GET', url: '/docsx', config: undefined }, ['/docs'])).toThrow('declares no roles');
  });

  it('the table of work-order actions in docs/permissions.md is the one the API applies', () => {
    const rows = tableRows(readFileSync(DOC, 'utf8'), 'Work-order actions', 'action');
    const documented = Object.fromEntries(rows.map(([action, ...roles]) => [action, ROLES.filter((_, i) => cell(roles[i]!) === 'allowed')]));
    const applied = Object.fromEntries(Object.entries(ACTION_ROLES).map(([action, roles]) => [action, ROLES.filter((r) => roles.includes(r))]));
    expect(documented).toEqual(applied);
  });
});

/**
 * Every route of the OpenAPI document, called with a token of every role, answers as
 * docs/permissions.md says: 403 where the table says —, anything else where it says ✓ (404 for an
 * id that does not exist, 400 for a missing body: the role was let in), and no token needed where
 * it says public. A route the table does not list, or a row no route has, fails the test.
 */
describe('every route, every role, against docs/permissions.md', () => {
  const dir = tempDir();
  let guardian: RunningGuardian;
  const tokens = { admin: ADMIN } as Record<Role, string>;

  beforeAll(async () => {
    writeFileSync(join(dir.path, 'fleet.yaml'), 'sites:\n  - { id: h1, name: 第一医院 }\ndevices:\n  - { id: MR-1, site: h1, modality: MR, vendor: Siemens, model: Avanto }\n');
    guardian = await startGuardian({
      config: testConfig(dir.path, { fleetFile: join(dir.path, 'fleet.yaml'), autoRegister: false }),
      explicit: new Set(['mqtt.port']),
      logger: silentLogger(),
    });
    for (const role of ['supervisor', 'engineer', 'hospital'] as const) {
      const response = await fetch(`${guardian.httpUrl}/api/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `walk-${role}`, role, ...(role === 'hospital' && { siteId: 'h1' }) }),
      });
      expect(response.status).toBe(201);
      tokens[role] = ((await response.json()) as { token: string }).token;
    }
  }, 60_000);

  afterAll(async () => {
    await guardian?.stop();
    dir.remove();
  });

  it('answers 403 exactly where the table says a role may not, and lists every route', async () => {
    const doc = (await (await fetch(`${guardian.httpUrl}/docs/json`)).json()) as { paths: Record<string, Record<string, { description?: string }>> };
    const table = permissionTable();
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes.length).toBeGreaterThan(30);
    const missing = routes.filter((r) => !table.has(r));
    expect(missing, 'routes missing from docs/permissions.md').toEqual([]);
    const stale = [...table.keys()].filter((r) => !routes.includes(r));
    expect(stale, 'rows of docs/permissions.md no route has').toEqual([]);

    // The document says the same as the table: "Roles: …" on every route that needs a token.
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      const allowed = ROLES.filter((r) => table.get(route)![r] === 'allowed');
      const description = doc.paths[path]![method.toLowerCase()]!.description ?? '';
      if (allowed.length > 0) expect(description, route).toContain(`Roles: ${allowed.join(', ')}.`);
      else expect(description, route).not.toContain('Roles:');
    }

    const mismatches: string[] = [];
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      // An id that does not exist: the role check comes first, so a role let in gets 404 or 400.
      const url = guardian.httpUrl! + path.replace(/\{[^}]+\}/g, 'walk-probe-0');
      for (const role of ROLES) {
        const expected = table.get(route)![role];
        // Reloading the rule packs is harmless; nothing else is changed by bodiless requests.
        const response = await fetch(url, { method, headers: expected === 'public' ? {} : { authorization: `Bearer ${tokens[role]}` } });
        await response.arrayBuffer();
        const got = response.status;
        const ok = expected === 'denied' ? got === 403 : expected === 'allowed' ? got !== 403 && got !== 401 && got !== 429 : got !== 401 && got !== 403;
        if (!ok) mismatches.push(`${route} as ${role}: ${got}, table says ${expected}`);
      }
    }
    expect(mismatches).toEqual([]);
  }, 120_000);
});
