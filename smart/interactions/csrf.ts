import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretBox } from '../secrets.js';

/**
 * CSRF tokens for the sign-in pages: an HMAC of the interaction id under a server key.
 * A page from another site can neither read the token nor send the interaction cookie
 * (SameSite=Lax), so a forged form post fails twice.
 */
export class Csrf {
  private readonly key: string;

  constructor(box: SecretBox) {
    this.key = box.derive('csrf');
  }

  token(uid: string): string {
    return createHmac('sha256', this.key).update(uid).digest('base64url');
  }

  valid(uid: string, sent: unknown): boolean {
    if (typeof sent !== 'string') return false;
    const want = Buffer.from(this.token(uid));
    const got = Buffer.from(sent);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}
