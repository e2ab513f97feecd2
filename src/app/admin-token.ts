import type { Logger } from 'pino';
import { readOrCreateSecretFile } from '../kernel/private-files.js';

/**
 * The bootstrap admin token: the configured one, or one generated on first start and kept in the
 * data directory (owner-only, 0600) so that restarts (and scripts reading the file) keep working.
 * `generated` is true only on the start that created it: that start shows it, later ones say
 * where it is kept. A kept file others may read is made owner-only, with a warning.
 */
export function resolveAdminToken(configured: string | undefined, file: string, logger?: Logger): { token: string; generated: boolean } {
  if (configured) return { token: configured, generated: false };
  const { secret, created } = readOrCreateSecretFile(file, 'the admin token file', logger);
  return { token: secret, generated: created };
}
