import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TokenNameTakenError } from '../auth/tokens.js';
import { DeviceConflictError, UnknownSiteError } from '../kernel/device.js';
import { SilenceConflictError } from '../silences/silence-service.js';
import { WorkOrderError } from '../workorders/service.js';

/** The error body every route answers with. */
export const ErrorBody = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

/** How an error is answered: status, `error` code, and fields added to the body. */
interface Answer {
  readonly status: number;
  readonly code: string;
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

/** An answer a handler decides on (not found, forbidden, …): thrown, and sent by the central handler. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (message: string): ApiError => new ApiError(404, 'not_found', message);
export const forbidden = (message: string): ApiError => new ApiError(403, 'forbidden', message);

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;
const answer = <E extends Error>(type: ErrorClass<E>, to: (error: E) => Answer) => ({ type, to: to as (error: Error) => Answer });

/**
 * The features' errors and what the API answers for each: the one place a domain error becomes an
 * HTTP status and code. The features stay free of HTTP; a route only throws.
 */
const DOMAIN_ERRORS = [
  answer(DeviceConflictError, () => ({ status: 409, code: 'conflict' })),
  answer(UnknownSiteError, () => ({ status: 422, code: 'unknown_site' })),
  answer(SilenceConflictError, () => ({ status: 409, code: 'conflict' })),
  answer(TokenNameTakenError, () => ({ status: 409, code: 'name_taken' })),
  // Work-order errors carry their answer (not found, a transition the state machine refuses with the allowed actions, …).
  answer(WorkOrderError, (e) => ({ status: e.status, code: e.code, details: e.details })),
];

function answerFor(error: Error): Answer | undefined {
  if (error instanceof ApiError) return { status: error.status, code: error.code, details: error.details };
  return DOMAIN_ERRORS.find((d) => error instanceof d.type)?.to(error);
}

/**
 * Maps every error to its answer: API and domain errors to their status and code, validation
 * failures to 400s that name the field; internals are hidden on 500s.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = answerFor(error);
    if (known) return reply.code(known.status).send({ error: known.code, message: error.message, ...known.details });
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = error.validation.map((v) => ({
        path: `${error.validationContext ?? ''}${v.instancePath ? v.instancePath.replaceAll('/', '.') : ''}`,
        message: v.message ?? 'invalid',
      }));
      return reply.code(400).send({
        error: 'bad_request',
        message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
        issues,
      });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(status).send({ error: 'internal_error', message: 'the server failed on this request; see its log' });
    }
    return reply.code(status).send({ error: error.code ?? 'error', message: error.message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
