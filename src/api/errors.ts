import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ReservedTokenNameError, TokenNameTakenError } from '../auth/tokens.js';
import { DeviceConflictError, UnknownSiteError } from '../kernel/device.js';
import { NotifyError } from '../notify/service.js';
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
  answer(ReservedTokenNameError, () => ({ status: 400, code: 'reserved_name' })),
  // Work-order errors carry their answer (not found, a transition the state machine refuses with the allowed actions, …).
  answer(WorkOrderError, (e) => ({ status: e.status, code: e.code, details: e.details })),
  // Pushes: an override naming an unknown rotation or person (400), an unknown channel (404), an override id taken (409).
  answer(NotifyError, (e) => ({ status: e.status, code: e.code })),
];

function answerFor(error: Error): Answer | undefined {
  if (error instanceof ApiError) return { status: error.status, code: error.code, details: error.details };
  return DOMAIN_ERRORS.find((d) => error instanceof d.type)?.to(error);
}

/** The part of a request a validation error is about, as the client sent it. */
const PARTS = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' } as const;

/**
 * Whether the value at `path` (below `root`) is absent: its parent exists (or the path is the root)
 * and holds nothing under the last key. A missing field is told as "is required" rather than the
 * schema's wording for a wrong value ("Invalid option", "Invalid input: expected string").
 */
function isAbsent(root: unknown, path: readonly string[]): boolean {
  let node = root;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Record<string, unknown>)[key];
  }
  if (path.length === 0) return node === undefined || node === null;
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return false;
  const last = path[path.length - 1]!;
  return !Object.hasOwn(node, last) || (node as Record<string, unknown>)[last] === undefined;
}

interface ValidationItem {
  readonly instancePath: string;
  readonly message?: string | undefined;
  readonly keyword?: string;
  readonly params?: Record<string, unknown>;
}

/** One field's complaint: "is required" for an absent field (with the allowed values when it has a list), else the schema's. */
function issueMessage(v: ValidationItem, absent: boolean, context: string | undefined, part: unknown): string {
  const root = v.instancePath === '/' || v.instancePath === '';
  if (root && context === 'body' && typeof part === 'string') return 'must be a JSON object: send it with Content-Type: application/json';
  // A schema's own words for a missing field stay; only the generic ones for a wrong value are replaced.
  if (!absent || (v.message !== undefined && !/^Invalid (input|option)/.test(v.message))) return v.message ?? 'invalid';
  if (root) return context === 'body' ? 'is required: send a JSON object with Content-Type: application/json' : 'is required';
  const values = v.params?.values;
  return Array.isArray(values) && values.length > 0 ? `is required; one of ${values.map(String).join(', ')}` : 'is required';
}

/**
 * Maps every error to its answer: API and domain errors to their status and code, validation
 * failures to 400s that name the field (a missing one "is required"); a body that is not JSON to a
 * 415 that says to send it as JSON; internals are hidden on 500s.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = answerFor(error);
    if (known) return reply.code(known.status).send({ error: known.code, message: error.message, ...known.details });
    if (hasZodFastifySchemaValidationErrors(error)) {
      const context = error.validationContext;
      const part = context !== undefined && context in PARTS ? request[PARTS[context as keyof typeof PARTS]] : undefined;
      const issues = error.validation.map((v) => {
        const path = v.instancePath.split('/').filter(Boolean);
        return {
          path: `${context ?? ''}${path.map((p) => `.${p}`).join('')}`,
          message: issueMessage(v, (v.keyword === 'invalid_type' || v.keyword === 'invalid_value' || v.keyword === 'invalid_union') && isAbsent(part, path), context, part),
        };
      });
      return reply.code(400).send({
        error: 'bad_request',
        message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
        issues,
      });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const sent = request.headers['content-type'];
      return reply.code(415).send({ error: 'unsupported_media_type', message: `send the body as JSON with Content-Type: application/json${sent ? ` (got ${sent})` : ''}` });
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
