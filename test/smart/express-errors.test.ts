import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * Requests outside the FHIR base that express cannot read (a broken JSON body, a
 * percent-encoding error, a body too large) get an RFC 6749-style JSON error without a
 * stack trace, whatever NODE_ENV says.
 */
describe('errors of the authorization server routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
  });
  afterAll(() => t.stop());

  const cases: [string, string, RequestInit, number][] = [
    ['a broken JSON body', '/oauth/launch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }, 400],
    ['a path that is not valid percent-encoding', '/oauth/interaction/%zz', { method: 'GET' }, 400],
    ['a charset the body parser does not read', '/oauth/launch', { method: 'POST', headers: { 'content-type': 'application/json; charset=latin1' }, body: '{}' }, 415],
    ['a form too large', '/oauth/auth', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `x=${'a'.repeat(200_000)}` }, 413],
  ];

  it.each(cases)('%s', async (_name, path, init, status) => {
    const res = await fetch(`${t.origin}${path}`, init);
    const text = await res.text();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = JSON.parse(text) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_request');
    expect(body.error_description.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/node_modules|\bat [\w.]+ \(|\.js:\d+/);
  });
});
