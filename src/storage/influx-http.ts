/**
 * HTTP layer of the InfluxDB telemetry store: InfluxQL over the v1-compatible `/query` endpoint
 * and line-protocol writes to either `/write` (v1) or `/api/v2/write` (v2).
 *
 * Why not the client library's WriteApi: it is built for fire-and-forget telemetry, and each of
 * its conveniences works against a store whose `write()` must resolve only once *these* samples
 * are acknowledged. Its buffer is shared by all callers, so the promise of `flush()` does not say
 * whether a given caller's lines were written; batches it sends on its own (batch size, byte
 * limit, flush interval) swallow their errors; failed lines go to an in-memory retry buffer that
 * drops the oldest lines when full and may replay a stale value after the caller has written a
 * newer one for the same instant; and failures are reported through the library's process-wide
 * logger on the console. Switching all of that off leaves nothing but `lines.join('\n')`, so the
 * library builds the line protocol (`Point`, in the store) and this module does one plain POST
 * per batch, gzipped, and resolves on the server's 204.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';

const gzip = promisify(gzipCb);

/** Bodies below this many bytes go uncompressed: gzip would cost more than it saves. */
const GZIP_THRESHOLD_BYTES = 1_024;

export type InfluxWritePath = 'v1' | 'v2';

export interface InfluxHttpOptions {
  readonly url: string;
  readonly token?: string;
  readonly org?: string;
  readonly bucket: string;
  readonly database?: string;
  readonly retentionPolicy?: string;
  readonly timeoutMs: number;
  /** Compress write bodies: `auto` (default) unless the server is on this host. */
  readonly gzip?: boolean | 'auto';
}

/** True for localhost and loopback addresses, where compressing only costs CPU on both ends. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith('.localhost') || /^127(?:\.\d{1,3}){3}$/.test(host) || host === '[::1]';
}

/** A non-success answer (or no answer) from InfluxDB; `status` is absent when there was no response. */
export class InfluxRequestError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InfluxRequestError';
  }
}

export interface InfluxSeries {
  readonly name: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly columns: readonly string[];
  readonly values?: readonly (readonly unknown[])[];
}

interface StatementResult {
  readonly statement_id?: number;
  readonly series?: readonly InfluxSeries[];
  readonly error?: string;
  readonly partial?: boolean;
}

export interface ServerVersion {
  /** As the server reports it, e.g. `1.6.7~rc0`, `v2.7.4`, `3.0.1`; undefined if it does not say. */
  readonly version: string | undefined;
  readonly major: number | undefined;
  readonly minor: number | undefined;
}

/** Timestamp precision of a write; raw samples use ms, roll-ups ns (see the store's layout). */
export type WritePrecision = 'ms' | 'ns';

export class InfluxHttp {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly gzip: boolean;
  /** Writes go through `node:http(s)` on kept-alive connections (see `post`). */
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  constructor(private readonly options: InfluxHttpOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.gzip = options.gzip === 'auto' || options.gzip === undefined ? !isLoopbackUrl(options.url) : options.gzip;
    this.headers = options.token ? { Authorization: `Token ${options.token}` } : {};
    const tls = new URL(this.base).protocol === 'https:';
    // Idle kept-alive connections close after 5 s (as Node's global agent does), before a server or
    // proxy in front of it drops them under a write that reuses one.
    this.agent = tls ? new HttpsAgent({ keepAlive: true, timeout: 5_000 }) : new HttpAgent({ keepAlive: true, timeout: 5_000 });
    this.request = tls ? (httpsRequest as typeof httpRequest) : httpRequest;
  }

  /** Closes the kept-alive write connections. */
  close(): void {
    this.agent.destroy();
  }

  get database(): string {
    return this.options.database ?? this.options.bucket;
  }

  /** `/ping`; resolves with the version the server reports. */
  async ping(): Promise<ServerVersion> {
    const res = await this.fetch('/ping', { method: 'GET' }, 'ping');
    const body = await res.text();
    if (!res.ok) throw new InfluxRequestError(`InfluxDB ping answered ${res.status}: ${body.slice(0, 200)}`, res.status);
    let version = res.headers.get('x-influxdb-version') ?? undefined;
    if (version === undefined && body.length > 0) {
      // 3.x answers /ping with a JSON body rather than the header.
      try {
        const parsed = JSON.parse(body) as { version?: unknown };
        if (typeof parsed.version === 'string') version = parsed.version;
      } catch {
        // Not JSON: the version stays unknown.
      }
    }
    const m = version === undefined ? null : /^v?(\d+)\.(\d+)/.exec(version);
    return { version, major: m ? Number(m[1]) : undefined, minor: m ? Number(m[2]) : undefined };
  }

