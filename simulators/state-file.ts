import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

/**
 * What a simulator remembers between runs: the fleet epoch (so relative onsets stay put) and,
 * per device, the last acknowledged sample and message sequence — a restart then only backfills
 * the gap, like a device draining its store-and-forward buffer.
 */
export const SimulatorStateSchema = z.object({
  version: z.literal(1),
  seed: z.number(),
  epoch: z.number(),
  devices: z.record(z.string(), z.object({ lastTs: z.number(), seq: z.number().int().nonnegative() })),
});
export type SimulatorState = z.infer<typeof SimulatorStateSchema>;

/** Reads a state file; a missing file is a first run, an unreadable one is reported. */
export function readStateFile(path: string): SimulatorState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`simulator state file ${path} is not JSON: ${(error as Error).message}`);
  }
  const parsed = SimulatorStateSchema.safeParse(json);
  if (!parsed.success) throw new Error(`simulator state file ${path} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

/** Replaces the file atomically so a crash mid-write never leaves half a state behind. */
export function writeStateFile(path: string, state: SimulatorState): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, path);
}
