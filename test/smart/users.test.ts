import { migrate } from '../../server/db/migrations.js';
import { hashPassword, verifyPassword } from '../../smart/accounts/passwords.js';
import {
  ACCOUNT_LOCK_MS, ACCOUNT_MAX_FAILURES, accountKey, ADDRESS_MAX_FAILURES, FAILURE_WINDOW_MS, LoginThrottle,
} from '../../smart/accounts/throttle.js';
import { AccountError, UserService, type NewUser } from '../../smart/accounts/users.js';
import { AUTH_TABLES } from '../../smart/db/schema.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';

/** Low scrypt cost: these check the format and the comparison, not the work factor. */
const FAST = { N: 2 ** 10, r: 8, p: 1 };

describe('password hashes', () => {
  it('are self-describing, salted, and verify only the right password', async () => {
    const a = await hashPassword('correct horse', FAST);
    const b = await hashPassword('correct horse', FAST);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('correct horse');
    await expect(verifyPassword('correct horse', a)).resolves.toBe(true);
    await expect(verifyPassword('correct horsE', a)).resolves.toBe(false);
  });

  it('never match a malformed or out-of-bounds stored value', async () => {
    const good = await hashPassword('pw-12345678', FAST);
    const parts = good.split('$');
    for (const bad of ['', 'plain', parts.slice(0, 5).join('$'), good.replace('$1024$', '$1000$'), good.replace('$1024$', `$${2 ** 24}$`)]) {
      await expect(verifyPassword('pw-12345678', bad)).resolves.toBe(false);
    }
  });
});