  /**
   * Whether the server has `/api/v2/write`. Only a 404 from the router (plain text, as 1.x before
   * 1.8 gives) means it does not: 2.x answers 404 too when the bucket or org is unknown, but with
   * a JSON body, and then the v2 path is still the right one (the write will report the cause).
   */
  async hasV2Write(): Promise<boolean> {
    const res = await this.fetch(this.writeUrl('v2', 'ms', undefined), { method: 'POST', body: '' }, 'write probe');
    const body = await res.text();
    if (res.status !== 404) return true;
    try {
      JSON.parse(body);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Runs InfluxQL statements in one request and returns each statement's series. A statement that
   * fails fails the call, as does a result the server truncated (`max-row-limit`).
   */
  async query(statements: readonly string[], opts: { withDatabase?: boolean } = {}): Promise<InfluxSeries[][]> {
    const params = new URLSearchParams({ epoch: 'ms' });
    if (opts.withDatabase !== false) {
      params.set('db', this.database);
      if (this.options.retentionPolicy) params.set('rp', this.options.retentionPolicy);
    }
    const res = await this.fetch(
      `/query?${params.toString()}`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ q: statements.join(';\n') }).toString(),
      },
      'query',
    );
    const text = await res.text();
    let parsed: { results?: StatementResult[]; error?: string };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new InfluxRequestError(`InfluxDB query answered ${res.status}: ${text.slice(0, 300)}`, res.status);
    }
    if (!res.ok || parsed.error !== undefined) {
      throw new InfluxRequestError(`InfluxDB query failed (${res.status}): ${parsed.error ?? text.slice(0, 300)}`, res.status);
    }
    const results = parsed.results ?? [];
    return statements.map((statement, i) => {
      const r = results.find((x) => x.statement_id === i) ?? results[i];
      if (r?.error !== undefined) throw new InfluxRequestError(`InfluxQL error: ${r.error} in: ${statement.slice(0, 300)}`);
      if (r?.partial === true) {
        throw new InfluxRequestError(`InfluxDB truncated the result (max-row-limit) of: ${statement.slice(0, 300)}`);
      }
      return [...(r?.series ?? [])];
    });
  }

  /** POSTs newline-separated line protocol; resolves only on 204 (all lines stored). */
  async write(lines: string | Buffer, path: InfluxWritePath, precision: WritePrecision, serverMajor: number | undefined): Promise<void> {
    const raw = typeof lines === 'string' ? Buffer.from(lines, 'utf8') : lines;
    const compress = this.gzip && raw.length >= GZIP_THRESHOLD_BYTES;
    // Level 1: line protocol is repetitive enough that it already shrinks several-fold, and
    // higher levels cost CPU on both ends for little more (measured: level 6 was ~10% slower
    // end to end than level 1 against a local server). One output chunk as large as the input:
    // the default 16 kB chunks would cost a trip through a busy event loop each.
    const body = compress ? await gzip(raw, { level: 1, chunkSize: Math.max(16_384, raw.length) }) : raw;
    const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' };
    if (compress) headers['Content-Encoding'] = 'gzip';
    const res = await this.post(this.writeUrl(path, precision, serverMajor), headers, body, 'write');
    // 1.x reports a partial write (some lines stored, some refused) as 400, and the client library
    // notes that 3.x may answer one with 201: anything but 204 is a failure, and the caller's
    // retry of the whole batch is harmless because rewrites replace.
    if (res.status !== 204) {
      throw new InfluxRequestError(`InfluxDB write answered ${res.status}: ${res.text.slice(0, 300)}`, res.status);
    }
  }

  /**
   * One POST through `node:http(s)`. Writes do not use `fetch`: it copies every request body
   * before sending it, and a busy collector's copies (all of its line protocol) linger as
   * garbage outside the heap until V8's next full collection — tens of MB of resident memory.
   * The body is sent as given, and resolves with the status and text of the answer.
   */
  private post(path: string, headers: Record<string, string>, body: Buffer, what: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => reject(new InfluxRequestError(`InfluxDB ${what} at ${this.base} failed: ${err.message}`, undefined, { cause: err }));
      let req: ReturnType<typeof httpRequest>;
      try {
        req = this.request(
          `${this.base}${path}`,
          {
            method: 'POST',
            agent: this.agent,
            headers: { ...this.headers, ...headers, 'Content-Length': String(body.length) },
            timeout: this.options.timeoutMs,
          },
          (res: IncomingMessage) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
            // Also where the connection drops mid-answer (Node reports it as an error of the answer).
            res.on('error', failed);
          },
        );
      } catch (error) {
        // Refused before anything is sent (a header value Node will not send, say).
        failed(error as Error);
        return;
      }
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)));
      req.on('error', failed);
      req.end(body);
    });
  }

  private writeUrl(path: InfluxWritePath, precision: WritePrecision, serverMajor: number | undefined): string {
    const params = new URLSearchParams();
    if (path === 'v1') {
      params.set('db', this.database);
      if (this.options.retentionPolicy) params.set('rp', this.options.retentionPolicy);
      // v1 spells nanoseconds `n`; it is also the default there.
      if (precision !== 'ns') params.set('precision', precision);
      return `/write?${params.toString()}`;
    }
    params.set('org', this.options.org ?? '');
    // 1.8+ serves /api/v2/write too and names the target `database/retention-policy` there.
    const bucket =
      serverMajor === 1 && this.options.retentionPolicy
        ? `${this.database}/${this.options.retentionPolicy}`
        : serverMajor === 1
          ? this.database
          : this.options.bucket;
    params.set('bucket', bucket);
    params.set('precision', precision);
    return `/api/v2/write?${params.toString()}`;
  }

  private async fetch(path: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, {
        ...init,
        headers: { ...this.headers, ...(init.headers as Record<string, string> | undefined) },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new InfluxRequestError(`InfluxDB ${what} at ${this.base} failed: ${detail}`, undefined, { cause: err });
    }
  }
}
