/**
 * Which silence (maintenance window), if any, holds notifications for a rule on a device at an
 * instant. The rule engine asks on every notifying transition; the silences feature answers.
 */
export interface SilenceLookup {
  activeFor(target: { siteId: string; deviceId: string; ruleId: string }, ts: number): { readonly id: string } | undefined;
}
