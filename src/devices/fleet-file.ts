import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DeviceSchema, SiteSchema } from '../kernel/device.js';

/**
 * A fleet file lists sites and devices to register at start. A device may carry a `simulation`
 * block, read only by the simulator (`guardian simulate`, the demo fleet).
 */
export const FleetFileSchema = z.object({
  sites: z.array(SiteSchema).default([]),
  devices: z.array(DeviceSchema.extend({ simulation: z.unknown().optional() })).default([]),
});
export type FleetFile = z.output<typeof FleetFileSchema>;

export function readFleetFile(path: string): FleetFile {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`fleet file ${path}: ${(error as Error).message}`);
  }
  const result = FleetFileSchema.safeParse(parsed ?? {});
  if (!result.success) {
    const issues = result.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`fleet file ${path} is invalid:\n${issues}`);
  }
  return result.data;
}
