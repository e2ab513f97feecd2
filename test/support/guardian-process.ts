import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** The `guardian` CLI run from source in a child process, as a user or an init system would run it. */
export class GuardianProcess {
  private out = '';
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (c: Buffer) => (this.out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.out += c.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static spawn(args: string[], env: Record<string, string>): GuardianProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/guardian.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, GUARDIAN_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new GuardianProcess(child);
  }

  output(): string {
    return this.out;
  }

  /** Resolves when the output contains `text`; rejects if the process exits first or time runs out. */
  async waitForOutput(text: string | RegExp, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const found = () => (typeof text === 'string' ? this.out.includes(text) : text.test(this.out));
    while (!found()) {
      if (this.child.exitCode !== null) throw new Error(`guardian exited (${this.child.exitCode}) before printing ${String(text)}:\n${this.out}`);
      if (Date.now() > deadline) throw new Error(`guardian did not print ${String(text)} within ${timeoutMs} ms:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** kill -9: no shutdown code runs. */
  async crash(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    return this.exited;
  }
}
