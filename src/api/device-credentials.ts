import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MANAGERS } from '../auth/roles.js';
import type { ApiContext } from './context.js';
import { ErrorBody } from './errors.js';
import { IsoTime } from './schemas.js';
import { iso } from './time-params.js';

const CredentialInfo = z.object({
  deviceId: z.string(),
  username: z.string().describe('the MQTT user name: the device id'),
  createdAt: IsoTime,
  createdBy: z.string(),
  revokedAt: IsoTime.optional(),
});

/** A credential as issued: its password is in this answer and nowhere else. */
export const IssuedCredential = z.object({
  username: z.string().describe('the MQTT user name: the device id'),
  password: z.string().describe('shown only now; the engine keeps a hash of it'),
  createdAt: IsoTime,
  rotated: z.boolean().describe('true when it replaced a credential the device had, which no longer works'),
  passwordFileLine: z.string().describe('the line for a Mosquitto password_file (PBKDF2-SHA512, `$7$`)'),
});

/**
 * Devices' MQTT credentials: issue or rotate (the password is shown once), read when and by whom
 * it was issued, revoke. A rotated or revoked credential stops working at once: the embedded
 * broker closes the device's connections and refuses the old password.
 */
export const deviceCredentialRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const credentials = ctx.deviceCredentials;
  if (!credentials) return;
  // Who issues, rotates and revokes device credentials.
  const config = { roles: MANAGERS };
  const params = z.object({ id: z.string() });

  app.get(
    '/api/devices/:id/credentials',
    {
      config,
      schema: { tags: ['devices'], summary: "A device's MQTT credential: when and by whom it was issued (never the secret)", params, response: { 200: CredentialInfo, 404: ErrorBody } },
    },
    async (request, reply) => {
      const device = request.access.visible(ctx.registry.get(request.params.id), (d) => d.site, `no device ${request.params.id}`);
      const info = await credentials.get(device.id);
      if (!info) return reply.code(404).send({ error: 'not_found', message: `device ${device.id} has no credential; issue one with POST /api/devices/${device.id}/credentials` });
      const { revokedAt, createdAt, ...rest } = info;
      return reply.send({ ...rest, createdAt: iso(createdAt), ...(revokedAt !== undefined && { revokedAt: iso(revokedAt) }) });
    },
  );

  app.post(
    '/api/devices/:id/credentials',
    {
      config,
      schema: {
        tags: ['devices'],
        summary: 'Issue a device an MQTT credential, or rotate it (the old one stops working); the password is shown only in this answer',
        params,
        response: { 201: IssuedCredential, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const device = request.access.visible(ctx.registry.get(request.params.id), (d) => d.site, `no device ${request.params.id}`);
      const issued = await credentials.issue(device.id, request.principal.name);
      ctx.logger.info({ device: device.id, rotated: issued.rotated, by: request.principal.name }, issued.rotated ? 'device credential rotated' : 'device credential issued');
      return reply.code(201).send(issuedView(issued));
    },
  );

  app.delete(
    '/api/devices/:id/credentials',
    {
      config,
      schema: {
        tags: ['devices'],
        summary: "Revoke a device's MQTT credential: its connections are closed and it can no longer connect",
        params,
        response: { 204: z.null().describe('revoked'), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const device = request.access.visible(ctx.registry.get(request.params.id), (d) => d.site, `no device ${request.params.id}`);
      if (!(await credentials.revoke(device.id))) return reply.code(404).send({ error: 'not_found', message: `device ${device.id} has no live credential` });
      ctx.logger.info({ device: device.id, by: request.principal.name }, 'device credential revoked');
      return reply.code(204).send(null);
    },
  );
};

/** The answer for a credential just issued. */
export function issuedView(issued: { username: string; password: string; secretHash: string; createdAt: number; rotated: boolean }): z.infer<typeof IssuedCredential> {
  return {
    username: issued.username,
    password: issued.password,
    createdAt: iso(issued.createdAt),
    rotated: issued.rotated,
    passwordFileLine: `${issued.username}:${issued.secretHash}`,
  };
}
