import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endOfLocalDay, localEpochDay, startOfLocalDay } from '../../src/kernel/time/zone.js';
import { workOrderClocks, type ClockInput } from '../../src/workorders/clocks.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

const feedbackOf = (input: ClockInput, now: number) => workOrderClocks(input, now).find((c) => c.name === 'feedback');
const resolvedIn = (timeZone: string, resolvedAt: number): ClockInput => ({
  grade: 'general',
  faultType: 'other',
  kind: 'corrective',
  reportedAt: resolvedAt - 6 * HOUR,
  respondedAt: resolvedAt - 5 * HOUR,
  startedAt: resolvedAt - 5 * HOUR,
  resolvedAt,
  timeZone,
});

describe('feedback clock: the same local day as the resolution', () => {
  it('is due at the next local midnight of the site (Shanghai: 16:00 UTC)', () => {
    const resolvedAt = Date.parse('2026-11-25T22:30:00+08:00');
    expect(feedbackOf(resolvedIn('Asia/Shanghai', resolvedAt), resolvedAt)).toMatchObject({ startedAt: resolvedAt, dueAt: Date.parse('2026-11-25T16:00:00Z'), state: 'running' });
    // The same instant is still the 25th in Kathmandu (+05:45) and Chatham is already on the 26th.
    expect(feedbackOf(resolvedIn('Asia/Kathmandu', resolvedAt), resolvedAt)?.dueAt).toBe(Date.parse('2026-11-25T18:15:00Z'));
    expect(feedbackOf(resolvedIn('Pacific/Chatham', resolvedAt), resolvedAt)?.dueAt).toBe(Date.parse('2026-11-26T10:15:00Z'));
  });

  it('on a day whose midnight is skipped, is due when the next day begins, not an hour before (the old clocks.ts copy)', () => {
    // America/Santiago: Saturday 2026-09-05 24:00 -04 became Sunday 01:00 -03 at 04:00 UTC. The old
    // computation read the next midnight with the new offset and made the clock due at 23:00 Saturday.
    const resolvedAt = Date.parse('2026-09-05T22:40:00-04:00');
    const clock = feedbackOf(resolvedIn('America/Santiago', resolvedAt), resolvedAt + 30 * MIN);
    expect(clock?.dueAt).toBe(Date.parse('2026-09-06T04:00:00Z'));
    // Feedback at 23:10 local is the same day: met, not breached.
    expect(feedbackOf({ ...resolvedIn('America/Santiago', resolvedAt), feedbackAt: resolvedAt + 30 * MIN }, resolvedAt + HOUR)?.state).toBe('met');
  });

  it('is due after the resolution and within its local day, in any zone (property)', () => {
    const zones = ['Asia/Shanghai', 'UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/Santiago'];
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2060, 0, 1) }), (zone, resolvedAt) => {
        const due = feedbackOf(resolvedIn(zone, resolvedAt), resolvedAt)!.dueAt;
        expect(due).toBe(endOfLocalDay(zone, resolvedAt));
        expect(due).toBeGreaterThan(resolvedAt);
        expect(localEpochDay(zone, due - 1)).toBe(localEpochDay(zone, resolvedAt));
        expect(startOfLocalDay(zone, due)).toBe(due);
      }),
    );
  });
});
