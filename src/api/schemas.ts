import { z } from 'zod';

/** Shared response pieces; times are ISO-8601 UTC strings. */
export const IsoTime = z.string().describe('ISO-8601 UTC time');

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), total: z.number().int() });

/**
 * A list's state filter, in the one vocabulary every list shares: comma-separated states of the
 * resource, `open` (the states before it is done, as each list defines them) and `all`. Absent or
 * empty: undefined, the list's default. An unknown word is refused with the words allowed.
 */
export function stateFilter<S extends string>(states: readonly S[], open: readonly S[], what: string) {
  return z
    .string()
    .optional()
    .describe(`comma-separated ${what}s (${states.join(', ')}), open (${open.join(', ')}) or all`)
    .transform((text, ctx): S[] | undefined => {
      if (text === undefined || text.trim() === '') return undefined;
      const wanted = new Set<S>();
      const unknown: string[] = [];
      for (const word of text.split(',').map((w) => w.trim()).filter(Boolean)) {
        if (word === 'open') for (const s of open) wanted.add(s);
        else if (word === 'all') for (const s of states) wanted.add(s);
        else if ((states as readonly string[]).includes(word)) wanted.add(word as S);
        else unknown.push(word);
      }
      if (unknown.length > 0) {
        ctx.addIssue({ code: 'custom', message: `unknown ${what} ${unknown.join(', ')}; one of ${states.join(', ')}, open, all` });
        return z.NEVER;
      }
      return states.filter((s) => wanted.has(s));
    });
}

/**
 * `state` and `status` are one filter on every list (alerts have a state, work orders and silences
 * a status, and people type either): the one given, refusing two that disagree.
 */
export function eitherStateOrStatus<T>(query: { state?: T; status?: T }, ctx: z.RefinementCtx): void {
  if (query.state !== undefined && query.status !== undefined && JSON.stringify(query.state) !== JSON.stringify(query.status)) {
    ctx.addIssue({ code: 'custom', path: ['status'], message: 'state and status are the same filter; give one' });
  }
}
