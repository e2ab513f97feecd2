import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The bootstrap admin token: the configured one, or one generated on first start and kept in the
 * data directory so that restarts (and scripts reading the file) keep working.
 */
export function resolveAdminToken(configured: string | undefined, file: string): { token: string; generated: boolean } {
  if (configured) return { token: configured, generated: false };
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored.length >= 16) return { token: stored, generated: false };
  }
  const token = randomBytes(24).toString('base64url');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, generated: true };
}
