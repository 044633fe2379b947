import { randomBytes } from 'node:crypto';
import { migrate } from '../../server/db/migrations.js';
import { ClientMetadataError, redirectUriProblem } from '../../smart/clients/index.js';
import { ClientNotFoundError, ClientService, ClientStatusError } from '../../smart/clients/service.js';
import { AUTH_TABLES } from '../../smart/db/schema.js';
import { SecretBox } from '../../smart/secrets.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';

const APP = {
  client_name: 'Growth Chart',
  redirect_uris: ['https://app.example/callback'],
  scope: 'openid fhirUser launch/patient patient/Observation.rs',
};
const JWKS = { keys: [{ kty: 'EC', crv: 'P-384', x: 'x', y: 'y', kid: 'k1' }] };
const BACKEND = {
  client_name: 'Exporter',
  grant_types: ['client_credentials'],
  token_endpoint_auth_method: 'private_key_jwt',
  token_endpoint_auth_signing_alg: 'ES384',
  jwks: JWKS,
  scope: 'system/*.rs',
};

describe('redirectUriProblem', () => {
  it.each([
    'https://app.example/callback',
    'https://app.example:8443/cb?x=1',
    'http://127.0.0.1/cb',
    'http://127.0.0.1:51004/cb',
    'http://[::1]:8080/',
    'http://localhost:3000/cb',
    'com.example.app:/oauth2redirect',
    'com.example.app://callback',
  ])('accepts %s', (uri) => {
    expect(redirectUriProblem(uri)).toBeUndefined();
  });

  it.each([
    ['/relative/cb', 'absolute'],
    ['http://app.example/cb', 'https'],
    ['http://localhost.evil.example/cb', 'https'],
    ['http://127.0.0.2/cb', 'https'],
    ['https://app.example/cb#frag', 'fragment'],
    ['https://app.example/cb#', 'fragment'],
    ['https://user:pw@app.example/cb', 'user name'],
    ['myapp:/callback', 'private-use'],
    ['javascript:alert(1)', 'private-use'],
    ['data:text/html,hi', 'private-use'],
    ['file:///etc/passwd', 'private-use'],
  ])('refuses %s', (uri, words) => {
    expect(redirectUriProblem(uri)).toContain(words);
  });
});

