import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { keepOwnerOnly, PRIVATE_DIR_MODE } from '../kernel/private-files.js';

/**
 * The data directory is its owner's alone (0700): it holds the SQL database (reporters' names
 * and phone numbers), the telemetry database, the spool, dead letters and the admin token.
 */
export const DATA_DIR_MODE = PRIVATE_DIR_MODE;

/**
 * Creates the data directory owner-only, or takes group and other permissions off an existing
 * one (with a warning: it was readable by others until now). A directory this process may not
 * change (owned by another user) is left as it is, with a warning.
 */
export function secureDataDir(dir: string, logger?: Logger): void {
  mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  keepOwnerOnly(dir, DATA_DIR_MODE, 'the data directory', logger);
}

/** Another live process holds the data directory. */
export class DataDirInUseError extends Error {
  constructor(dir: string, pid: number) {
    super(`data directory ${dir} is in use by another guardian process (pid ${pid}); stop it, or give this one its own GUARDIAN_DATA_DIR`);
    this.name = 'DataDirInUseError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the data directory for this process: two engines sharing one spool and one SQLite file
 * would replay and delete each other's data. A lock left by a crashed process is taken over.
 * Returns the release function.
 */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'guardian.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) throw new DataDirInUseError(dir, holder);
      unlinkSync(file);
    }
  }
  throw new Error(`could not lock data directory ${dir}`);
}
