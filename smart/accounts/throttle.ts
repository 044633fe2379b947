import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { AUTH_TABLES } from '../db/schema.js';

/**
 * Failed-login throttling, shared by every process through `auth_throttle`. Counters
 * are kept per account name and per client address: the first slows guessing one
 * password, the second slows trying one password against many accounts.
 *
 * The account counter is keyed by the name typed, not by a user id, so a name that
 * belongs to no account locks exactly like one that does and the answers never reveal
 * which names exist.
 *
 * See: https://pages.nist.gov/800-63-4/sp800-63b.html#throttle (rate limiting) and
 * https://owasp.org/www-community/controls/Blocking_Brute_Force_Attacks
 */

/** The sliding window over which failures are counted. */
export const FAILURE_WINDOW_MS = 15 * 60_000;
/** Failures of one account name within the window that lock it. */
export const ACCOUNT_MAX_FAILURES = 5;
/** How long a locked account name stays locked. */
export const ACCOUNT_LOCK_MS = 15 * 60_000;
/** Failures from one client address within the window that lock the address. */
export const ADDRESS_MAX_FAILURES = 20;
/** How long a locked address stays locked. */
export const ADDRESS_LOCK_MS = 15 * 60_000;

/** Longest key stored verbatim; longer values are hashed so any input fits the column. */
const MAX_KEY_VALUE = 255;

function key(prefix: 'user' | 'ip', value: string): string {
  if (value.length <= MAX_KEY_VALUE) return `${prefix}:${value}`;
  return `${prefix}:sha256:${createHash('sha256').update(value).digest('hex')}`;
}

/** The account counter's key; `username` must already be in canonical (lower-cased) form. */
export function accountKey(username: string): string {
  return key('user', username);
}

/** The client address counter's key. */
export function addressKey(address: string): string {
  return key('ip', address);
}

/** A lock still in force on one of the keys asked about. */
export interface Lock {
  retryAfterSeconds: number;
}

/** Reads and updates the counters; `now` is injectable so tests can move the clock. */
export class LoginThrottle {
  constructor(
    private readonly knex: Knex,
    private readonly now: () => number = Date.now,
  ) {}

  /** The longest lock in force on any of `keys`, or undefined when none is locked. */
  async lockOf(keys: string[]): Promise<Lock | undefined> {
    const now = this.now();
    const rows: { locked_until: number | string }[] = await this.knex(AUTH_TABLES.throttle)
      .whereIn('key', keys)
      .andWhere('locked_until', '>', now)
      .select('locked_until');
    if (rows.length === 0) return undefined;
    const until = Math.max(...rows.map((r) => Number(r.locked_until)));
    return { retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) };
  }

  /** Counts one failure against the account name and one against the address. */
  async recordFailure(accountKeyValue: string, addressKeyValue: string): Promise<void> {
    await this.count(accountKeyValue, ACCOUNT_MAX_FAILURES, ACCOUNT_LOCK_MS);
    await this.count(addressKeyValue, ADDRESS_MAX_FAILURES, ADDRESS_LOCK_MS);
  }

  /** Forgets an account name's failures (after a successful login). */
  async reset(accountKeyValue: string): Promise<void> {
    await this.knex(AUTH_TABLES.throttle).where('key', accountKeyValue).delete();
  }

  /**
   * One atomic upsert, so concurrent failures from several processes are all counted:
   * a read-then-write would let two of them store the same count. Every SET expression
   * sees the row as it was before this statement.
   */
  private async count(keyValue: string, maxFailures: number, lockMs: number): Promise<void> {
    const now = this.now();
    const col = (name: string) => this.knex.raw('??', [`${AUTH_TABLES.throttle}.${name}`]);
    const expired = this.knex.raw('? <= ?', [col('window_start'), now - FAILURE_WINDOW_MS]);
    const failures = this.knex.raw('CASE WHEN ? THEN 1 ELSE ? + 1 END', [expired, col('failures')]);
    await this.knex(AUTH_TABLES.throttle)
      .insert({ key: keyValue, failures: 1, window_start: now, locked_until: maxFailures <= 1 ? now + lockMs : null })
      .onConflict('key')
      .merge({
        failures,
        window_start: this.knex.raw('CASE WHEN ? THEN ? ELSE ? END', [expired, now, col('window_start')]),
        // A lock already in force is never shortened by a racing failure that restarts the window.
        locked_until: this.knex.raw('CASE WHEN ? >= ? THEN ? WHEN ? > ? THEN ? ELSE NULL END', [
          failures, maxFailures, now + lockMs,
          col('locked_until'), now, col('locked_until'),
        ]),
      });
  }
}
