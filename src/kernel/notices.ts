/**
 * Notices: what happened to a work order that people are told about. The work-order feature
 * records a notice with the timeline entry that causes it, in the same transaction (the notice
 * outbox), and the notify feature delivers it to the people on call. So a crash between the
 * change and its push loses nothing, and a change rolled back pushes nothing.
 */
export const NOTICE_KINDS = [
  /** A work order opened (by an alert or by a person). */
  'opened',
  /** Its fault went to a more serious grade. */
  'escalated',
  /** A resolved work order went back to work: its alert fired again. */
  'reopened',
  /** Its alert recovered (已恢复): the fault's condition is gone, or it closed as recovered by itself. */
  'recovered',
  /** A person resolved it (已解决). */
  'resolved',
] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** Notices that call for someone to act: they start the escalation chain. The others inform whoever was told. */
export const CALLING_NOTICES: ReadonlySet<NoticeKind> = new Set(['opened', 'escalated', 'reopened']);
