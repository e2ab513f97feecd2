import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLOCK_POLICY, workOrderClocks, type ClockInput } from '../../src/workorders/clocks.js';
import { endOfLocalDay } from '../../src/kernel/time/zone.js';
import { ACTION_TABLE, allowedActions, applyAction, isOpen, WORK_ORDER_ACTIONS, WORK_ORDER_STATES, type WorkOrderState } from '../../src/workorders/state-machine.js';

/** The graph the tender describes, written out edge by edge as a second opinion on the table. */
const EDGES = new Set([
  'new-notify-notified',
  'new-acknowledge-acknowledged',
  'notified-acknowledge-acknowledged',
  'acknowledged-respond-responding',
  'responding-start-in_progress',
  'in_progress-hold-on_hold',
  'on_hold-resume-in_progress',
  'in_progress-resolve-resolved',
  'resolved-reopen-in_progress',
  'resolved-close-closed',
  ...['new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold'].map((s) => `${s}-cancel-cancelled`),
]);

describe('work-order state machine', () => {
  it('no sequence of actions escapes the allowed graph', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...WORK_ORDER_ACTIONS), { maxLength: 60 }), (actions) => {
        let state: WorkOrderState = 'new';
        const visited: WorkOrderState[] = [state];
        for (const action of actions) {
          const result = applyAction(state, action);
          if (result.ok) {
            expect(EDGES.has(`${state}-${action}-${result.to}`)).toBe(true);
            state = result.to;
            visited.push(state);
          } else {
            expect(result.allowed).not.toContain(action);
            expect(result.allowed).toEqual(allowedActions(state));
          }
        }
        // Terminal states are never left.
        const end = visited.findIndex((s) => s === 'closed' || s === 'cancelled');
        if (end >= 0) expect(new Set(visited.slice(end))).toEqual(new Set([visited[end]]));
        // Closed only ever follows resolved.
        visited.forEach((s, i) => {
          if (s === 'closed' && (i === 0 || visited[i - 1] !== 'closed')) expect(visited[i - 1]).toBe('resolved');
        });
      }),
      { numRuns: 500 },
    );
  });

  it('every edge of the table is in the graph, and every state but the terminal ones can be left', () => {
    for (const rule of ACTION_TABLE) for (const from of rule.from) expect(EDGES.has(`${from}-${rule.action}-${rule.to}`)).toBe(true);
    expect(ACTION_TABLE.reduce((n, r) => n + r.from.length, 0)).toBe(EDGES.size);
    for (const state of WORK_ORDER_STATES) expect(allowedActions(state).length === 0).toBe(state === 'closed' || state === 'cancelled');
    expect(isOpen('on_hold')).toBe(true);
    expect(isOpen('resolved')).toBe(false);
  });

  it('refuses a transition with the actions that are allowed instead', () => {
    expect(applyAction('new', 'close')).toEqual({ ok: false, from: 'new', allowed: ['notify', 'acknowledge', 'cancel'] });
    expect(applyAction('on_hold', 'resume')).toEqual({ ok: true, from: 'on_hold', to: 'in_progress' });
  });
});

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse('2026-11-25T02:00:00Z'); // 10:00 in Shanghai
const base: ClockInput = { grade: 'emergency', faultType: 'tube', kind: 'corrective', reportedAt: T0, timeZone: 'Asia/Shanghai' };
const byName = (input: ClockInput, now: number) => Object.fromEntries(workOrderClocks(input, now).map((c) => [c.name, c]));

