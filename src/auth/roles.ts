/**
 * Who may do what. Roles, most to least powerful: admin (everything, tokens), supervisor (sites,
 * devices, rule packs, silences, managing work orders), engineer (reads; handles work orders),
 * hospital (a hospital's equipment staff: reads its own site, reports faults, confirms and closes
 * its work orders). Each route names its roles; `docs/permissions.md` is the table.
 */
export const ROLES = ['admin', 'supervisor', 'engineer', 'hospital'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_LABELS: Readonly<Record<Role, { zh: string; en: string }>> = {
  admin: { zh: '管理员', en: 'administrator' },
  supervisor: { zh: '主管', en: 'supervisor' },
  engineer: { zh: '工程师', en: 'service engineer' },
  hospital: { zh: '医院设备科（仅本院）', en: 'hospital viewer (own site only)' },
};

/** The vendor's service staff: reads of the whole fleet, handling work orders. */
export const STAFF: readonly Role[] = ['admin', 'supervisor', 'engineer'];
/** Who changes the fleet, its rules and silences, and manages work orders. */
export const MANAGERS: readonly Role[] = ['admin', 'supervisor'];
/** Tokens (and whatever else only the administrator may do). */
export const ADMINS: readonly Role[] = ['admin'];
/** Every role; a hospital still sees its own site only (`siteLimit`). */
export const EVERYONE: readonly Role[] = ROLES;

/** An authenticated caller. */
export interface Principal {
  /** Shown in audit trails (who did each step). */
  readonly name: string;
  readonly role: Role;
  /** hospital role: the only site it sees. */
  readonly siteId?: string;
}

/**
 * The site a principal is limited to: undefined when it sees every site (the service staff), else
 * its own site (a hospital; `siteId` undefined if the token names none: it sees nothing).
 */
export function siteLimit(principal: Principal): { readonly siteId: string | undefined } | undefined {
  return principal.role === 'hospital' ? { siteId: principal.siteId } : undefined;
}

/** Whether the principal may see data of `siteId`; data of no known site only unlimited principals see. */
export function canSeeSite(principal: Principal, siteId: string | undefined): boolean {
  const limit = siteLimit(principal);
  return limit === undefined || (siteId !== undefined && limit.siteId === siteId);
}
