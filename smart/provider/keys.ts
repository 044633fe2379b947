import { createHash, type JsonWebKey } from 'node:crypto';
import type { Knex } from 'knex';
import { AUTH_TABLES } from '../db/schema.js';
import { newKeyPair } from '../key-pairs.js';
import type { SecretBox } from '../secrets.js';

/**
 * The provider's signing keys: an RS256 key made on first start and stored, sealed, in
 * the database, so every process signs with the same key and id_tokens stay verifiable
 * across restarts (https://openid.net/specs/openid-connect-core-1_0.html#Signing).
 */

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk_enc: string;
}

/** RFC 7638 thumbprint of an RSA public key: a stable, content-derived `kid`. */
function thumbprint(jwk: JsonWebKey): string {
  const canonical = JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n });
  return createHash('sha256').update(canonical).digest('base64url');
}

function generateRs256(): { kid: string; jwk: JsonWebKey } {
  const { privateKey } = newKeyPair({ type: 'rsa', modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { kid: thumbprint(jwk), jwk };
}

/**
 * The signing keys as a private JWKS for oidc-provider's `jwks` option, making the
 * first key when there is none. Several processes starting together may each make one;
 * the insert ignores conflicts and everyone then reads the same rows, oldest first.
 */
export async function loadSigningKeys(knex: Knex, box: SecretBox): Promise<{ keys: (JsonWebKey & { kid: string; alg: string; use: string })[] }> {
  let rows = (await knex(AUTH_TABLES.keys).select('kid', 'alg', 'private_jwk_enc').orderBy(['created_at', 'kid'])) as KeyRow[];
  if (rows.length === 0) {
    const { kid, jwk } = generateRs256();
    await knex(AUTH_TABLES.keys)
      .insert({ kid, alg: 'RS256', private_jwk_enc: box.seal(JSON.stringify(jwk)), created_at: Date.now() })
      .onConflict('kid')
      .ignore();
    rows = (await knex(AUTH_TABLES.keys).select('kid', 'alg', 'private_jwk_enc').orderBy(['created_at', 'kid'])) as KeyRow[];
  }
  // The oldest key signs: when several processes made one at once, they all pick the same.
  return { keys: rows.slice(0, 1).map((r) => ({ ...(JSON.parse(box.open(r.private_jwk_enc)) as JsonWebKey), kid: r.kid, alg: r.alg, use: 'sig' })) };
}
