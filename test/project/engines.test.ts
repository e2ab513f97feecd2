import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

/**
 * The README promises Node ≥ 20.19; every installed package must say it runs there, so that
 * `npm install` on Node 20 gives no EBADENGINE warning (see `overrides` in package.json).
 */
interface LockPackage {
  readonly engines?: { readonly node?: string } | readonly string[];
  readonly dev?: boolean;
  readonly optional?: boolean;
}

const root = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, LockPackage> };
const lowest = semver.minVersion(root.engines.node)?.version;

describe('Node versions every dependency supports', () => {
  it('the project states a lowest Node version', () => {
    expect(lowest).toBe('20.19.0');
  });

  for (const node of [lowest ?? '20.19.0', '22.13.0', '24.0.0']) {
    it(`no package in package-lock.json refuses Node ${node}`, () => {
      const refusing = Object.entries(lock.packages)
        .filter(([path]) => path !== '')
        .flatMap(([path, pkg]) => {
          const range = Array.isArray(pkg.engines) ? undefined : (pkg.engines as { node?: string } | undefined)?.node;
          return range !== undefined && !semver.satisfies(node, range, { includePrerelease: true }) ? [`${path} wants node ${range}`] : [];
        });
      expect(refusing).toEqual([]);
    });
  }
});
