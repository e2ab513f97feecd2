/**
 * One-tap acknowledge links: each recipient gets their own link, signed with HMAC-SHA256 over the
 * work order, the person, the expiry and a random link id, so a link acknowledges only its own
 * work order, as its own person, until it expires — and once (the store records its id when used).
 *
 * Token: `<payload>.<signature>`, both base64url; payload = JSON {w, p, e, n}.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export interface AckLink {
  readonly workOrderId: number;
  readonly person: string;
  readonly expiresAt: number;
  /** Random id of this link: its use is recorded under it. */
  readonly linkId: string;
}

const PayloadSchema = z.strictObject({ w: z.int().positive(), p: z.string().min(1).max(64), e: z.int().positive(), n: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/) });

function sign(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/** A signed token for this work order and person, working until `expiresAt`. */
export function signAckLink(secret: string, link: Omit<AckLink, 'linkId'> & { readonly linkId?: string }): string {
  const payload = Buffer.from(JSON.stringify({ w: link.workOrderId, p: link.person, e: link.expiresAt, n: link.linkId ?? randomBytes(12).toString('base64url') })).toString('base64url');
  return `${payload}.${sign(secret, payload).toString('base64url')}`;
}

export type AckLinkCheck = { readonly ok: true; readonly link: AckLink } | { readonly ok: false; readonly reason: 'malformed' | 'tampered' | 'expired'; readonly link?: AckLink };

/** Checks a token: its signature first, then its expiry. */
export function verifyAckLink(secret: string, token: string, now: number): AckLinkCheck {
  if (token.length > 512) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 2 || !/^[A-Za-z0-9_-]+$/.test(parts[0]!) || !/^[A-Za-z0-9_-]+$/.test(parts[1]!)) return { ok: false, reason: 'malformed' };
  const [payload, signature] = parts as [string, string];
  // Compared as text: a signature with other trailing bits decodes to the same bytes, and is still a changed link.
  const given = Buffer.from(signature);
  const wanted = Buffer.from(sign(secret, payload).toString('base64url'));
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return { ok: false, reason: 'tampered' };
  let parsed: z.infer<typeof PayloadSchema>;
  try {
    const result = PayloadSchema.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    if (!result.success) return { ok: false, reason: 'malformed' };
    parsed = result.data;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const link: AckLink = { workOrderId: parsed.w, person: parsed.p, expiresAt: parsed.e, linkId: parsed.n };
  if (now >= link.expiresAt) return { ok: false, reason: 'expired', link };
  return { ok: true, link };
}
