import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { addBackendClient, clientAssertion, keyPair, postForm, type BackendClient } from '../helpers/auth.js';
import { ClientMetadataError } from '../../smart/clients/index.js';

/**
 * SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html):
 * the client_credentials grant with a private_key_jwt assertion
 * (https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html), and every
 * way an assertion can be wrong.
 */

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('backend services', () => {
  let t: TestApp;
  let tokenUrl: string;
  let rs: BackendClient;
  let jwksServer: Server;
  let jwksUrl: string;

  const now = () => Math.floor(Date.now() / 1000);
  const grant = (assertion: string, scope = 'system/Patient.rs') =>
    postForm(tokenUrl, { grant_type: 'client_credentials', scope, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });
  const unsigned = (header: object, claims: object) =>
    `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    tokenUrl = `${t.config.issuer}/token`;
    rs = await addBackendClient(t.app, 'system/Patient.rs system/Observation.rs');
    const es = await keyPair('ES384');
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' });
      res.end(JSON.stringify({ keys: [es.publicJwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
    await t.stop();
  });

  /** Expects a refusal with `error` and no token. */
  async function refused(res: Promise<{ status: number; body: any }>, error: string, status = error === 'invalid_client' ? 401 : 400) {
    const { status: got, body } = await res;
    expect({ status: got, error: body.error }).toEqual({ status, error });
    expect(body.access_token).toBeUndefined();
  }

  it('issues short-lived Bearer tokens for RS384 and ES384 assertions, without refresh tokens', async () => {
    const es = await addBackendClient(t.app, 'system/Patient.rs', await keyPair('ES384'));
    for (const client of [rs, es]) {
      const res = await grant(await clientAssertion(client, tokenUrl));
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body.token_type).toBe('Bearer');
      expect(res.body.expires_in).toBeGreaterThan(0);
      expect(res.body.expires_in).toBeLessThanOrEqual(300);
      expect(res.body.scope).toBe('system/Patient.rs');
      expect(res.body.refresh_token).toBeUndefined();
      expect(res.body.id_token).toBeUndefined();
      expect((await fhirFetch(t, 'Patient?_count=1', { token: res.body.access_token })).status).toBe(200);
    }
  });

  it('fetches keys from a registered jwks_uri, and accepts a jku header that names it', async () => {
    const { client } = await t.app.smart.clients.add(
      { grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUrl, scope: 'system/Patient.rs' },
      { by: 'operator' },
    );
    const c: BackendClient = { clientId: client.clientId, key: await keyPair('ES384') };
    expect((await grant(await clientAssertion(c, tokenUrl))).status).toBe(200);
    expect((await grant(await clientAssertion(c, tokenUrl, {}, { jku: jwksUrl }))).status).toBe(200);
    await refused(grant(await clientAssertion(c, tokenUrl, {}, { jku: 'https://attacker.example/jwks.json' })), 'invalid_client');
    await refused(grant(await clientAssertion({ ...c, key: await keyPair('ES384', true) }, tokenUrl)), 'invalid_client');
  });

  it('refuses assertions with bad times', async () => {
    await refused(grant(await clientAssertion(rs, tokenUrl, { exp: now() - 120 })), 'invalid_client');
    await refused(grant(await clientAssertion(rs, tokenUrl, { exp: now() + 600 })), 'invalid_client');
    await refused(grant(await clientAssertion(rs, tokenUrl, { exp: undefined })), 'invalid_client');
  });

  it('refuses a reused jti', async () => {
    const jti = randomUUID();
    expect((await grant(await clientAssertion(rs, tokenUrl, { jti }))).status).toBe(200);
    await refused(grant(await clientAssertion(rs, tokenUrl, { jti })), 'invalid_client');
    await refused(grant(await clientAssertion(rs, tokenUrl, { jti: undefined })), 'invalid_client');
  });

  it('refuses the wrong audience, issuer or subject', async () => {
    for (const aud of ['https://evil.example/token', t.config.issuer, t.base, `${t.config.issuer}/token/introspection`]) {
      await refused(grant(await clientAssertion(rs, tokenUrl, { aud })), 'invalid_client');
    }
    const other = await addBackendClient(t.app, 'system/Patient.rs');
    await refused(grant(await clientAssertion(rs, tokenUrl, { sub: other.clientId })), 'invalid_client');
    await refused(grant(await clientAssertion(rs, tokenUrl, { iss: other.clientId })), 'invalid_client');
    await refused(grant(await clientAssertion(rs, tokenUrl, { iss: 'unknown', sub: 'unknown' })), 'invalid_client');
  });

  it('refuses a wrong key, alg none, HS256 and a missing kid', async () => {
    const stranger = await keyPair('RS384', true);
    await refused(grant(await clientAssertion({ ...rs, key: { ...stranger, kid: rs.key.kid } }, tokenUrl)), 'invalid_client');
    const claims = { iss: rs.clientId, sub: rs.clientId, aud: tokenUrl, jti: randomUUID(), exp: now() + 120 };
    await refused(grant(unsigned({ alg: 'none', typ: 'JWT', kid: rs.key.kid }, claims)), 'invalid_client');
    const hs = await new SignJWT({ ...claims, jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', kid: rs.key.kid })
      .sign(new TextEncoder().encode('a shared secret that is long enough for HS256'));
    await refused(grant(hs), 'invalid_client');
    await refused(grant(await clientAssertion(rs, tokenUrl, {}, { kid: undefined })), 'invalid_client');
    await refused(grant(await clientAssertion(rs, tokenUrl, {}, { jku: 'https://attacker.example/jwks.json' })), 'invalid_client');
    // Not a JWT at all: still a failed client authentication (RFC 7523 §3.2).
    await refused(grant('not.a.jwt'), 'invalid_client');
  });

  it('grants only registered system/ scopes', async () => {
    const assertion = () => clientAssertion(rs, tokenUrl);
    await refused(grant(await assertion(), 'patient/Observation.rs'), 'invalid_scope');
    await refused(grant(await assertion(), 'user/Patient.rs'), 'invalid_scope');
    await refused(grant(await assertion(), 'system/Condition.rs'), 'invalid_scope');
    await refused(grant(await assertion(), 'system/Patient.cruds'), 'invalid_scope');
    await refused(grant(await assertion(), 'system/Patient.rs openid'), 'invalid_scope');
    await refused(grant(await assertion(), ''), 'invalid_scope');
    const narrow = await grant(await assertion(), 'system/Observation.r');
    expect(narrow.status).toBe(200);
    expect(narrow.body.scope).toBe('system/Observation.r');
  });

  it('narrows a v1 registration to v2 scopes', async () => {
    const v1 = await addBackendClient(t.app, 'system/*.read');
    const res = await grant(await clientAssertion(v1, tokenUrl), 'system/*.rs');
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/*.rs');
    await refused(grant(await clientAssertion(v1, tokenUrl), 'system/*.cruds'), 'invalid_scope');
    await refused(grant(await clientAssertion(v1, tokenUrl), 'system/*.write'), 'invalid_scope');
  });

  it('a disabled client gets no token, and the ones it has stop working at once', async () => {
    const doomed = await addBackendClient(t.app, 'system/Patient.rs');
    const { body } = await grant(await clientAssertion(doomed, tokenUrl));
    expect((await fhirFetch(t, 'Patient?_count=1', { token: body.access_token })).status).toBe(200);
    await t.app.smart.clients.setStatus(doomed.clientId, 'disabled');
    await refused(grant(await clientAssertion(doomed, tokenUrl)), 'invalid_client');
    const after = await fhirFetch(t, 'Patient?_count=1', { token: body.access_token });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('offers client_credentials to private_key_jwt clients only', async () => {
    const add = (method: string) =>
      t.app.smart.clients.add({ grant_types: ['client_credentials'], token_endpoint_auth_method: method, scope: 'system/Patient.rs' }, { by: 'operator' });
    await expect(add('client_secret_basic')).rejects.toThrow(ClientMetadataError);
    await expect(add('none')).rejects.toThrow(ClientMetadataError);
    // An app with a secret, registered for the code grant, cannot switch grants.
    const { client, clientSecret } = await t.app.smart.clients.add(
      { redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'client_secret_basic', scope: 'patient/Patient.rs' },
      { by: 'operator' },
    );
    const basic = `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString('base64')}`;
    const res = await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs' }, { authorization: basic });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unauthorized_client');
  });

  it('refuses unknown grant types and assertion types', async () => {
    const res = await postForm(tokenUrl, { grant_type: 'password', username: 'x', password: 'y', client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(rs, tokenUrl) });
    expect(res.body.error).toBe('unsupported_grant_type');
    const wrongType = await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'system/Patient.rs', client_assertion_type: 'urn:example:other', client_assertion: await clientAssertion(rs, tokenUrl) });
    expect(wrongType.status).toBeGreaterThanOrEqual(400);
    expect(['invalid_request', 'invalid_client']).toContain(wrongType.body.error);
  });
});
