/**
 * Real receivers on loopback for push tests: an HTTP server standing in for a robot, webhook
 * receiver or SMS gateway, and an SMTP server (smtp-server) receiving mail. Both record what
 * arrives, in order, and can be told how to answer.
 *
 * ```ts
 * const http = await startHttpReceiver();                 // answers 200 {"errcode":0,"errmsg":"ok"}
 * http.respondWith({ status: 429, headers: { 'retry-after': '7' } });
 * http.respondWith('hang');                               // never answers (until close)
 * http.respondWith((req) => (req.path === '/a' ? { status: 500 } : { status: 200 }));
 * const [first] = await http.waitFor(1);                  // first.json, first.headers, first.raw …
 *
 * const smtp = await startSmtpReceiver();                 // smtp://127.0.0.1:<port>, no TLS
 * smtp.failNext(451, 'try later');                        // the next message's DATA is refused
 * const [mail] = await smtp.waitFor(1);                   // mail.subject decoded, mail.rawSubjectHeader as sent
 * ```
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedRequest {
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  /** The path and query exactly as requested (query still percent-encoded). */
  readonly url: string;
  /** Query parameters, decoded (the last value of a repeated name). */
  readonly query: Readonly<Record<string, string>>;
  /** Header names in lower case. */
  readonly headers: IncomingHttpHeaders;
  /** The body as received, decoded as UTF-8. */
  readonly raw: string;
  /** The body parsed, when it is JSON. */
  readonly json?: unknown;
  /** Arrival time (epoch ms). */
  readonly at: number;
}

/** An answer: a status with optional headers and body (an object is sent as JSON), or `hang` to never answer. */
export type Reply = { readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body?: string | object } | 'hang';
export type Responder = Reply | ((request: ReceivedRequest) => Reply);

export interface HttpReceiver {
  /** Base URL, `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** How the following requests are answered. */
  respondWith(responder: Responder): void;
  /** Resolves with the requests once at least `n` have arrived; rejects after `timeoutMs` (5 s). */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Stops listening and drops every connection, hanging ones included. */
  close(): Promise<void>;
}

/** What robots answer when all is well; fine for any receiver that ignores the body. */
export const ROBOT_OK: Reply = { status: 200, body: { errcode: 0, errmsg: 'ok' } };

/** Waits until `ready()` gives a value, checking on each `wake`; rejects after `timeoutMs`. */
function waiter() {
  const listeners = new Set<() => void>();
  return {
    wake: () => {
      for (const l of [...listeners]) l();
    },
    until<T>(ready: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          const value = ready();
          if (value === undefined) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(value);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

export async function startHttpReceiver(options: { readonly respond?: Responder } = {}): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  let responder: Responder = options.respond ?? ROBOT_OK;
  const arrivals = waiter();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const parsed = new URL(req.url ?? '/', 'http://receiver');
      let json: unknown;
      if (/json/i.test(req.headers['content-type'] ?? '')) {
        try {
          json = JSON.parse(raw);
        } catch {
          json = undefined;
        }
      }
      const request: ReceivedRequest = {
        method: req.method ?? 'GET',
        path: parsed.pathname,
        url: req.url ?? '/',
        query: Object.fromEntries(parsed.searchParams),
        headers: req.headers,
        raw,
        ...(json !== undefined && { json }),
        at: Date.now(),
      };
      requests.push(request);
      arrivals.wake();
      const reply = typeof responder === 'function' ? responder(request) : responder;
      if (reply === 'hang') return;
      const body = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      const headers: Record<string, string> = { ...(typeof reply.body === 'object' && { 'content-type': 'application/json' }), ...reply.headers };
      res.writeHead(reply.status, headers);
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    respondWith(next) {
      responder = next;
    },
    waitFor(n, timeoutMs = 5_000) {
      return arrivals.until(() => (requests.length >= n ? requests : undefined), timeoutMs, () => `${n} request(s), ${requests.length} arrived`);
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export interface ReceivedMail {
  /** Envelope sender. */
  readonly from: string;
  /** Envelope recipients. */
  readonly to: readonly string[];
  /** Subject decoded. */
  readonly subject: string;
  readonly text: string;
  /** The HTML part, or '' without one. */
  readonly html: string;
  /** The Subject header's value as it was on the wire (unfolded), e.g. `=?UTF-8?B?…?=`. */
  readonly rawSubjectHeader: string;
  /** Every header, decoded, names in lower case. */
  readonly headers: ReadonlyMap<string, unknown>;
  readonly raw: string;
}

export interface SmtpReceiver {
  /** `smtp://127.0.0.1:<port>`, or with the user and password when it requires them. */
  readonly url: string;
  readonly mails: ReceivedMail[];
  /** Refuses the next message's DATA with this reply (e.g. 451 transient, 550 permanent). */
  failNext(code: number, message: string): void;
  /** Resolves with the mails once at least `n` have arrived; rejects after `timeoutMs` (5 s). */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

function rawSubject(raw: string): string {
  const end = raw.search(/\r?\n\r?\n/);
  const head = end < 0 ? raw : raw.slice(0, end);
  const match = /^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(head);
  return match ? match[1]!.replace(/\r?\n(?=[ \t])/g, '') : '';
}

/** A plain SMTP server (no TLS) on loopback; with `auth` it requires that user and password. */
export async function startSmtpReceiver(options: { readonly auth?: { readonly user: string; readonly pass: string } } = {}): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const failures: Array<{ code: number; message: string }> = [];
  const arrivals = waiter();
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: options.auth === undefined,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) return callback(null, { user: auth.username });
      if (!options.auth) return callback(null, { user: auth.username ?? 'anyone' });
      const err = Object.assign(new Error('Invalid username or password'), { responseCode: 535 });
      return callback(err);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const failure = failures.shift();
        if (failure) {
          callback(Object.assign(new Error(failure.message), { responseCode: failure.code }));
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw)
          .then((parsed) => {
            mails.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              rawSubjectHeader: rawSubject(raw),
              headers: parsed.headers,
              raw,
            });
            callback();
            arrivals.wake();
          })
          .catch((err: Error) => callback(err));
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  const credentials = options.auth ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@` : '';
  return {
    url: `smtp://${credentials}127.0.0.1:${port}`,
    mails,
    failNext(code, message) {
      failures.push({ code, message });
    },
    waitFor(n, timeoutMs = 5_000) {
      return arrivals.until(() => (mails.length >= n ? mails : undefined), timeoutMs, () => `${n} mail(s), ${mails.length} arrived`);
    },
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
