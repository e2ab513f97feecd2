import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * Local Mosquitto and InfluxDB instances on ports of their own, started from the machine's
 * binaries: the ingest benchmark measures against them and the integration tests talk to them.
 */
export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server program. `failure()` gives the reason it could not be started (not installed,
 * say) once Node reports it, so a caller waiting for the server can stop with that reason.
 */
function startServer(command: string, args: readonly string[], install: string): { child: ChildProcess; failure: () => Error | undefined } {
  const child = spawn(command, args, { stdio: 'ignore' });
  let failed: Error | undefined;
  child.once('error', (error: NodeJS.ErrnoException) => {
    failed = error.code === 'ENOENT' ? new Error(`${command} not found: ${install}`) : error;
  });
  return { child, failure: () => failed };
}

async function waitForPort(port: number, timeoutMs: number, failure?: () => Error | undefined): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const failed = failure?.();
    if (failed) throw failed;
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export interface MosquittoOptions {
  /** Port to listen on (default: a free one); a test that starts the broker late names it up front. */
  readonly port?: number;
  /**
   * TLS on the listener (PEM files); the URL becomes `mqtts://localhost:<port>`. With
   * `requireCertificate` a client must present a certificate signed by `caFile`.
   */
  readonly tls?: { readonly caFile: string; readonly certFile: string; readonly keyFile: string; readonly requireCertificate?: boolean };
  /** User name → password; when given, anonymous clients are refused. */
  readonly users?: Readonly<Record<string, string>>;
  /**
   * A password file as is (`user:hash` lines, e.g. from `guardian devices credentials`), used
   * instead of `users`; anonymous clients are refused.
   */
  readonly passwordFile?: string;
  /** An `acl_file` (topic and pattern rules by user name) the broker enforces. */
  readonly aclFile?: string;
  /**
   * Mosquitto's dynamic security plugin with an admin client; other clients are made with
   * {@link MosquittoServer.ctrl}. A client without roles may connect but not subscribe.
   */
  readonly dynamicSecurity?: { readonly admin: string; readonly password: string };
}

/** Where Debian (and other distributions) put Mosquitto's dynamic security plugin. */
export function dynamicSecurityPlugin(): string | undefined {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/local/lib', '/usr/lib/mosquitto'];
  return dirs.map((d) => join(d, 'mosquitto_dynamic_security.so')).find((f) => existsSync(f));
}

/**
 * A Mosquitto of the test's own, on a loopback port, with persistence in its own folder, so a
 * test can stop and restart it without touching the machine's broker.
 */
