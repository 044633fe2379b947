import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../server/config.js';
import { serve, type Running } from '../../server/main.js';

describe('transport configuration', () => {
  it('refuses a public plain-http base URL in production, naming KILN_BASE_URL', () => {
    const env = { NODE_ENV: 'production', KILN_BASE_URL: 'http://ehr.example.org/fhir/r4' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/KILN_BASE_URL.*https/);
  });

  it.each([
    ['an https base URL', { KILN_BASE_URL: 'https://ehr.example.org/fhir/r4' }],
    ['localhost', { KILN_BASE_URL: 'http://localhost:8080/fhir/r4' }],
    ['127.0.0.1', { KILN_BASE_URL: 'http://127.0.0.1:8080/fhir/r4' }],
    ['[::1]', { KILN_BASE_URL: 'http://[::1]:8080/fhir/r4' }],
    ['the default base URL', {}],
  ])('accepts %s in production', (_name, env) => {
    const c = loadConfig({ NODE_ENV: 'production', ...env });
    expect(c.production).toBe(true);
  });

  it('accepts a public plain-http base URL outside production', () => {
    expect(loadConfig({ KILN_BASE_URL: 'http://ehr.example.org/fhir/r4' }).production).toBe(false);
  });

  it('needs KILN_TLS_CERT and KILN_TLS_KEY together, naming the missing one', () => {
    expect(() => loadConfig({ KILN_TLS_CERT: '/etc/c.pem' })).toThrow(/KILN_TLS_KEY/);
    expect(() => loadConfig({ KILN_TLS_KEY: '/etc/k.pem' })).toThrow(/KILN_TLS_CERT/);
    expect(() => loadConfig({ KILN_TLS_KEY: '/etc/k.pem' })).toThrow(ConfigError);
    const c = loadConfig({ KILN_TLS_CERT: '/etc/c.pem', KILN_TLS_KEY: '/etc/k.pem' });
    expect([c.tlsCert, c.tlsKey]).toEqual(['/etc/c.pem', '/etc/k.pem']);
    expect(loadConfig({}).tlsCert).toBeUndefined();
  });

  it.each([
    [undefined, false],
    ['', false],
    ['false', false],
    ['true', true],
    ['yes', true],
    ['0', 0],
    ['1', 1],
    ['2', 2],
  ])('parses KILN_TRUST_PROXY=%s as %s', (raw, expected) => {
    expect(loadConfig(raw === undefined ? {} : { KILN_TRUST_PROXY: raw }).trustProxy).toBe(expected);
  });

  it('refuses a KILN_TRUST_PROXY that is neither a boolean nor a count', () => {
    expect(() => loadConfig({ KILN_TRUST_PROXY: 'maybe' })).toThrow(/KILN_TRUST_PROXY/);
  });
});

const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const haveOpenssl = openssl.status === 0;
if (!haveOpenssl) console.warn(`Skipping the HTTPS tests: openssl is not available (${openssl.error?.message ?? openssl.stderr})`);

/** GETs `url` over HTTPS; resolves with the status or rejects with the connection error. */
function httpsGet(url: string, options: RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, rejectUnauthorized: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

(haveOpenssl ? describe : describe.skip)('serve over HTTPS', () => {
  let dir: string;
  let running: Running;
  const env = () => ({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${join(dir, 'kiln.sqlite')}`,
    KILN_TLS_CERT: join(dir, 'c.pem'),
    KILN_TLS_KEY: join(dir, 'k.pem'),
    KILN_LOG_LEVEL: 'silent',
    KILN_SAMPLE_DATA: 'false',
    KILN_TRUST_PROXY: '1',
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-tls-'));
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', 'k.pem', '-out', 'c.pem'],
      { cwd: dir, encoding: 'utf8' },
    );
    if (made.status !== 0) throw new Error(`openssl could not make a certificate: ${made.stderr}`);
    running = await serve(loadConfig(env()));
  });
  afterAll(async () => {
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers /healthz over https and reports an https URL', async () => {
    expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await httpsGet(`${running.url}/healthz`, {});
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
  });

  it('refuses a client that offers at most TLS 1.1', async () => {
    // The client allows old protocols and weak settings so the refusal is the server's: its protocol_version alert.
    const old = httpsGet(`${running.url}/healthz`, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    await expect(old).rejects.toThrow(/alert protocol version/i);
  });

  it('applies KILN_TRUST_PROXY to the express app', () => {
    expect(running.app.app.get('trust proxy')).toBe(1);
  });

  it('stops with an error naming the setting when a PEM file is missing or wrong', async () => {
    const missing = loadConfig({ ...env(), KILN_TLS_CERT: join(dir, 'nope.pem') });
    await expect(serve(missing)).rejects.toThrow(/KILN_TLS_CERT.*nope\.pem/);
    const swapped = loadConfig({ ...env(), KILN_TLS_KEY: join(dir, 'c.pem') });
    await expect(serve(swapped)).rejects.toThrow(/KILN_TLS_KEY/);
    writeFileSync(join(dir, 'empty.pem'), '');
    await expect(serve(loadConfig({ ...env(), KILN_TLS_CERT: join(dir, 'empty.pem') }))).rejects.toThrow(ConfigError);
  });
});
