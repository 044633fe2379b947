import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * The three discovery documents agree (SMART configuration, OpenID Provider metadata,
 * CapabilityStatement security), and browser apps can reach the FHIR API (CORS).
 */
describe('discovery documents and CORS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
  });
  afterAll(() => t.stop());

  it('agree on the issuer and every endpoint', async () => {
    const smart = await (await fetch(`${t.base}/.well-known/smart-configuration`)).json();
    const oidc = await (await fetch(`${t.origin}/oauth/.well-known/openid-configuration`)).json();
    const meta = await (await fetch(`${t.base}/metadata`)).json();
    expect(smart.issuer).toBe(`${t.origin}/oauth`);
    expect(oidc.issuer).toBe(smart.issuer);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint', 'userinfo_endpoint']) {
      expect([key, oidc[key]]).toEqual([key, smart[key]]);
    }
    expect(oidc.code_challenge_methods_supported).toEqual(smart.code_challenge_methods_supported);
    const uris = meta.rest[0].security.extension.find((e: { url: string }) => e.url.endsWith('oauth-uris')).extension;
    const uri = (name: string) => uris.find((e: { url: string }) => e.url === name)?.valueUri;
    expect(uri('authorize')).toBe(smart.authorization_endpoint);
    expect(uri('token')).toBe(smart.token_endpoint);
    expect(uri('register')).toBe(smart.registration_endpoint);
    const jwks = await (await fetch(smart.jwks_uri)).json();
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('answers CORS preflights without a token and exposes the headers apps read', async () => {
    const pre = await fetch(`${t.base}/Patient`, { method: 'OPTIONS', headers: { origin: 'https://app.example.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    const res = await fetch(`${t.base}/Patient`, { headers: { origin: 'https://app.example.org', authorization: `Bearer ${t.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('Location');
    const denied = await fetch(`${t.base}/Patient`, { headers: { origin: 'https://app.example.org' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('*');
  });
});
