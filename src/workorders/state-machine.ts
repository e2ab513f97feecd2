/**
 * The work-order lifecycle as one explicit table. Every action names the states it may start
 * from and the state it leads to; `applyAction` refuses anything else, and the caller answers
 * 409 with `allowedActions`. Pure: no clock, no storage.
 *
 *   new → notified → acknowledged → responding (remote / on site) → in_progress ⇄ on_hold
 *       → resolved → closed (hospital confirms, satisfaction 1–5)
 *   resolved → in_progress (reopen, when the fix did not hold)
 *   any open state → cancelled
 */

export const WORK_ORDER_STATES = ['new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold', 'resolved', 'closed', 'cancelled'] as const;
export type WorkOrderState = (typeof WORK_ORDER_STATES)[number];

export const WORK_ORDER_ACTIONS = ['notify', 'acknowledge', 'respond', 'start', 'hold', 'resume', 'resolve', 'reopen', 'close', 'cancel'] as const;
export type WorkOrderAction = (typeof WORK_ORDER_ACTIONS)[number];

/** States in which the fault is still being handled: one per fault identity at a time. */
export const OPEN_STATES: readonly WorkOrderState[] = ['new', 'notified', 'acknowledged', 'responding', 'in_progress', 'on_hold'];
export const TERMINAL_STATES: readonly WorkOrderState[] = ['closed', 'cancelled'];

export const STATE_LABELS: Readonly<Record<WorkOrderState, { zh: string; en: string }>> = {
  new: { zh: '新建', en: 'new' },
  notified: { zh: '已通知', en: 'notified' },
  acknowledged: { zh: '已确认', en: 'acknowledged' },
  responding: { zh: '响应中', en: 'responding' },
  in_progress: { zh: '处理中', en: 'in progress' },
  on_hold: { zh: '挂起（等待备件）', en: 'on hold' },
  resolved: { zh: '已解决', en: 'resolved' },
  closed: { zh: '已关闭', en: 'closed' },
  cancelled: { zh: '已取消', en: 'cancelled' },
};

export interface ActionRule {
  readonly action: WorkOrderAction;
  readonly from: readonly WorkOrderState[];
  readonly to: WorkOrderState;
  readonly when: string;
}

export const ACTION_TABLE: readonly ActionRule[] = [
  { action: 'notify', from: ['new'], to: 'notified', when: 'the responsible person has been told (push, call)' },
  { action: 'acknowledge', from: ['new', 'notified'], to: 'acknowledged', when: 'the responsible person has taken the case' },
  { action: 'respond', from: ['acknowledged'], to: 'responding', when: 'an engineer is on site or connected remotely' },
  { action: 'start', from: ['responding'], to: 'in_progress', when: 'the repair has started' },
  { action: 'hold', from: ['in_progress'], to: 'on_hold', when: 'waiting, e.g. for spare parts' },
  { action: 'resume', from: ['on_hold'], to: 'in_progress', when: 'work goes on' },
  { action: 'resolve', from: ['in_progress'], to: 'resolved', when: 'fixed; the hospital is asked to confirm' },
  { action: 'reopen', from: ['resolved'], to: 'in_progress', when: 'the fix did not hold' },
  { action: 'close', from: ['resolved'], to: 'closed', when: 'the hospital confirmed, with its satisfaction' },
  { action: 'cancel', from: OPEN_STATES, to: 'cancelled', when: 'raised in error or a duplicate' },
];

export function allowedActions(state: WorkOrderState): WorkOrderAction[] {
  return ACTION_TABLE.filter((rule) => rule.from.includes(state)).map((rule) => rule.action);
}

export function isOpen(state: WorkOrderState): boolean {
  return OPEN_STATES.includes(state);
}

export type ActionResult = { readonly ok: true; readonly from: WorkOrderState; readonly to: WorkOrderState } | { readonly ok: false; readonly from: WorkOrderState; readonly allowed: WorkOrderAction[] };

/** The state `action` leads to from `state`, or the actions that are allowed instead. */
export function applyAction(state: WorkOrderState, action: WorkOrderAction): ActionResult {
  const rule = ACTION_TABLE.find((r) => r.action === action && r.from.includes(state));
  return rule ? { ok: true, from: state, to: rule.to } : { ok: false, from: state, allowed: allowedActions(state) };
}
