import { describe, expect, it } from '@jest/globals';

// oidc-provider and fhir-kit-client ship only as ES modules: this proves the test
// runner loads real ES modules next to our TypeScript (see docs/development.md).
describe('toolchain', () => {
  it('loads the ESM-only packages the server builds on', async () => {
    const { default: Provider } = await import('oidc-provider');
    const provider = new Provider('http://127.0.0.1/oauth', {});
    expect(provider.issuer).toBe('http://127.0.0.1/oauth');
    const { Client } = await import('fhir-kit-client');
    expect(new Client({ baseUrl: 'http://127.0.0.1/fhir/r4' }).baseUrl).toBe('http://127.0.0.1/fhir/r4');
  });
});
