/**
 * One HTTP attempt for the channels that speak HTTP (robots, webhook, SMS gateway), and how its
 * outcome counts: 2xx sent; 429, 5xx, a timeout or a network error worth trying again (with the
 * receiver's Retry-After, in seconds or as an HTTP date); any other status permanent. One request
 * per call: the dispatcher decides whether and when to try again.
 *
 * Redirects are not followed (a redirected POST would lose its body or its signature's meaning):
 * a 3xx counts as permanent and names the status, so the URL gets fixed. Error texts never carry
 * the URL, whose query holds the robots' keys.
 */
import type { SendResult } from '../types.js';

/** Bytes of an answer kept (robots answer a few dozen; a proxy's error page is not needed whole). */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface HttpRequest {
  readonly url: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  /** The caller's own cancellation (shutting down): the attempt ends as retryable. */
  readonly signal?: AbortSignal;
}

export type HttpOutcome =
  | { readonly kind: 'answer'; readonly status: number; readonly headers: Headers; readonly body: string; readonly ms: number }
  | { readonly kind: 'failure'; readonly error: string; readonly timedOut: boolean; readonly ms: number };

/** Sends one request and reads its answer, all within `timeoutMs`. Never throws. */
export async function attemptHttp(request: HttpRequest): Promise<HttpOutcome> {
  const started = performance.now();
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
  const ms = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined && request.method !== 'GET' && { body: request.body }),
      redirect: 'manual',
      signal,
    });
    const body = await readCapped(response);
    return { kind: 'answer', status: response.status, headers: response.headers, body, ms: ms() };
  } catch (error) {
    const timedOut = timeout.aborted;
    if (timedOut) return { kind: 'failure', error: `no answer within ${request.timeoutMs} ms`, timedOut: true, ms: ms() };
    if (request.signal?.aborted) return { kind: 'failure', error: 'cancelled before an answer', timedOut: false, ms: ms() };
    return { kind: 'failure', error: networkError(error), timedOut: false, ms: ms() };
  }
}

async function readCapped(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = MAX_ANSWER_BYTES - size;
    chunks.push(value.byteLength > room ? value.subarray(0, room) : value);
    size += Math.min(value.byteLength, room);
    if (size >= MAX_ANSWER_BYTES) {
      await reader.cancel();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What failed, from fetch's error and its cause (ECONNREFUSED, ENOTFOUND, a TLS failure…), without the URL. */
function networkError(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message = typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/**
 * Retry-After as milliseconds from `now`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
 * Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A short, single-line excerpt of an answer for the delivery log. */
export function excerpt(body: string, max = 200): string {
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** How an HTTP outcome counts (the robots look into a 2xx answer further themselves). */
export function classifyHttp(outcome: HttpOutcome, now = Date.now()): SendResult {
  if (outcome.kind === 'failure') return { ok: false, retryable: true, error: outcome.error };
  const { status } = outcome;
  if (status >= 200 && status < 300) return { ok: true, status };
  const said = excerpt(outcome.body);
  const error = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(outcome.headers.get('retry-after'), now);
    return { ok: false, retryable: true, status, error, ...(retryAfterMs !== undefined && { retryAfterMs }) };
  }
  if (status >= 300 && status < 400) return { ok: false, retryable: false, status, error: `HTTP ${status}: redirected (not followed); configure the final URL` };
  return { ok: false, retryable: false, status, error };
}

/** WeCom and DingTalk: "system busy, try again later". */
export const ROBOT_BUSY = -1;

/**
 * How a robot's attempt counts: a status other than 2xx as any HTTP answer; a 2xx by the robot's
 * JSON `errcode` (0 sent; its rate-limit code retryable after its window; -1, busy, retryable;
 * anything else, or an answer that is not the robot's, permanent). The robots differ only in
 * their rate-limit code and window.
 */
export function robotResult(outcome: HttpOutcome, rateLimited: { readonly code: number; readonly retryAfterMs: number }): SendResult {
  if (outcome.kind === 'answer' && outcome.status >= 200 && outcome.status < 300) return robotAnswer(outcome.body, outcome.status, rateLimited);
  return classifyHttp(outcome);
}

function robotAnswer(body: string, status: number, rateLimited: { code: number; retryAfterMs: number }): SendResult {
  let answer: { errcode?: unknown; errmsg?: unknown };
  try {
    answer = JSON.parse(body) as typeof answer;
  } catch {
    return { ok: false, retryable: false, status, error: `not a robot's answer: ${excerpt(body) || '(empty)'}` };
  }
  const code = typeof answer?.errcode === 'number' ? answer.errcode : undefined;
  const message = typeof answer?.errmsg === 'string' ? answer.errmsg : '';
  if (code === undefined) return { ok: false, retryable: false, status, error: `not a robot's answer: ${excerpt(body) || '(empty)'}` };
  if (code === 0) return { ok: true, status, detail: message || 'ok' };
  const error = `errcode ${code}${message ? `: ${excerpt(message)}` : ''}`;
  if (code === rateLimited.code) return { ok: false, retryable: true, retryAfterMs: rateLimited.retryAfterMs, status, error };
  if (code === ROBOT_BUSY) return { ok: false, retryable: true, status, error };
  return { ok: false, retryable: false, status, error };
}
