import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ADMINS } from '../auth/roles.js';
import type { AuditFilter, StoredAuditEntry } from '../kernel/ports/audit-store.js';
import type { AuditLog } from './context.js';
import { ErrorBody } from './errors.js';
import { IsoTime, list, ListQuery } from './schemas.js';
import { iso, resolveTime, TimeParam } from './time-params.js';

/** Requests that ask for a change: recorded whatever their outcome. */
const CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Refusals for who asked (no valid token, a role the route does not allow, too many failures): recorded for every method. */
const REFUSED = new Set([401, 403, 429]);

/** The status recorded for a change whose caller closed the connection before the answer (as nginx logs it). */
const CLIENT_CLOSED = 499;

/** Query parameters whose values are never kept: anything that may carry a credential. */
const SECRET_PARAM = /token|secret|passw|pwd|key|auth|credential|signature|session|cookie/i;

/** The path and query with the values of secret-looking query parameters replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replaceAll('+', ' '));
      } catch {
        // kept as sent
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

/** The resource a request acts on, from the route's parameters: `:id`, else `:name`, else the first one. */
function targetOfParams(params: unknown): string | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const p = params as Record<string, unknown>;
  const value = p.id ?? p.name ?? Object.values(p).find((v) => typeof v === 'string' && v !== '');
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** The route's parameters without those that are credentials. */
function withoutSecrets(params: unknown, secrets: readonly string[]): unknown {
  if (secrets.length === 0 || typeof params !== 'object' || params === null) return params;
  return Object.fromEntries(Object.entries(params).filter(([name]) => !secrets.includes(name)));
}

/** The URL with the values of credential path parameters replaced (as sent, and as decoded). */
export function redactPath(url: string, params: unknown, secrets: readonly string[]): string {
  if (secrets.length === 0 || typeof params !== 'object' || params === null) return url;
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  for (const name of secrets) {
    const value = (params as Record<string, unknown>)[name];
    if (typeof value !== 'string' || value === '') continue;
    for (const form of new Set([value, encodeURIComponent(value)])) path = path.split(form).join('[redacted]');
  }
  return q < 0 ? path : `${path}${url.slice(q)}`;
}

/** The id (or name) of what a POST created, read from its JSON answer; nothing else of the answer is kept. */
function targetOfAnswer(payload: unknown): string | undefined {
  if (typeof payload !== 'string' || payload.length > 65_536 || !payload.startsWith('{')) return undefined;
  try {
    const body = JSON.parse(payload) as Record<string, unknown>;
    const value = body.id ?? body.name;
    return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
  } catch {
    return undefined;
  }
}

const METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'GET', 'HEAD', 'OPTIONS'] as const;

const AuditView = z.object({
  id: z.number().int(),
  at: IsoTime,
  actor: z.string().describe('the token holder’s name, admin for the configured admin token, anonymous without a valid token'),
  role: z.string().optional(),
  address: z.string().describe('the client’s address as the API sees it (behind a trusted proxy: from X-Forwarded-For)'),
  method: z.string(),
  route: z.string().optional().describe('the route’s pattern; absent when no route matched'),
  url: z.string().describe('path and query as asked; values of secret-looking query parameters redacted'),
  targetId: z.string().optional().describe('the resource acted on: the route’s id, or the id of what a POST created'),
  status: z.number().int().describe('the HTTP status answered'),
  requestId: z.string().describe('as in the engine’s log and the X-Request-Id header of the answer'),
});

const AuditQuery = ListQuery.extend({
  from: TimeParam.optional().describe('from this time, included'),
  to: TimeParam.optional().describe('before this time'),
  actor: z.string().min(1).max(100).optional().describe('who: a token holder’s name, admin or anonymous'),
  method: z.enum(METHODS).optional(),
  outcome: z
    .string()
    .regex(/^(?:[1-5]\d\d|[1-5]xx|ok|failed)$/, 'must be a status (403), a class (4xx), ok (below 400) or failed (400 and above)')
    .optional()
    .describe('the answer: a status such as 403, a class such as 4xx, ok or failed'),
  path: z.string().startsWith('/', 'must start with /').max(2_000).optional().describe('URLs starting with this, e.g. /api/tokens'),
  format: z.enum(['json', 'csv']).default('json').describe('csv: every match (no paging), as a file for the monthly report'),
});

/** The status range an `outcome` stands for. */
function outcomeRange(outcome: string | undefined): Pick<AuditFilter, 'statusMin' | 'statusMax'> {
  if (outcome === undefined) return {};
  if (outcome === 'ok') return { statusMin: 100, statusMax: 399 };
  if (outcome === 'failed') return { statusMin: 400, statusMax: 599 };
  if (outcome.endsWith('xx')) return { statusMin: Number(outcome[0]) * 100, statusMax: Number(outcome[0]) * 100 + 99 };
  return { statusMin: Number(outcome), statusMax: Number(outcome) };
}

const CSV_COLUMNS = ['at', 'actor', 'role', 'address', 'method', 'route', 'url', 'targetId', 'status', 'requestId'] as const;

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. A field a
 * spreadsheet would run as a formula (= + - @, tab, carriage return first) gets a leading
 * apostrophe: names and URLs come from callers.
 */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const csvLine = (e: StoredAuditEntry) => `${CSV_COLUMNS.map((c) => csvField(c === 'at' ? iso(e.at) : e[c])).join(',')}\r\n`;

