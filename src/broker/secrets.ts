import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The user name of the engine's own MQTT clients on the embedded broker, unless mqtt.username is set. */
export const ENGINE_USERNAME = 'guardian-engine';

/**
 * A secret kept in a file of the data directory: read when it exists, otherwise generated (24
 * random bytes, base64url) and written readable by the owner only (0600). A file other users can
 * read is narrowed to 0600.
 */
export function readOrCreateSecret(file: string): { secret: string; created: boolean } {
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored.length >= 16) {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
      return { secret: stored, created: false };
    }
  }
  const secret = randomBytes(24).toString('base64url');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { secret, created: true };
}

/** Reads a secret file if there is one (another process's engine or enrolment secret). */
export function readSecret(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const stored = readFileSync(file, 'utf8').trim();
  return stored.length >= 16 ? stored : undefined;
}
