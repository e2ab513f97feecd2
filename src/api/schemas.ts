import { z } from 'zod';

/** Shared response pieces; times are ISO-8601 UTC strings. */
export const IsoTime = z.string().describe('ISO-8601 UTC time');

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), total: z.number().int() });
