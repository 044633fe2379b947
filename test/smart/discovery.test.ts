import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CapabilityStatement, Extension } from 'fhir/r4';
import { loadConfig } from '../../server/config.js';
import { capabilitySecurity, OAUTH_URIS, smartConfiguration } from '../../smart/discovery.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

const config = loadConfig({ KILN_BASE_URL: 'https://ehr.example.org/fhir/r4' });

describe('smartConfiguration', () => {
  const doc = smartConfiguration(config);

  it('has every field SMART App Launch 2 requires or recommends', () => {
    // Required (issuer and jwks_uri because sso-openid-connect is declared), then recommended.
    for (const field of [
      'issuer',
      'jwks_uri',
      'authorization_endpoint',
      'grant_types_supported',
      'token_endpoint',
      'capabilities',
      'code_challenge_methods_supported',
      'scopes_supported',
      'response_types_supported',
      'introspection_endpoint',
      'revocation_endpoint',
      'token_endpoint_auth_methods_supported',
      'registration_endpoint',
    ]) {
      expect(doc).toHaveProperty(field);
    }
    expect(doc).not.toHaveProperty('management_endpoint');
    expect(doc.code_challenge_methods_supported).toEqual(['S256']);
    expect(doc.response_types_supported).toEqual(['code']);
    expect(doc.grant_types_supported).toEqual(['authorization_code', 'client_credentials', 'refresh_token']);
    expect(doc.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
    expect(doc.token_endpoint_auth_signing_alg_values_supported).toEqual(['RS384', 'ES384']);
  });

  it('declares exactly the implemented capabilities', () => {
    expect(doc.capabilities).toEqual([
      'launch-ehr',
      'launch-standalone',
      'client-public',
      'client-confidential-symmetric',
      'client-confidential-asymmetric',
      'context-ehr-patient',
      'context-ehr-encounter',
      'context-standalone-patient',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
      'sso-openid-connect',
      'authorize-post',
      'context-banner',
      'context-style',
    ]);
  });

  it('puts every endpoint under the issuer, on the FHIR server origin', () => {
    expect(doc.issuer).toBe('https://ehr.example.org/oauth');
    expect(doc).toMatchObject({
      authorization_endpoint: 'https://ehr.example.org/oauth/auth',
      token_endpoint: 'https://ehr.example.org/oauth/token',
      introspection_endpoint: 'https://ehr.example.org/oauth/token/introspection',
      revocation_endpoint: 'https://ehr.example.org/oauth/token/revocation',
      registration_endpoint: 'https://ehr.example.org/oauth/reg',
      jwks_uri: 'https://ehr.example.org/oauth/jwks',
      userinfo_endpoint: 'https://ehr.example.org/oauth/me',
    });
  });

  it('lists only scopes a client can be granted', () => {
    const scopes = doc.scopes_supported;
    for (const s of ['openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'online_access', 'system/*.rs', 'system/*.read']) {
      expect(scopes).toContain(s);
    }
    expect(scopes.filter((s) => /^(patient|user)\//.test(s))).toEqual([]);
    const wild = smartConfiguration({ ...config, allowWildcardScopes: true }).scopes_supported;
    expect(wild).toEqual(expect.arrayContaining(['patient/*.rs', 'user/*.rs']));
  });
});

describe('capabilitySecurity', () => {
  it('declares SMART-on-FHIR and the OAuth URIs', () => {
    const sec = capabilitySecurity(config);
    expect(sec.cors).toBe(true);
    expect(sec.service?.[0].coding?.[0]).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' });
    expect(typeof sec.description).toBe('string');
    const uris = Object.fromEntries((sec.extension?.find((e) => e.url === OAUTH_URIS)?.extension ?? []).map((e) => [e.url, e.valueUri]));
    const doc = smartConfiguration(config);
    expect(uris).toEqual({
      authorize: doc.authorization_endpoint,
      token: doc.token_endpoint,
      register: doc.registration_endpoint,
      revoke: doc.revocation_endpoint,
      introspect: doc.introspection_endpoint,
    });
  });
});

describe('CapabilityStatement security over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
  });
  afterAll(() => t.stop());

  it('serves rest[0].security with the same endpoints as smart-configuration, without credentials', async () => {
    const res = await fetch(`${t.base}/metadata`, { headers: { accept: 'application/fhir+json' } });
    expect(res.status).toBe(200);
    const statement = (await res.json()) as CapabilityStatement;
    const security = statement.rest?.[0].security;
    expect(security?.service?.[0].coding?.[0].code).toBe('SMART-on-FHIR');
    const oauth = security?.extension?.find((e: Extension) => e.url === OAUTH_URIS);
    const uri = (name: string) => oauth?.extension?.find((e) => e.url === name)?.valueUri;
    const doc = smartConfiguration(t.config);
    expect(uri('token')).toBe(doc.token_endpoint);
    expect(uri('authorize')).toBe(doc.authorization_endpoint);
    expect(uri('token')).toBe(`${t.origin}/oauth/token`);
  });
});