/**
 * The audit trail: every request that asks for a change (POST, PUT, PATCH, DELETE), whatever its
 * outcome, and every request refused for who made it (401, 403, and an address's first 429 of its
 * brake window), recorded when its answer has
 * gone — who (principal or `anonymous`), role, address, method, route and URL, target, status and
 * request id; never a body or a token. A change whose caller left before the answer is recorded
 * with status 499. Recording only queues the entry, so it neither slows nor fails the request.
 * Every answer carries its request id in `X-Request-Id`.
 *
 * Registered after the auth plugin (its onRoute check covers `/api/audit`) and before the routes
 * (its hooks apply to them).
 */
export const auditPlugin = fp(
  async (base: FastifyInstance, options: { audit: AuditLog; now: () => number }) => {
    const app = base.withTypeProvider<ZodTypeProvider>();
    const { audit } = options;
    const created = new WeakMap<FastifyRequest, string>();

    app.addHook('onSend', async (request, reply, payload) => {
      void reply.header('x-request-id', request.id);
      if (request.method === 'POST' && reply.statusCode < 300 && targetOfParams(request.params) === undefined) {
        const target = targetOfAnswer(payload);
        if (target !== undefined) created.set(request, target);
      }
      return payload;
    });

    /** Requests recorded already: each once, by its answer or by its caller leaving. */
    const recorded = new WeakSet<FastifyRequest>();
    const record = (request: FastifyRequest, status: number) => {
      if (recorded.has(request)) return;
      recorded.add(request);
      try {
        const principal = request.principal ?? undefined;
        const secrets = request.routeOptions.config?.secretParams ?? [];
        const params = withoutSecrets(request.params, secrets);
        const target = targetOfParams(params) ?? created.get(request);
        audit.record({
          at: options.now(),
          actor: principal?.name ?? 'anonymous',
          ...(principal && { role: principal.role }),
          address: request.ip,
          method: request.method,
          ...(request.routeOptions.url !== undefined && { route: request.routeOptions.url }),
          url: redactPath(redactUrl(request.url), request.params, secrets),
          ...(target !== undefined && { targetId: target }),
          status,
          requestId: String(request.id),
        });
      } catch (err) {
        // Never the request's problem.
        request.log.error({ err }, 'could not record an audit entry');
      }
    };

    // A change whose caller went away before the answer was sent has no response to hook: it is
    // recorded when the connection closes, as 499 (client closed request) — it may have been made.
    app.addHook('onRequest', async (request, reply) => {
      if (!CHANGING.has(request.method)) return;
      reply.raw.once('close', () => {
        // After a sent answer the response hook records it (it may run after this, behind slower hooks).
        if (!reply.raw.writableFinished) setImmediate(() => record(request, CLIENT_CLOSED));
      });
    });

    app.addHook('onResponse', async (request, reply) => {
      const status = reply.statusCode;
      // A throttled address is recorded at its first 429 of the window, not at every one after.
      if (status === 429 && request.throttledAgain === true) return;
      if (CHANGING.has(request.method) || REFUSED.has(status)) record(request, status);
    });

    app.get(
      '/api/audit',
      {
        config: { roles: ADMINS },
        schema: {
          tags: ['access'],
          summary: 'The audit trail: changes asked of the API and refused requests, newest first; ?format=csv exports every match',
          querystring: AuditQuery,
          response: { 200: list(AuditView), 400: ErrorBody },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const now = options.now();
        const filter: AuditFilter = {
          ...(q.from !== undefined && { from: resolveTime(q.from, now)! }),
          ...(q.to !== undefined && { to: resolveTime(q.to, now)! }),
          ...(q.actor !== undefined && { actor: q.actor }),
          ...(q.method !== undefined && { method: q.method }),
          ...outcomeRange(q.outcome),
          ...(q.path !== undefined && { pathPrefix: q.path }),
        };
        if (q.format === 'csv') {
          const name = `audit-${iso(now).slice(0, 10)}.csv`;
          // A stream is sent as it is, past the JSON serializer of the 200 schema.
          return (reply as FastifyReply)
            .header('content-type', 'text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="${name}"`)
            .send(Readable.from(csvRows(audit, filter)));
        }
        const { items, total } = await audit.list({ ...filter, limit: q.limit, offset: q.offset });
        return { total, items: items.map((e) => ({ ...e, at: iso(e.at) })) };
      },
    );
  },
  { name: 'guardian-audit' },
);

/** The CSV file, read page by page after the last entry sent (entries written meanwhile do not shift it). */
async function* csvRows(audit: AuditLog, filter: AuditFilter): AsyncGenerator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  let after: AuditFilter['after'];
  for (;;) {
    const { items } = await audit.list({ ...filter, ...(after && { after }), limit: 1_000 });
    if (items.length) yield items.map(csvLine).join('');
    if (items.length < 1_000) return;
    const last = items[items.length - 1]!;
    after = { at: last.at, id: last.id };
  }
}
