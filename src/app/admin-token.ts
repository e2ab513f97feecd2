import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/** Owner read and write only: the file is a full-rights credential. */
const TOKEN_FILE_MODE = 0o600;

/**
 * The bootstrap admin token: the configured one, or one generated on first start and kept in the
 * data directory (owner-only, 0600) so that restarts (and scripts reading the file) keep working.
 * `generated` is true only on the start that created it: that start shows it, later ones say
 * where it is kept. A kept file others may read is made owner-only, with a warning.
 */
export function resolveAdminToken(configured: string | undefined, file: string, logger?: Logger): { token: string; generated: boolean } {
  if (configured) return { token: configured, generated: false };
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored.length >= 16) {
      const mode = statSync(file).mode & 0o777;
      if ((mode & ~TOKEN_FILE_MODE) !== 0) {
        chmodSync(file, mode & TOKEN_FILE_MODE);
        logger?.warn({ file, was: mode.toString(8), now: (mode & TOKEN_FILE_MODE).toString(8) }, 'the admin token file was readable by other users; made owner-only (consider a new token: delete the file and restart)');
      }
      return { token: stored, generated: false };
    }
  }
  const token = randomBytes(24).toString('base64url');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // A short or empty file left behind is replaced; the mode is set on the file whether new or not.
  writeFileSync(file, `${token}\n`, { mode: TOKEN_FILE_MODE });
  chmodSync(file, TOKEN_FILE_MODE);
  return { token, generated: true };
}
