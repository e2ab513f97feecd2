export { dynamicSecurityPlugin, freePort, hasCommand, InfluxServer, MosquittoServer, type MosquittoOptions } from '../../bench/servers.js';

/**
 * External servers for integration tests. A suite that needs one runs when it is available and is
 * skipped with the reason in its name otherwise — except when GUARDIAN_TEST_REQUIRE_SERVERS is set
 * (CI sets it), where a missing server fails the run instead.
 */
export const REQUIRE_SERVERS = ['1', 'true', 'yes'].includes((process.env.GUARDIAN_TEST_REQUIRE_SERVERS ?? '').toLowerCase());

/** `describe` title and skip flag for a suite that needs a server; throws in CI when it is missing. */
export function needs(what: string, available: boolean, missingReason: string): { title: string; skip: boolean } {
  if (available) return { title: what, skip: false };
  if (REQUIRE_SERVERS) throw new Error(`${what}: required server missing (${missingReason}) and GUARDIAN_TEST_REQUIRE_SERVERS is set`);
  return { title: `${what} — skipped: ${missingReason}`, skip: true };
}