describe.each(engines())('ClientService (%s)', (engine) => {
  let t: TestDatabase;
  let box: SecretBox;
  let clients: ClientService;
  let wildcards: ClientService;

  beforeAll(async () => {
    t = await freshDatabase(engine);
    await migrate(t.db.knex);
    box = new SecretBox(randomBytes(32));
    clients = new ClientService(t.db.knex, box, { allowWildcardScopes: false });
    wildcards = new ClientService(t.db.knex, box, { allowWildcardScopes: true });
  });
  afterAll(() => t.drop());

  /** The error `add` throws for `metadata`. */
  async function refusal(metadata: unknown, service = clients): Promise<ClientMetadataError> {
    const err = await service.add(metadata, { by: 'operator' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ClientMetadataError);
    return err as ClientMetadataError;
  }

  it('registers a confidential app with defaults, an id, and a secret returned once and stored sealed', async () => {
    const { client, clientSecret } = await clients.add({ ...APP, client_secret: 'mine', client_id: 'mine' }, { by: 'operator' });
    expect(client.clientId).toMatch(/^[\w-]{22,}$/);
    expect(clientSecret).toMatch(/^[\w-]{43}$/);
    expect(client).toMatchObject({
      scope: ['openid', 'fhirUser', 'launch/patient', 'patient/Observation.rs'],
      status: 'enabled',
      registeredBy: 'operator',
      metadata: {
        client_name: 'Growth Chart',
        redirect_uris: APP.redirect_uris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    });
    expect(client.metadata).not.toHaveProperty('client_secret');
    expect(client.metadata).not.toHaveProperty('client_id');
    expect(client.metadata).not.toHaveProperty('scope');
    const row = await t.db.knex(AUTH_TABLES.clients).where('client_id', client.clientId).first();
    expect(JSON.stringify(row)).not.toContain(clientSecret);
    expect(box.open(row.secret_enc)).toBe(clientSecret);
    await expect(clients.get(client.clientId)).resolves.toEqual(client);
    expect(JSON.stringify(await clients.get(client.clientId))).not.toContain(clientSecret);
    expect(JSON.stringify(await clients.list())).not.toContain(clientSecret);
    expect((await clients.list()).map((c) => c.clientId)).toContain(client.clientId);
  });

  it('gives the provider the opened secret and the scopes as smart_scope, never scope', async () => {
    const { client, clientSecret } = await clients.add({ ...APP, token_endpoint_auth_method: 'client_secret_post' }, { by: 'operator' });
    const meta = await clients.providerMetadata(client.clientId);
    expect(meta).toEqual({ ...client.metadata, client_id: client.clientId, client_secret: clientSecret, smart_scope: APP.scope });
    expect(meta).not.toHaveProperty('scope');
  });

  it('keeps other registration fields as given', async () => {
    const extra = {
      logo_uri: 'https://app.example/logo.png', tos_uri: 'https://app.example/tos', policy_uri: 'https://app.example/privacy',
      client_uri: 'https://app.example', contacts: ['ops@app.example'], software_id: 'gc', software_version: '1.2',
      id_token_signed_response_alg: 'RS256', 'client_name#fr': 'Courbe',
    };
    const { client } = await clients.add({ ...APP, ...extra }, { by: 'operator' });
    expect(client.metadata).toMatchObject(extra);
  });

  it('gives public and private_key_jwt clients no secret', async () => {
    for (const metadata of [{ ...APP, token_endpoint_auth_method: 'none' }, BACKEND]) {
      const added = await clients.add(metadata, { by: 'operator' });
      expect(added).not.toHaveProperty('clientSecret');
      const row = await t.db.knex(AUTH_TABLES.clients).where('client_id', added.client.clientId).first();
      expect(row.secret_enc).toBeNull();
      expect(await clients.providerMetadata(added.client.clientId)).not.toHaveProperty('client_secret');
    }
  });

  it('registers a backend service without redirect URIs or response types', async () => {
    const { client } = await clients.add(BACKEND, { by: 'operator' });
    expect(client.metadata).toMatchObject({ grant_types: ['client_credentials'], response_types: [], jwks: JWKS });
    expect(client.metadata).not.toHaveProperty('redirect_uris');
    await expect(clients.add({ ...BACKEND, jwks: undefined, jwks_uri: 'https://backend.example/jwks.json' }, { by: 'operator' })).resolves.toBeDefined();
  });

  it.each([
    ['no redirect_uris', { redirect_uris: undefined }, 'invalid_redirect_uri', 'redirect_uris'],
    ['empty redirect_uris', { redirect_uris: [] }, 'invalid_redirect_uri', 'redirect_uris'],
    ['redirect_uris not an array', { redirect_uris: 'https://app.example/cb' }, 'invalid_client_metadata', 'redirect_uris'],
    ['an http redirect URI', { redirect_uris: ['https://app.example/ok', 'http://app.example/cb'] }, 'invalid_redirect_uri', 'redirect_uris[1]'],
    ['a redirect URI with a fragment', { redirect_uris: ['https://app.example/cb#x'] }, 'invalid_redirect_uri', 'fragment'],
    ['a private-use scheme without a dot', { redirect_uris: ['myapp:/cb'] }, 'invalid_redirect_uri', 'redirect_uris[0]'],
  ])('refuses %s', async (_label, over, code, words) => {
    const err = await refusal({ ...APP, ...over });
    expect(err.code).toBe(code);
    expect(err.message).toContain(words);
  });

  it.each([
    ['metadata that is not an object', ['x'], 'JSON object'],
    ['an unknown grant type', { ...APP, grant_types: ['authorization_code', 'implicit'] }, 'grant_types'],
    ['the password grant', { ...APP, grant_types: ['password'] }, 'grant_types'],
    ['no grant types', { ...APP, grant_types: [] }, 'grant_types'],
    ['refresh_token without authorization_code', { ...BACKEND, grant_types: ['client_credentials', 'refresh_token'] }, 'refresh_token'],
    ['an implicit response type', { ...APP, response_types: ['token'] }, 'response_types'],
    ['code flow without the code response type', { ...APP, response_types: [] }, 'response_types'],
    ['an unknown auth method', { ...APP, token_endpoint_auth_method: 'client_secret_jwt' }, 'token_endpoint_auth_method'],
    ['private_key_jwt without keys', { ...BACKEND, jwks: undefined }, 'jwks'],
    ['both jwks and jwks_uri', { ...BACKEND, jwks_uri: 'https://backend.example/jwks' }, 'jwks'],
    ['jwks without a keys array', { ...BACKEND, jwks: { kty: 'EC' } }, 'jwks'],
    ['an http jwks_uri', { ...BACKEND, jwks: undefined, jwks_uri: 'http://backend.example/jwks' }, 'jwks_uri'],
    ['a weak signing alg', { ...BACKEND, token_endpoint_auth_signing_alg: 'RS256' }, 'token_endpoint_auth_signing_alg'],
    ['a signing alg without private_key_jwt', { ...APP, token_endpoint_auth_signing_alg: 'RS384' }, 'token_endpoint_auth_signing_alg'],
    ['client_credentials with a secret', { ...BACKEND, token_endpoint_auth_method: 'client_secret_basic' }, 'client_credentials'],
    ['client_credentials as a public client', { ...BACKEND, token_endpoint_auth_method: 'none' }, 'client_credentials'],
    ['no scope', { ...APP, scope: undefined }, 'scope'],
    ['a blank scope', { ...APP, scope: '  ' }, 'scope'],
    ['an unknown scope', { ...APP, scope: 'openid frobnicate' }, '"frobnicate"'],
    ['a malformed resource scope', { ...APP, scope: 'patient/Observation' }, '"patient/Observation"'],
    ['a wildcard patient scope', { ...APP, scope: 'openid patient/*.rs' }, '"patient/*.rs"'],
    ['a wildcard user scope', { ...APP, scope: 'user/*.read' }, '"user/*.read"'],
    ['a non-string client_name', { ...APP, client_name: 7 }, 'client_name'],
    ['contacts that are not strings', { ...APP, contacts: [1] }, 'contacts'],
    ['a logo_uri that is not a URL', { ...APP, logo_uri: 'logo.png' }, 'logo_uri'],
  ])('refuses %s as invalid_client_metadata', async (_label, metadata, words) => {
    const err = await refusal(metadata);
    expect(err.code).toBe('invalid_client_metadata');
    expect(err.message).toContain(words);
  });

  it('accepts wildcard patient and user scopes only when allowed, system wildcards always', async () => {
    await expect(wildcards.add({ ...APP, scope: 'openid patient/*.rs user/*.read' }, { by: 'operator' })).resolves.toBeDefined();
    await expect(clients.add(BACKEND, { by: 'operator' })).resolves.toBeDefined();
  });

  it.each([
    ['patient-only scopes', 'openid fhirUser launch/patient patient/Observation.rs offline_access', 'enabled'],
    ['a user/ scope', 'openid user/Observation.rs', 'pending'],
    ['the launch scope', 'launch patient/Observation.rs', 'pending'],
  ])('holds a dynamic registration with %s as %s', async (_label, scope, status) => {
    const { client } = await clients.add({ ...APP, scope }, { by: 'dynamic' });
    expect(client).toMatchObject({ status, registeredBy: 'dynamic' });
    const { client: byOperator } = await clients.add({ ...APP, scope }, { by: 'operator' });
    expect(byOperator.status).toBe('enabled');
  });

  it('holds a dynamic backend service with system/ scopes as pending', async () => {
    const { client } = await clients.add(BACKEND, { by: 'dynamic' });
    expect(client.status).toBe('pending');
  });

  it('shows the provider enabled clients only, through approval, disabling and enabling', async () => {
    const { client } = await clients.add({ ...APP, scope: 'openid user/Patient.rs' }, { by: 'dynamic' });
    const id = client.clientId;
    await expect(clients.providerMetadata(id)).resolves.toBeUndefined();
    await expect(clients.approve(id)).resolves.toMatchObject({ status: 'enabled' });
    await expect(clients.providerMetadata(id)).resolves.toMatchObject({ client_id: id, smart_scope: 'openid user/Patient.rs' });
    await expect(clients.approve(id)).rejects.toBeInstanceOf(ClientStatusError);
    await expect(clients.setStatus(id, 'disabled')).resolves.toMatchObject({ status: 'disabled' });
    await expect(clients.providerMetadata(id)).resolves.toBeUndefined();
    await expect(clients.approve(id)).rejects.toMatchObject({ status: 'disabled' });
    await expect(clients.setStatus(id, 'enabled')).resolves.toMatchObject({ status: 'enabled' });
    await expect(clients.providerMetadata(id)).resolves.toBeDefined();
  });

  it('reports unknown client ids', async () => {
    await expect(clients.get('nope')).resolves.toBeUndefined();
    await expect(clients.providerMetadata('nope')).resolves.toBeUndefined();
    await expect(clients.setStatus('nope', 'enabled')).rejects.toBeInstanceOf(ClientNotFoundError);
    await expect(clients.approve('nope')).rejects.toBeInstanceOf(ClientNotFoundError);
  });
});