describe.each(engines())('UserService (%s)', (engine) => {
  let t: TestDatabase;
  let clock: number;
  let users: UserService;
  let seq = 0;
  /** A fresh name and address per test, so throttle counters never leak between tests. */
  const unique = () => `u${++seq}-${Date.now().toString(36)}`;
  const add = (over: Partial<NewUser> = {}) =>
    users.add({ username: unique(), password: 'password-123', role: 'practitioner', ...over });

  beforeAll(async () => {
    t = await freshDatabase(engine);
    await migrate(t.db.knex);
  });
  afterAll(() => t.drop());
  beforeEach(() => {
    clock = Date.UTC(2030, 0, 1);
    users = new UserService(t.db.knex, { now: () => clock, scrypt: FAST });
  });

  it('adds a user, stores only a scrypt hash, and finds it by any case of the name', async () => {
    const name = unique();
    const user = await users.add({ username: name.toUpperCase(), password: 'password-123', role: 'patient', fhirUser: 'Patient/p1' });
    expect(user).toEqual({
      id: expect.any(String), username: name, role: 'patient', fhirUser: 'Patient/p1', disabled: false,
      createdAt: new Date(clock), updatedAt: new Date(clock),
    });
    expect(JSON.stringify(user)).not.toMatch(/hash|password/);
    await expect(users.findByUsername(name.toUpperCase())).resolves.toEqual(user);
    await expect(users.findById(user.id)).resolves.toEqual(user);
    await expect(users.findById('nobody')).resolves.toBeUndefined();
    const row = await t.db.knex(AUTH_TABLES.users).where('id', user.id).first();
    expect(row.password_hash).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(row.password_hash).not.toContain('password-123');
  });

  it('hashes with the default cost unless told otherwise, and verifies any stored cost', async () => {
    const standard = new UserService(t.db.knex, { now: () => clock });
    const user = await standard.add({ username: unique(), password: 'password-123', role: 'admin' });
    const row = await t.db.knex(AUTH_TABLES.users).where('id', user.id).first();
    expect(row.password_hash).toMatch(/^scrypt\$32768\$8\$3\$[\w-]{22}\$[\w-]{43}$/);
    await expect(users.authenticate(user.username, 'password-123', '10.9.0.1')).resolves.toMatchObject({ ok: true });
  });

  it('refuses a username already taken, in any case', async () => {
    const name = unique();
    await add({ username: name });
    await expect(add({ username: name.toUpperCase() })).rejects.toMatchObject({ code: 'duplicate_username' });
    await expect(add({ username: name })).rejects.toBeInstanceOf(AccountError);
  });

  it('lets exactly one of two concurrent adds of one name win', async () => {
    const name = unique();
    const results = await Promise.allSettled([add({ username: name }), add({ username: name.toUpperCase() })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'duplicate_username' } });
  });

  it.each([
    ['a short password', { password: 'seven77' }, 'invalid_password'],
    ['a missing password', { password: undefined as unknown as string }, 'invalid_password'],
    ['a short username', { username: 'ab' }, 'invalid_username'],
    ['a long username', { username: 'x'.repeat(129) }, 'invalid_username'],
    ['a username with a space', { username: 'ann smith' }, 'invalid_username'],
    ['an unknown role', { role: 'root' }, 'invalid_role'],
    ['a patient without fhirUser', { role: 'patient' }, 'invalid_fhir_user'],
    ['a patient who is a Practitioner', { role: 'patient', fhirUser: 'Practitioner/1' }, 'invalid_fhir_user'],
    ['a fhirUser of another type', { fhirUser: 'Observation/1' }, 'invalid_fhir_user'],
    ['a fhirUser without an id', { fhirUser: 'Practitioner/' }, 'invalid_fhir_user'],
  ])('refuses %s', async (_label, over, code) => {
    const err = await add(over).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccountError);
    expect(err).toMatchObject({ code });
    expect((err as Error).message).not.toContain('seven77');
  });

  it('accepts each fhirUser type for non-patient roles', async () => {
    for (const fhirUser of ['Practitioner/a-1', 'RelatedPerson/r.2', 'Person/3']) {
      await expect(add({ fhirUser })).resolves.toMatchObject({ fhirUser });
    }
    await expect(add({ role: 'admin' })).resolves.not.toHaveProperty('fhirUser');
  });

  it('authenticates the right password only, with the name in any case', async () => {
    const user = await add();
    await expect(users.authenticate(user.username.toUpperCase(), 'password-123', '10.0.0.1')).resolves.toEqual({ ok: true, user });
    await expect(users.authenticate(user.username, 'password-124', '10.0.0.1')).resolves.toEqual({ ok: false, reason: 'invalid' });
    await expect(users.authenticate(unique(), 'password-123', '10.0.0.1')).resolves.toEqual({ ok: false, reason: 'invalid' });
  });

  it('spends a full scrypt on an unknown name, so timing does not reveal which names exist', async () => {
    const costly = { N: 2 ** 14, r: 8, p: 2 };
    const service = new UserService(t.db.knex, { now: () => clock, scrypt: costly });
    const stored = await hashPassword('password-123', costly);
    let started = performance.now();
    await verifyPassword('password-124', stored);
    const oneHash = performance.now() - started;
    await service.authenticate(unique(), 'password-123', '10.8.0.1'); // makes the throwaway hash
    started = performance.now();
    await expect(service.authenticate(unique(), 'password-123', '10.8.0.1')).resolves.toEqual({ ok: false, reason: 'invalid' });
    expect(performance.now() - started).toBeGreaterThan(oneHash / 3);
  });

  it('treats a disabled user as invalid until re-enabled', async () => {
    const user = await add();
    clock += 1000;
    await expect(users.setDisabled(user.id, true)).resolves.toMatchObject({ disabled: true, updatedAt: new Date(clock) });
    await expect(users.authenticate(user.username, 'password-123', '10.0.0.2')).resolves.toEqual({ ok: false, reason: 'invalid' });
    await users.setDisabled(user.id, false);
    await expect(users.authenticate(user.username, 'password-123', '10.0.0.2')).resolves.toMatchObject({ ok: true });
    await expect(users.setDisabled('nobody', true)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('locks a name after repeated failures, the same way whether or not it exists, then unlocks', async () => {
    const user = await add();
    const ghost = unique();
    for (let i = 0; i < ACCOUNT_MAX_FAILURES; i++) {
      await expect(users.authenticate(user.username, 'wrong-password', `10.1.0.${i}`)).resolves.toMatchObject({ reason: 'invalid' });
      await expect(users.authenticate(ghost, 'wrong-password', `10.2.0.${i}`)).resolves.toMatchObject({ reason: 'invalid' });
    }
    const locked = await users.authenticate(user.username, 'password-123', '10.1.1.1');
    expect(locked).toEqual({ ok: false, reason: 'locked', retryAfterSeconds: ACCOUNT_LOCK_MS / 1000 });
    await expect(users.authenticate(ghost, 'password-123', '10.2.1.1')).resolves.toEqual(locked);
    clock += ACCOUNT_LOCK_MS - 1000;
    await expect(users.authenticate(user.username, 'password-123', '10.1.1.1')).resolves.toEqual({ ok: false, reason: 'locked', retryAfterSeconds: 1 });
    clock += 1000;
    await expect(users.authenticate(user.username, 'password-123', '10.1.1.1')).resolves.toMatchObject({ ok: true });
  });

  it('forgets a name\'s failures after a successful login', async () => {
    const user = await add();
    const fail = () => users.authenticate(user.username, 'wrong-password', '10.3.0.1');
    for (let i = 0; i < ACCOUNT_MAX_FAILURES - 1; i++) await fail();
    await expect(users.authenticate(user.username, 'password-123', '10.3.0.1')).resolves.toMatchObject({ ok: true });
    for (let i = 0; i < ACCOUNT_MAX_FAILURES - 1; i++) await fail();
    await expect(users.authenticate(user.username, 'password-123', '10.3.0.1')).resolves.toMatchObject({ ok: true });
  });

  it('counts failures within the window only', async () => {
    const user = await add();
    for (let i = 0; i < ACCOUNT_MAX_FAILURES - 1; i++) await users.authenticate(user.username, 'wrong-password', '10.4.0.1');
    clock += FAILURE_WINDOW_MS + 1;
    for (let i = 0; i < ACCOUNT_MAX_FAILURES - 1; i++) await users.authenticate(user.username, 'wrong-password', '10.4.0.1');
    await expect(users.authenticate(user.username, 'password-123', '10.4.0.1')).resolves.toMatchObject({ ok: true });
  });

  it('locks an address that fails across many names, and only that address', async () => {
    const user = await add();
    for (let i = 0; i < ADDRESS_MAX_FAILURES; i++) await users.authenticate(`spray-${i}-${unique()}`, 'wrong-password', '10.5.0.1');
    await expect(users.authenticate(user.username, 'password-123', '10.5.0.1')).resolves.toMatchObject({ ok: false, reason: 'locked' });
    await expect(users.authenticate(user.username, 'password-123', '10.5.0.2')).resolves.toMatchObject({ ok: true });
  }, 120_000);

  it('counts every one of many concurrent failures', async () => {
    const throttle = new LoginThrottle(t.db.knex, () => clock);
    const key = accountKey(unique());
    await Promise.all(Array.from({ length: 12 }, (_, i) => throttle.recordFailure(key, `ip:10.6.0.${i}`)));
    const row = await t.db.knex(AUTH_TABLES.throttle).where('key', key).first();
    expect(Number(row.failures)).toBe(12);
    expect(Number(row.locked_until)).toBe(clock + ACCOUNT_LOCK_MS);
    await expect(throttle.lockOf([key])).resolves.toEqual({ retryAfterSeconds: ACCOUNT_LOCK_MS / 1000 });
  });
});
