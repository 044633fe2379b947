import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Database } from '../../server/db/connect.js';
import { UserService } from '../../smart/accounts/users.js';
import { ClientService } from '../../smart/clients/service.js';
import { AUTH_TABLES } from '../../smart/db/schema.js';
import { loadSecretBox } from '../../smart/secrets.js';
import { runKiln, type KilnRun } from '../helpers/kiln.js';

/** `kiln users` and `kiln clients` as separate processes on one SQLite file. */

let dir: string;
let databaseUrl: string;

/** Runs `kiln ARGS` from the TypeScript sources, writing `input` to its standard input. */
function kiln(args: string[], input = ''): Promise<KilnRun> {
  return runKiln(args, { input, env: { DATABASE_URL: databaseUrl, KILN_SECRET_KEY: '' } });
}

/** Opens the file the commands wrote, as another process would. */
async function withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const db = connect(databaseUrl);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const APP = {
  client_name: 'Growth Chart',
  redirect_uris: ['https://app.example/callback'],
  scope: 'openid fhirUser launch/patient patient/Observation.rs',
};

describe('kiln users and kiln clients (sqlite)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
    databaseUrl = `sqlite:${join(dir, 'kiln.sqlite')}`;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds a user with the password on stdin, and a second process sees it', async () => {
    const run = await kiln(['users', 'add', '--username', 'Alice', '--password-stdin', '--role', 'patient', '--fhir-user', 'Patient/p1'], 'secret-pass-1\n');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const user = JSON.parse(run.stdout);
    expect(user).toMatchObject({ username: 'alice', role: 'patient', fhirUser: 'Patient/p1', disabled: false });
    expect(run.stdout).not.toMatch(/hash|secret-pass-1/);
    const again = await kiln(['users', 'add', '--username', 'ALICE', '--password', 'other-pass-2', '--role', 'admin']);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe('kiln: a user with this username already exists\n');
    const login = await withDatabase((db) => new UserService(db.knex).authenticate('alice', 'secret-pass-1', '127.0.0.1'));
    expect(login).toMatchObject({ ok: true, user: { id: user.id } });
  }, 60_000);

  it.each([
    ['a short password', ['--username', 'bob', '--password', 'tiny123', '--role', 'admin'], 'kiln: password must be at least 8 characters'],
    ['a patient without fhirUser', ['--username', 'bob', '--password', 'tiny12345', '--role', 'patient'], 'kiln: a patient user needs fhirUser Patient/id'],
    ['no password', ['--username', 'bob', '--role', 'admin'], 'kiln: give the password with exactly one of --password or --password-stdin'],
    ['a stray argument', ['--username', 'bob', '--role', 'admin', 'tiny12345'], 'kiln: unexpected argument'],
    ['an unknown option', ['--username', 'bob', '--pasword=tiny12345', '--role', 'admin'], "kiln: Unknown option '--pasword'"],
  ])('refuses %s with exit code 2, never echoing the password', async (_label, args, message) => {
    const run = await kiln(['users', 'add', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr.startsWith(message)).toBe(true);
    expect(run.stderr + run.stdout).not.toContain('tiny12345');
  }, 60_000);

  it('adds a client from stdin, shows its secret once, and lists it without the secret', async () => {
    const run = await kiln(['clients', 'add', '--json', '-'], JSON.stringify(APP));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const added = JSON.parse(run.stdout);
    expect(added).toMatchObject({ status: 'enabled', registered_by: 'operator', scope: APP.scope, client_name: 'Growth Chart' });
    expect(added.client_id).toMatch(/^[\w-]{22,}$/);
    expect(added.client_secret).toMatch(/^[\w-]{43}$/);
    const list = await kiln(['clients', 'list']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toContainEqual(expect.objectContaining({ client_id: added.client_id, status: 'enabled' }));
    expect(list.stdout).not.toContain(added.client_secret);
    for (const c of JSON.parse(list.stdout)) expect(c).not.toHaveProperty('client_secret');
    // Another process, with the key file the command made, opens the sealed secret.
    const meta = await withDatabase((db) =>
      new ClientService(db.knex, loadSecretBox({ databaseUrl, secretKey: undefined }), { allowWildcardScopes: false }).providerMetadata(added.client_id),
    );
    expect(meta).toMatchObject({ client_id: added.client_id, client_secret: added.client_secret, smart_scope: APP.scope });
  }, 60_000);

  it('adds a client from a file, then disables, enables and refuses to approve it', async () => {
    const file = join(dir, 'backend.json');
    writeFileSync(file, JSON.stringify({
      grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: 'https://backend.example/jwks.json', scope: 'system/*.rs',
    }));
    const run = await kiln(['clients', 'add', '--json', file]);
    expect(run.code).toBe(0);
    const added = JSON.parse(run.stdout);
    expect(added).not.toHaveProperty('client_secret');
    const disabled = await kiln(['clients', 'disable', added.client_id]);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ client_id: added.client_id, status: 'disabled' });
    const enabled = await kiln(['clients', 'enable', added.client_id]);
    expect(JSON.parse(enabled.stdout)).toMatchObject({ status: 'enabled' });
    const approve = await kiln(['clients', 'approve', added.client_id]);
    expect(approve.code).toBe(2);
    expect(approve.stderr).toBe(`kiln: client "${added.client_id}" is enabled, not pending approval\n`);
  }, 60_000);

  it('approves a pending client', async () => {
    const { client } = await withDatabase((db) =>
      new ClientService(db.knex, loadSecretBox({ databaseUrl, secretKey: undefined }), { allowWildcardScopes: false })
        .add({ ...APP, scope: 'openid user/Observation.rs' }, { by: 'dynamic' }),
    );
    expect(client.status).toBe('pending');
    const run = await kiln(['clients', 'approve', client.clientId]);
    // A failure shows what the command printed (a matcher's diff would leave stderr out).
    if (run.code !== 0) throw new Error(`kiln clients approve exited with ${run.code}:\n${run.stderr}`);
    expect(JSON.parse(run.stdout)).toMatchObject({ client_id: client.clientId, status: 'enabled', registered_by: 'dynamic' });
  }, 60_000);

  it('gives ids a command line takes as they are, and takes an older id that starts with "-" after --', async () => {
    const { client } = await withDatabase((db) =>
      new ClientService(db.knex, loadSecretBox({ databaseUrl, secretKey: undefined }), { allowWildcardScopes: false })
        .add({ ...APP, scope: 'openid user/Observation.rs' }, { by: 'dynamic' }),
    );
    expect(client.clientId).toMatch(/^[0-9a-f]{32}$/);
    // An id made before ids were hex: base64url, which starts with "-" one time in 64.
    const older = `-${client.clientId.slice(1)}`;
    await withDatabase((db) => db.knex(AUTH_TABLES.clients).where('client_id', client.clientId).update({ client_id: older }));
    const refused = await kiln(['clients', 'approve', older]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("after '--'");
    const run = await kiln(['clients', 'approve', '--', older]);
    if (run.code !== 0) throw new Error(`kiln clients approve exited with ${run.code}:\n${run.stderr}`);
    expect(JSON.parse(run.stdout)).toMatchObject({ client_id: older, status: 'enabled' });
  }, 60_000);

  it.each([
    ['bad metadata', ['clients', 'add', '--json', '-'], JSON.stringify({ ...APP, redirect_uris: ['http://app.example/cb'] }), 'kiln: invalid_redirect_uri: redirect_uris[0]'],
    ['a wildcard patient scope', ['clients', 'add', '--json', '-'], JSON.stringify({ ...APP, scope: 'patient/*.rs' }), 'kiln: invalid_client_metadata: scope:'],
    ['input that is not JSON', ['clients', 'add', '--json', '-'], '{nope', 'kiln: standard input is not valid JSON'],
    ['a missing file', ['clients', 'add', '--json', '/nonexistent/c.json'], '', 'kiln: cannot read /nonexistent/c.json'],
    ['add without --json', ['clients', 'add'], '', 'kiln: clients add needs --json'],
    ['an unknown client', ['clients', 'disable', 'nope'], '', 'kiln: no client with id "nope"'],
    ['approve without an id', ['clients', 'approve'], '', 'kiln: clients approve needs one client ID'],
    ['an unknown subcommand', ['clients', 'remove', 'x'], '', 'kiln: unknown clients command "remove"'],
  ])('refuses %s with exit code 2', async (_label, args, input, message) => {
    const run = await kiln(args, input);
    expect(run.code).toBe(2);
    expect(run.stderr.startsWith(message)).toBe(true);
    expect(run.stdout).toBe('');
  }, 60_000);
});
