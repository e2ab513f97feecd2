import { describe, it } from 'vitest';

/** Options every contract suite takes. */
export interface ContractOptions {
  /** When set, the suite is registered as skipped, with this reason in its name. */
  readonly skip?: string;
}

/** Registers a contract suite that cannot run here as skipped, its reason in its name; true when it did. */
export function registeredAsSkipped(name: string, options: ContractOptions): boolean {
  if (options.skip === undefined) return false;
  describe.skip(`${name} (skipped: ${options.skip})`, () => {
    it('is not run', () => undefined);
  });
  return true;
}

/** A close that runs once however often it is called (the test and its afterEach may both call it). */
export function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= close());
}
