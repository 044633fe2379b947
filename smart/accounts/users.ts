import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { AUTH_TABLES } from '../db/schema.js';
import { dummyVerify, hashPassword, SCRYPT_DEFAULTS, verifyPassword, type ScryptParams } from './passwords.js';
import { accountKey, addressKey, LoginThrottle } from './throttle.js';

/**
 * The people who sign in at the authorization server. Each may stand for a FHIR
 * resource (`fhirUser`), which SMART apps receive in the id_token.
 *
 * See: https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#fhiruser
 */

export const ROLES = ['admin', 'practitioner', 'patient'] as const;
export type Role = (typeof ROLES)[number];

export const USERNAME_MIN = 3;
export const USERNAME_MAX = 128;
export const PASSWORD_MIN = 8;

/** The resource types a SMART `fhirUser` claim may name. */
const FHIR_USER = /^(Patient|Practitioner|RelatedPerson|Person)\/[A-Za-z0-9\-.]{1,64}$/;

/** A user as the rest of the server sees it: never the password hash. */
export interface User {
  id: string;
  /** Canonical form: NFC, lower-cased. */
  username: string;
  role: Role;
  /** `Patient/123`, `Practitioner/7` …, when the user is a FHIR resource. */
  fhirUser?: string;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewUser {
  username: string;
  password: string;
  role: string;
  fhirUser?: string;
}

/** The outcome of a login: nothing in a failure tells an unknown name from a wrong password. */
export type AuthResult = { ok: true; user: User } | { ok: false; reason: 'invalid' | 'locked'; retryAfterSeconds?: number };

export type AccountErrorCode = 'invalid_username' | 'invalid_password' | 'invalid_role' | 'invalid_fhir_user' | 'duplicate_username' | 'not_found';

/** A user could not be added or changed; `message` is safe to show (it never holds a password). */
export class AccountError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AccountError';
  }
}

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  role: string;
  fhir_user: string | null;
  disabled: boolean | number;
  created_at: number | string;
  updated_at: number | string;
}

/** Case-insensitive, and blind to Unicode composition, so `Émile` and `émile` are one name. */
export function canonicalUsername(username: string): string {
  return username.normalize('NFC').toLowerCase();
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    role: row.role as Role,
    ...(row.fhir_user ? { fhirUser: row.fhir_user } : {}),
    disabled: Boolean(row.disabled),
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
}

function checkNewUser(input: NewUser): { username: string; role: Role } {
  const username = canonicalUsername(String(input.username ?? ''));
  const length = [...username].length;
  if (length < USERNAME_MIN || length > USERNAME_MAX || /[\s\p{C}]/u.test(username)) {
    throw new AccountError('invalid_username', `username must be ${USERNAME_MIN} to ${USERNAME_MAX} characters without spaces or control characters`);
  }
  if (typeof input.password !== 'string' || [...input.password].length < PASSWORD_MIN) {
    throw new AccountError('invalid_password', `password must be at least ${PASSWORD_MIN} characters`);
  }
  if (!(ROLES as readonly string[]).includes(input.role)) {
    throw new AccountError('invalid_role', `role must be one of ${ROLES.join(', ')}`);
  }
  const role = input.role as Role;
  if (input.fhirUser !== undefined && !FHIR_USER.test(input.fhirUser)) {
    throw new AccountError('invalid_fhir_user', 'fhirUser must be Patient/id, Practitioner/id, RelatedPerson/id or Person/id');
  }
  // A patient user's access is bounded by their own record, so they must be one.
  if (role === 'patient' && !input.fhirUser?.startsWith('Patient/')) {
    throw new AccountError('invalid_fhir_user', 'a patient user needs fhirUser Patient/id');
  }
  return { username, role };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export interface UserServiceOptions {
  /** The clock (epoch milliseconds); tests move it to expire locks. */
  now?: () => number;
  /** scrypt cost for new hashes; stored hashes keep the cost they were made with. */
  scrypt?: ScryptParams;
}

/** Users in `auth_users`, with throttled password login. */
export class UserService {
  private readonly throttle: LoginThrottle;

  constructor(
    private readonly knex: Knex,
    private readonly opts: UserServiceOptions = {},
  ) {
    this.throttle = new LoginThrottle(knex, opts.now);
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Adds a user; throws `AccountError` for bad input or a name already taken (in any case). */
  async add(input: NewUser): Promise<User> {
    const { username, role } = checkNewUser(input);
    if (await this.findByUsername(username)) throw duplicate();
    const now = this.now();
    const row: UserRow = {
      id: randomUUID(),
      username,
      password_hash: await hashPassword(input.password, this.opts.scrypt ?? SCRYPT_DEFAULTS),
      role,
      fhir_user: input.fhirUser ?? null,
      disabled: false,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.knex(AUTH_TABLES.users).insert(row);
    } catch (err) {
      // Another process added the same name between the check and the insert.
      if (isUniqueViolation(err)) throw duplicate();
      throw err;
    }
    return toUser(row);
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = await this.rowByUsername(username);
    return row && toUser(row);
  }

  async findById(id: string): Promise<User | undefined> {
    const row: UserRow | undefined = await this.knex(AUTH_TABLES.users).where('id', id).first();
    return row && toUser(row);
  }

  /** Disables or re-enables a user; throws `AccountError('not_found')` for an unknown id. */
  async setDisabled(id: string, disabled: boolean): Promise<User> {
    const n = await this.knex(AUTH_TABLES.users).where('id', id).update({ disabled, updated_at: this.now() });
    if (n === 0) throw new AccountError('not_found', `no user with id "${id}"`);
    return (await this.findById(id)) as User;
  }

  /**
   * Checks a password login from client `address`. Locked names and addresses are
   * refused before any password is checked; unknown and disabled users cost a full
   * scrypt too, so neither the answer nor its timing reveals which accounts exist.
   */
  async authenticate(username: string, password: string, address: string): Promise<AuthResult> {
    const name = canonicalUsername(String(username));
    const keys = { account: accountKey(name), address: addressKey(address) };
    const lock = await this.throttle.lockOf([keys.account, keys.address]);
    if (lock) return { ok: false, reason: 'locked', retryAfterSeconds: lock.retryAfterSeconds };
    const row = await this.rowByUsername(name);
    const valid = row ? await verifyPassword(password, row.password_hash) : await dummyVerify(password, this.opts.scrypt ?? SCRYPT_DEFAULTS);
    if (!row || !valid || row.disabled) {
      await this.throttle.recordFailure(keys.account, keys.address);
      return { ok: false, reason: 'invalid' };
    }
    await this.throttle.reset(keys.account);
    return { ok: true, user: toUser(row) };
  }

  private async rowByUsername(username: string): Promise<UserRow | undefined> {
    return this.knex(AUTH_TABLES.users).where('username', canonicalUsername(username)).first();
  }
}

function duplicate(): AccountError {
  return new AccountError('duplicate_username', 'a user with this username already exists');
}
