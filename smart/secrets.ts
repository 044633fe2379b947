import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, type Config } from '../server/config.js';

/**
 * Encryption of secrets at rest (signing keys, client secrets): AES-256-GCM under a key
 * that never sits in the database, so a copy of the database alone reveals none of them.
 */
export class SecretBox {
  private static readonly PREFIX = 'v1.';

  /** `source` names where the key came from, for the error when it does not fit. */
  constructor(
    private readonly key: Buffer,
    private readonly source = 'KILN_SECRET_KEY',
  ) {
    if (key.length !== 32) throw new RangeError('SecretBox needs a 32-byte key');
  }

  /** Encrypts `plain`; every call uses a fresh IV, so equal inputs give different outputs. */
  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return SecretBox.PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** A key for another purpose (cookie signing …), derived so it cannot be turned back into this one. */
  derive(purpose: string): string {
    return createHmac('sha256', this.key).update(`kiln derive\0${purpose}`).digest('base64url');
  }

  /**
   * Decrypts what `seal` made. A value altered, or sealed under another key (the
   * database started with another `KILN_SECRET_KEY` or key file), is a `ConfigError`
   * saying so: it is the deployment's key that is wrong, not the request.
   */
  open(sealed: string): string {
    if (!sealed.startsWith(SecretBox.PREFIX)) throw new Error('not a sealed secret');
    const raw = Buffer.from(sealed.slice(SecretBox.PREFIX.length), 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new ConfigError(
        'KILN_SECRET_KEY',
        `${this.source} does not open the secrets stored in this database (signing keys, client secrets), which were sealed under another key; start with the key the database was made with`,
      );
    }
  }
}

/** Derives the 32-byte key from configured key material of any length ≥ 32 characters. */
function deriveKey(material: string): Buffer {
  return createHash('sha256').update('kiln secret box v1\0').update(material).digest();
}

/**
 * The secret box of this deployment. `KILN_SECRET_KEY` when set (required on
 * PostgreSQL, where every process must share it); otherwise, on SQLite, a key file
 * `<database>.key` made on first start with mode 0600 (an in-memory database gets a key
 * that lives as long as the process).
 */
export function loadSecretBox(config: Pick<Config, 'secretKey' | 'databaseUrl'>): SecretBox {
  if (config.secretKey) return new SecretBox(deriveKey(config.secretKey), 'the key given in KILN_SECRET_KEY');
  if (!config.databaseUrl.startsWith('sqlite:')) {
    throw new ConfigError('KILN_SECRET_KEY', 'is required with PostgreSQL: every kiln process must use the same key (for example `openssl rand -base64 32`)');
  }
  const path = config.databaseUrl.slice('sqlite:'.length);
  if (path === '' || path === ':memory:') return new SecretBox(randomBytes(32), 'the key made for this in-memory database');
  const file = `${resolve(path)}.key`;
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    try {
      writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process made it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  chmodSync(file, 0o600);
  return new SecretBox(deriveKey(readFileSync(file, 'utf8').trim()), `the key file ${file} (KILN_SECRET_KEY is not set)`);
}
