import { readFileSync } from 'node:fs';
import type { SecureVersion } from 'node:tls';
import { ConfigError, type Config } from './config.js';

/** What `node:https.createServer` needs to serve HTTPS directly. */
export interface HttpsOptions {
  cert: Buffer;
  key: Buffer;
  minVersion: SecureVersion;
}

/**
 * The HTTPS options for `config.tlsCert`/`config.tlsKey`, or `undefined` to serve plain
 * HTTP. The files are read now, at start-up, so a wrong path stops the process with an
 * error naming the setting rather than failing on the first handshake.
 * TLS 1.2 is the floor SMART App Launch asks for.
 * See: https://hl7.org/fhir/smart-app-launch/app-launch.html#security-and-privacy-considerations
 */
export function httpsOptions(config: Pick<Config, 'tlsCert' | 'tlsKey'>): HttpsOptions | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  const cert = readPem('KILN_TLS_CERT', config.tlsCert, 'CERTIFICATE');
  const key = readPem('KILN_TLS_KEY', config.tlsKey, 'PRIVATE KEY');
  return { cert, key, minVersion: 'TLSv1.2' };
}

function readPem(key: string, path: string, label: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    throw new ConfigError(key, `cannot read "${path}" (${reason})`);
  }
  // Catches a swapped or empty file here; the TLS layer's own error would not name the key.
  if (!pem.toString('latin1').includes(label)) throw new ConfigError(key, `"${path}" holds no PEM ${label}`);
  return pem;
}
