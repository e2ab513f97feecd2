import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/** Owner read and write only: files that hold people's data or a credential. */
export const PRIVATE_FILE_MODE = 0o600;
/** Owner only: the data directory and the folders in it. */
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Takes permissions beyond `wanted` off a file or directory (one left by an earlier release, or
 * made under a loose umask), with a warning naming `what` it is: it was open to others until now.
 * A path this process may not change (owned by another user) is left as it is, with a warning.
 * A path that does not exist is skipped. Returns whether the path exists. `advice` is added to the
 * warning (what the operator should do now that it may have been read).
 */
export function keepOwnerOnly(path: string, wanted: number, what: string, logger?: Logger, advice?: string): boolean {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return false;
  }
  if ((mode & ~wanted) === 0) return true;
  try {
    chmodSync(path, mode & wanted);
    logger?.warn({ path, was: mode.toString(8), now: (mode & wanted).toString(8) }, `${what} was open to other users; made owner-only${advice ? ` (${advice})` : ''}`);
  } catch (error) {
    logger?.warn({ path, mode: mode.toString(8), err: error }, `${what} is open to other users and could not be made owner-only; chmod ${wanted.toString(8)} it`);
  }
  return true;
}

/** A secret kept in a file, if there is one of at least 16 characters. */
export function readSecretFile(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const stored = readFileSync(file, 'utf8').trim();
  return stored.length >= 16 ? stored : undefined;
}

/**
 * A secret kept in a file of the data directory (the admin token, the engine's and the enrolment
 * MQTT secrets): read when it exists (and made owner-only if it was not, with a warning naming
 * `what`), otherwise generated — 24 random bytes, base64url — and written owner-only. `created`
 * is true only when this call made it. A short or empty file left behind is replaced.
 */
export function readOrCreateSecretFile(file: string, what: string, logger?: Logger): { secret: string; created: boolean } {
  const stored = readSecretFile(file);
  if (stored !== undefined) {
    keepOwnerOnly(file, PRIVATE_FILE_MODE, what, logger, 'consider a new one: delete the file and restart');
    return { secret: stored, created: false };
  }
  const secret = randomBytes(24).toString('base64url');
  mkdirSync(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  writeFileSync(file, `${secret}\n`, { mode: PRIVATE_FILE_MODE });
  // The mode is set on the file whether it is new or replaced a short one.
  chmodSync(file, PRIVATE_FILE_MODE);
  return { secret, created: true };
}
