/** Domain errors thrown on any route become the answer the API gives for them, never a 500. */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installErrorHandler } from '../../src/api/errors.js';
import { ReservedTokenNameError, TokenNameTakenError } from '../../src/auth/tokens.js';

describe('domain errors on any route', () => {
  it('a reserved token name is a 400, a taken one a 409', async () => {
    const app = Fastify({ logger: false });
    installErrorHandler(app);
    app.post('/reserved', async () => {
      throw new ReservedTokenNameError(' Ad min ', 'admin');
    });
    app.post('/taken', async () => {
      throw new TokenNameTakenError('wang');
    });
    try {
      const reserved = await app.inject({ method: 'POST', url: '/reserved' });
      expect(reserved.statusCode).toBe(400);
      expect(reserved.json()).toMatchObject({ error: 'reserved_name', message: expect.stringContaining('is reserved') });
      expect((await app.inject({ method: 'POST', url: '/taken' })).statusCode).toBe(409);
    } finally {
      await app.close();
    }
  });
});
