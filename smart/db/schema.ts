import type { Knex } from 'knex';

/**
 * The authorization server's tables. Every process of a deployment shares them, so a
 * token, client, user or launch written by one process (or by the `kiln` command line)
 * is seen by every other at once. Instants are epoch milliseconds (bigint), which
 * compare the same way on both engines.
 */
export const AUTH_TABLES = {
  /** oidc-provider's models (sessions, grants, codes, tokens, interactions …): one row per model instance. */
  models: 'oauth_models',
  clients: 'oauth_clients',
  users: 'auth_users',
  /** Failed-login counters, per account (`user:<id>`) and per client address (`ip:<addr>`). */
  throttle: 'auth_throttle',
  /** The provider's signing keys, private parts encrypted. */
  keys: 'oauth_signing_keys',
  /** EHR launch contexts (`launch` parameter): single-use, short-lived. */
  launches: 'smart_launches',
} as const;

/** Creates the authorization tables (migration 0002). */
export async function createAuthTables(knex: Knex): Promise<void> {
  await knex.schema.createTable(AUTH_TABLES.models, (t) => {
    t.string('kind', 48).notNullable();
    t.string('id', 255).notNullable();
    t.text('payload').notNullable();
    t.string('grant_id', 255);
    /** The client the model belongs to, so a token check can see the client's status in the same read. */
    t.string('client_id', 255);
    /** The user (auth_users.id) the model was issued to, so a user's authorizations can be found and revoked. */
    t.string('account_id', 64);
    t.string('user_code', 255);
    t.string('uid', 255);
    t.bigInteger('expires_at');
    t.bigInteger('consumed_at');
    t.primary(['kind', 'id']);
    t.index(['grant_id'], 'oauth_models_grant');
    t.index(['uid'], 'oauth_models_uid');
    t.index(['account_id'], 'oauth_models_account');
    t.index(['user_code'], 'oauth_models_user_code');
    t.index(['expires_at'], 'oauth_models_expires');
  });
  await knex.schema.createTable(AUTH_TABLES.clients, (t) => {
    t.string('client_id', 255).primary();
    /** RFC 7591 client metadata as JSON text, without the secret. */
    t.text('metadata').notNullable();
    /** The client secret, encrypted (see smart/secrets.ts); null for public and private_key_jwt clients. */
    t.text('secret_enc');
    /** The scopes fixed at registration, space-separated. */
    t.text('scope').notNullable();
    /** enabled | pending (awaiting an administrator) | disabled */
    t.string('status', 16).notNullable();
    /** operator (command line or admin API) | dynamic (RFC 7591 registration) */
    t.string('registered_by', 16).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
  await knex.schema.createTable(AUTH_TABLES.users, (t) => {
    t.string('id', 64).primary();
    /** Lower-cased. */
    t.string('username', 255).notNullable().unique('auth_users_username');
    /** scrypt, with its parameters and salt (see smart/accounts/passwords.ts). */
    t.text('password_hash').notNullable();
    /** admin | practitioner | patient */
    t.string('role', 16).notNullable();
    /** `Patient/123`, `Practitioner/7` …: the FHIR resource this user is (id_token `fhirUser`). */
    t.string('fhir_user', 255);
    t.boolean('disabled').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
  await knex.schema.createTable(AUTH_TABLES.throttle, (t) => {
    t.string('key', 320).primary();
    t.integer('failures').notNullable();
    t.bigInteger('window_start').notNullable();
    t.bigInteger('locked_until');
  });
  await knex.schema.createTable(AUTH_TABLES.keys, (t) => {
    t.string('kid', 64).primary();
    t.string('alg', 16).notNullable();
    /** The private JWK as JSON, encrypted. */
    t.text('private_jwk_enc').notNullable();
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable(AUTH_TABLES.launches, (t) => {
    t.string('id', 64).primary();
    t.string('client_id', 255).notNullable();
    t.string('user_id', 64).notNullable();
    t.string('patient', 64);
    t.string('encounter', 64);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('used_at');
  });
}

export async function dropAuthTables(knex: Knex): Promise<void> {
  for (const t of Object.values(AUTH_TABLES)) await knex.schema.dropTableIfExists(t);
}
