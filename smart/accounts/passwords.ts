import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing with scrypt (RFC 7914), stored as a self-describing string
 * `scrypt$N$r$p$salt$hash` (salt and hash base64url) so the parameters can be raised
 * later without invalidating the hashes already stored.
 *
 * See: https://www.rfc-editor.org/rfc/rfc7914 and
 * https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html
 */

/** scrypt cost parameters: `N` (CPU/memory cost, a power of two), `r` (block size), `p` (parallelism). */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** OWASP's 2^15 / 8 / 3 setting: 32 MiB of memory per hash, about a quarter second of CPU. */
export const SCRYPT_DEFAULTS: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 15, r: 8, p: 3 });

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const PREFIX = 'scrypt';

/** Bounds on parameters read back from storage, so a damaged row cannot ask for gigabytes. */
const LIMITS = { minN: 2 ** 10, maxN: 2 ** 20, maxR: 32, maxP: 16 };

function derive(password: string, salt: Buffer, length: number, params: ScryptParams): Promise<Buffer> {
  // scrypt refuses work above `maxmem` (32 MiB by default), which 128·N·r reaches exactly.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes `password` with a fresh random salt; runs on the thread pool, not the event loop. */
export async function hashPassword(password: string, params: ScryptParams = SCRYPT_DEFAULTS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, HASH_BYTES, params);
  return [PREFIX, params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

function parseHash(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined;
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^\d{1,8}$/.test(s) ? Number(s) : NaN));
  const salt = Buffer.from(parts[4], 'base64url');
  const hash = Buffer.from(parts[5], 'base64url');
  const powerOfTwo = Number.isInteger(N) && (N & (N - 1)) === 0;
  if (!powerOfTwo || N < LIMITS.minN || N > LIMITS.maxN) return undefined;
  if (!(r >= 1 && r <= LIMITS.maxR && p >= 1 && p <= LIMITS.maxP)) return undefined;
  if (salt.length < SALT_BYTES || hash.length < 16) return undefined;
  return { N, r, p, salt, hash };
}

/**
 * True when `password` matches `stored` (made by `hashPassword`). A malformed stored
 * value never matches. The comparison takes the same time wherever the bytes differ.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const candidate = await derive(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}

/** One throwaway hash per parameter set, made on first use. */
const dummies = new Map<string, Promise<string>>();

/**
 * Spends the same work as `verifyPassword` against a real hash made with `params` and
 * returns false, so a login for an account that does not exist takes as long as one for
 * an account that does.
 */
export async function dummyVerify(password: string, params: ScryptParams = SCRYPT_DEFAULTS): Promise<false> {
  const id = `${params.N}$${params.r}$${params.p}`;
  let dummy = dummies.get(id);
  if (!dummy) dummies.set(id, (dummy = hashPassword(randomBytes(16).toString('base64url'), params)));
  await verifyPassword(password, await dummy);
  return false;
}
