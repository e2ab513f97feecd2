/** Routes take who may call them from the shared role lists (src/auth/roles.ts), not copies of them. */
import Fastify, { type RouteOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import { auditPlugin } from '../../src/api/audit.js';
import type { ApiContext, AuditLog } from '../../src/api/context.js';
import { deviceCredentialRoutes } from '../../src/api/device-credentials.js';
import { ADMINS, MANAGERS } from '../../src/auth/roles.js';

describe('role lists of routes', () => {
  it('device credentials are for MANAGERS and the audit trail for ADMINS, the very lists', async () => {
    const app = Fastify({ logger: false });
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    const routes: RouteOptions[] = [];
    app.addHook('onRoute', (route) => void routes.push(route));
    await app.register(auditPlugin, { audit: {} as AuditLog, now: () => 0 });
    await app.register(deviceCredentialRoutes, { ctx: { deviceCredentials: {} } as unknown as ApiContext });
    await app.ready();
    const rolesOf = (url: string) => routes.filter((r) => r.url === url && r.method !== 'HEAD').map((r) => r.config?.roles);
    expect(rolesOf('/api/audit')).toEqual([ADMINS]);
    expect(rolesOf('/api/audit')[0]).toBe(ADMINS);
    const credentials = routes.filter((r) => r.url.startsWith('/api/devices/:id/credentials') && r.method !== 'HEAD');
    expect(credentials.length).toBeGreaterThan(0);
    for (const route of credentials) expect(route.config?.roles).toBe(MANAGERS);
    await app.close();
  });
});
