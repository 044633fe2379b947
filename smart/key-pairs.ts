import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** What `newKeyPair` makes: an RSA key of `modulusLength` bits, or an EC key on `namedCurve`. */
export type KeyPairSpec = { type: 'rsa'; modulusLength: number } | { type: 'ec'; namedCurve: string };

/**
 * A new key pair, safe to export as JWK.
 *
 * On Node.js 20 (20.20 here), `generateKeyPairSync(...).privateKey.export({ format:
 * 'jwk' })` can hang for ever: the export holds the key's lock while it allocates the
 * JWK's strings, a garbage collection then frees the finished key generation job, and
 * the job's destructor takes the same lock (a self-deadlock: the process's main thread
 * waits in `pthread_mutex_lock` under `KeyGenJob::~KeyGenJob`, inside
 * `ExportJWKRsaKey`). It hung a test run, and a loop of 512-bit RSA keys with a 1 MB
 * young generation hung in 4 runs of 4, after 500 to 1,200 keys (P-384 keys hang too).
 * WebCrypto's `generateKey` and `exportKey('jwk')`, which `jose` uses, take the same path.
 *
 * So the key is generated DER-encoded, which the job encodes before it is done, and
 * parsed again: the returned key objects have locks of their own, which no job's
 * destructor takes. The same loop then ran 3 times 6,000 keys without a hang
 * (test/smart/key-pairs.test.ts).
 */
export function newKeyPair(spec: KeyPairSpec): { privateKey: KeyObject; publicKey: KeyObject } {
  const pkcs8 = { type: 'pkcs8', format: 'der' } as const;
  const spki = { type: 'spki', format: 'der' } as const;
  const { privateKey, publicKey } =
    spec.type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: spec.modulusLength, privateKeyEncoding: pkcs8, publicKeyEncoding: spki })
      : generateKeyPairSync('ec', { namedCurve: spec.namedCurve, privateKeyEncoding: pkcs8, publicKeyEncoding: spki });
  return {
    privateKey: createPrivateKey({ key: privateKey, format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: publicKey, format: 'der', type: 'spki' }),
  };
}