describe('response-time clocks', () => {
  it('an emergency: notify in 1 min, acknowledge 5 min after, on site or remote in 30 min, tube repaired in 24 h', () => {
    const at = byName(base, T0 + 30_000);
    expect(Object.keys(at)).toEqual(['notify', 'acknowledge', 'respond', 'repair']);
    expect(at.notify).toMatchObject({ dueAt: T0 + MIN, state: 'running', remainingMs: 30_000 });
    expect(at.acknowledge!.dueAt).toBe(T0 + 6 * MIN);
    expect(at.respond!.dueAt).toBe(T0 + 30 * MIN);
    expect(at.repair!.dueAt).toBe(T0 + 24 * HOUR);
    // Nobody notified after 90 s: breached, and stays breached once done late.
    expect(byName(base, T0 + 90_000).notify).toMatchObject({ state: 'breached', remainingMs: -30_000, breachedAt: T0 + MIN });
    expect(byName({ ...base, notifiedAt: T0 + 2 * MIN }, T0 + 3 * MIN).notify).toMatchObject({ state: 'breached', metAt: T0 + 2 * MIN });
    // Notified after 20 s: acknowledgement due 5 min later.
    const timely = byName({ ...base, notifiedAt: T0 + 20_000, acknowledgedAt: T0 + 4 * MIN }, T0 + 10 * MIN);
    expect(timely.notify!.state).toBe('met');
    expect(timely.acknowledge).toMatchObject({ dueAt: T0 + 20_000 + 5 * MIN, state: 'met' });
  });

  it('by grade: minor has none, general has the 30-minute response, severe detector repair is 48 h', () => {
    expect(workOrderClocks({ ...base, grade: 'minor' }, T0)).toEqual([]);
    expect(workOrderClocks({ ...base, grade: 'general' }, T0).map((c) => c.name)).toEqual(['respond']);
    const severe = byName({ ...base, grade: 'severe', faultType: 'detector' }, T0);
    expect(Object.keys(severe)).toEqual(['respond', 'repair']);
    expect(severe.repair!.dueAt).toBe(T0 + 48 * HOUR);
    expect(byName({ ...base, grade: 'severe', faultType: 'software' }, T0).repair!.dueAt).toBe(T0 + 12 * HOUR);
    expect(byName({ ...base, grade: 'severe', faultType: 'cryogenics' }, T0).repair).toBeUndefined();
  });

  it('follow-ups: a handed-over case is confirmed within 1 h, progress daily, feedback the same local day', () => {
    const input: ClockInput = {
      ...base,
      grade: 'general',
      assignedAt: T0 + HOUR,
      acknowledgedAt: T0 + 5 * MIN,
      respondedAt: T0 + 20 * MIN,
      startedAt: T0 + 30 * MIN,
      lastProgressAt: T0 + 20 * HOUR,
    };
    const open = byName(input, T0 + 30 * HOUR);
    expect(open.handover).toMatchObject({ dueAt: T0 + 2 * HOUR, state: 'breached' });
    expect(open.progress).toMatchObject({ dueAt: T0 + 44 * HOUR, state: 'running', remainingMs: 14 * HOUR });
    // Resolved at 22:00 Shanghai: feedback due by midnight there.
    const resolvedAt = Date.parse('2026-11-26T14:00:00Z');
    const resolved = byName({ ...input, handoverConfirmedAt: T0 + 90 * MIN, resolvedAt }, resolvedAt + HOUR);
    expect(resolved.handover!.state).toBe('met');
    expect(resolved.progress!.state).toBe('met');
    expect(resolved.feedback).toMatchObject({ dueAt: Date.parse('2026-11-26T16:00:00Z'), state: 'running' });
    expect(byName({ ...input, resolvedAt, feedbackAt: resolvedAt + 30 * MIN }, resolvedAt + 3 * HOUR).feedback!.state).toBe('met');
    expect(byName({ ...input, resolvedAt }, resolvedAt + 3 * HOUR).feedback!.state).toBe('breached');
  });

  it('planned work orders are due before the forecast crossing; cancelling stops the clocks', () => {
    const planned = workOrderClocks({ ...base, grade: 'general', kind: 'planned', plannedDueAt: T0 + 7 * 24 * HOUR }, T0);
    expect(planned.map((c) => `${c.name}:${c.dueAt - T0}`)).toEqual([`planned:${7 * 24 * HOUR}`]);
    const cancelled = byName({ ...base, cancelledAt: T0 + 30_000 }, T0 + 2 * HOUR);
    expect(cancelled.notify!.state).toBe('stopped');
    expect(cancelled.repair).toMatchObject({ state: 'stopped', remainingMs: 0 });
  });

  it('local end of day follows the zone, daylight saving included', () => {
    expect(endOfLocalDay('Asia/Shanghai', Date.parse('2026-11-25T15:59:00Z'))).toBe(Date.parse('2026-11-25T16:00:00Z'));
    expect(endOfLocalDay('Asia/Shanghai', Date.parse('2026-11-25T16:00:00Z'))).toBe(Date.parse('2026-11-26T16:00:00Z'));
    // Berlin, the day summer time ends (25 h long).
    expect(endOfLocalDay('Europe/Berlin', Date.parse('2026-10-25T10:00:00Z'))).toBe(Date.parse('2026-10-25T23:00:00Z'));
  });

  it('a clock is breached exactly when its step is done after the due time (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 * HOUR }), fc.integer({ min: 0, max: 4 * HOUR }), (respondAfter, lookAfter) => {
        const clocks = byName({ ...base, grade: 'general', respondedAt: T0 + respondAfter }, T0 + respondAfter + lookAfter);
        expect(clocks.respond!.state).toBe(respondAfter > DEFAULT_CLOCK_POLICY.respondMs ? 'breached' : 'met');
      }),
    );
  });
});