export class MosquittoServer {
  private child: ChildProcess | undefined;
  readonly url: string;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    tls: boolean,
    private readonly admin?: MosquittoOptions['dynamicSecurity'],
  ) {
    this.url = tls ? `mqtts://localhost:${port}` : `mqtt://127.0.0.1:${port}`;
  }

  static async start(dir: string, options: MosquittoOptions = {}): Promise<MosquittoServer> {
    mkdirSync(dir, { recursive: true });
    // Started as root, mosquitto would drop to its own user, which cannot write into a private temp folder.
    const asRoot = process.getuid?.() === 0;
    const port = options.port ?? (await freePort());
    const { tls, users, dynamicSecurity, passwordFile, aclFile } = options;
    const plugin = dynamicSecurity && dynamicSecurityPlugin();
    if (dynamicSecurity) {
      if (!plugin) throw new Error('mosquitto_dynamic_security.so not found');
      const made = spawnSync('mosquitto_ctrl', ['dynsec', 'init', join(dir, 'dynsec.json'), dynamicSecurity.admin, dynamicSecurity.password], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`mosquitto_ctrl dynsec init failed: ${made.stderr || made.error?.message}`);
    }
    if (users) {
      const file = join(dir, 'passwd');
      writeFileSync(file, '');
      for (const [user, password] of Object.entries(users)) {
        const made = spawnSync('mosquitto_passwd', ['-b', file, user, password], { encoding: 'utf8' });
        if (made.status !== 0) throw new Error(`mosquitto_passwd failed: ${made.stderr || made.error?.message}`);
      }
    }
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        `listener ${port} 127.0.0.1`,
        ...(tls ? [`cafile ${tls.caFile}`, `certfile ${tls.certFile}`, `keyfile ${tls.keyFile}`, `require_certificate ${tls.requireCertificate === true}`] : []),
        ...(passwordFile
          ? [`password_file ${passwordFile}`, 'allow_anonymous false']
          : users
            ? [`password_file ${join(dir, 'passwd')}`, 'allow_anonymous false']
            : ['allow_anonymous true']),
        ...(aclFile ? [`acl_file ${aclFile}`] : []),
        ...(plugin ? [`plugin ${plugin}`, `plugin_opt_config_file ${join(dir, 'dynsec.json')}`] : []),
        ...(asRoot ? ['user root'] : []),
        'persistence true',
        `persistence_location ${dir}/`,
        'autosave_interval 1',
        // A collector that is away keeps its queue whole (the default drops past 1000).
        'max_queued_messages 0',
        'max_inflight_messages 100',
        'log_dest none',
        '',
      ].join('\n'),
    );
    const server = new MosquittoServer(port, dir, tls !== undefined, dynamicSecurity);
    await server.restart();
    return server;
  }

  /** Runs `mosquitto_ctrl` as the dynamic security admin against this broker (`dynsec createClient …`). */
  ctrl(args: readonly string[]): string {
    if (!this.admin) throw new Error('this broker runs without the dynamic security plugin');
    const result = spawnSync('mosquitto_ctrl', ['-h', '127.0.0.1', '-p', String(this.port), '-u', this.admin.admin, '-P', this.admin.password, ...args], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`mosquitto_ctrl ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
    return result.stdout;
  }

  async restart(): Promise<void> {
    if (this.child) await stopProcess(this.child);
    const { child, failure } = startServer('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], 'install Mosquitto (Debian: apt-get install mosquitto) or pass the URL of a running broker');
    this.child = child;
    try {
      await waitForPort(this.port, 10_000, failure);
    } catch (error) {
      if (failure()) this.child = undefined;
      throw error;
    }
  }

  /** The server's process id while it runs (the benchmark reads its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async stop(): Promise<void> {
    if (this.child) await stopProcess(this.child);
    this.child = undefined;
  }
}

/** A throw-away InfluxDB 1.x of the test's own (Debian's influxd), so a test can stop and start it. */
export class InfluxServer {
  private child: ChildProcess | undefined;
  readonly url: string;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(dir: string): Promise<InfluxServer> {
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const rpc = await freePort();
    writeFileSync(
      join(dir, 'influxdb.conf'),
      [
        'reporting-enabled = false',
        `bind-address = "127.0.0.1:${rpc}"`,
        '[meta]',
        `  dir = "${dir}/meta"`,
        '[data]',
        `  dir = "${dir}/data"`,
        `  wal-dir = "${dir}/wal"`,
        '  query-log-enabled = false',
        '[http]',
        `  bind-address = "127.0.0.1:${port}"`,
        '  log-enabled = false',
        '[logging]',
        '  level = "error"',
        '[monitor]',
        '  store-enabled = false',
        '',
      ].join('\n'),
    );
    const server = new InfluxServer(port, dir);
    await server.resume();
    return server;
  }

  async resume(): Promise<void> {
    if (this.child) return;
    const { child, failure } = startServer('influxd', ['-config', join(this.dir, 'influxdb.conf')], 'install InfluxDB 1.x (Debian: apt-get install influxdb) or pass the URL of a running server');
    this.child = child;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const failed = failure();
      if (failed) {
        this.child = undefined;
        throw failed;
      }
      try {
        if ((await fetch(`${this.url}/ping`)).status === 204) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`influxd did not answer on ${this.url}`);
  }

  /** The server's process id while it runs (the benchmark reads its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async stop(): Promise<void> {
    if (this.child) await stopProcess(this.child);
    this.child = undefined;
  }
}
