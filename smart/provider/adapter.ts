import type { Knex } from 'knex';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Database } from '../../server/db/connect.js';
import { AUTH_TABLES } from '../db/schema.js';

/**
 * oidc-provider's storage (https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#adapter)
 * in the shared database, so sessions, grants, codes and tokens survive a restart and
 * every `kiln serve` process on one PostgreSQL database sees the same ones. Clients are
 * not stored here: they come from the client registry, and only while enabled.
 */

/** Finds the provider's view of an enabled client; undefined for unknown, pending or disabled ones. */
export type ClientLookup = (clientId: string) => Promise<AdapterPayload | undefined>;

interface ModelRow {
  payload: string;
  expires_at: number | string | null;
  consumed_at: number | string | null;
}

const T = AUTH_TABLES.models;

/** Turns a row into the payload oidc-provider expects, or undefined once it has expired. */
function toPayload(row: ModelRow | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  if (row.expires_at !== null && Number(row.expires_at) <= Date.now()) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  if (row.consumed_at !== null) payload.consumed = Math.floor(Number(row.consumed_at) / 1000);
  return payload;
}

/** Builds the adapter class oidc-provider instantiates once per model name. */
export function knexAdapter(db: Database, clients: ClientLookup): new (name: string) => Adapter {
  const knex: Knex = db.knex;
  return class KnexAdapter implements Adapter {
    constructor(readonly name: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (this.name === 'Client') throw new Error('clients are registered through the client registry');
      const row = {
        kind: this.name,
        id,
        payload: JSON.stringify(payload),
        grant_id: payload.grantId ?? null,
        client_id: payload.clientId ?? null,
        account_id: payload.accountId ?? null,
        user_code: payload.userCode ?? null,
        uid: payload.uid ?? null,
        expires_at: expiresIn ? Date.now() + expiresIn * 1000 : null,
        consumed_at: null,
      };
      await knex(T).insert(row).onConflict(['kind', 'id']).merge();
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') return clients(id);
      const sql = `select payload, expires_at, consumed_at from ${T} where kind = ? and id = ?`;
      // Token checks run on every FHIR request: on SQLite, the read-only connection answers without a pool round trip.
      const row = db.reader
        ? (db.reader.get(sql, [this.name, id]) as ModelRow | undefined)
        : ((await knex(T).select('payload', 'expires_at', 'consumed_at').where({ kind: this.name, id }).first()) as ModelRow | undefined);
      return toPayload(row);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return toPayload(await knex(T).select('payload', 'expires_at', 'consumed_at').where({ kind: this.name, uid }).first());
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return toPayload(await knex(T).select('payload', 'expires_at', 'consumed_at').where({ kind: this.name, user_code: userCode }).first());
    }

    /**
     * Marks a code or refresh token used, once. Requests that read it unused at the same
     * moment race to here; every loser is a second use (RFC 6749 §4.1.2, refresh token
     * reuse in RFC 9700 §4.14.2): it is refused and the grant is revoked, as oidc-provider
     * does for a second use it sees itself.
     */
    async consume(id: string): Promise<void> {
      const won = await knex(T).where({ kind: this.name, id }).whereNull('consumed_at').update({ consumed_at: Date.now() });
      if (won === 1) return;
      const row = (await knex(T).select('grant_id').where({ kind: this.name, id }).first()) as { grant_id: string | null } | undefined;
      if (row?.grant_id) await revokeGrant(knex, row.grant_id);
      throw new errors.InvalidGrant(`${this.name === 'RefreshToken' ? 'refresh token' : 'authorization code'} already used`);
    }

    async destroy(id: string): Promise<void> {
      await knex(T).where({ kind: this.name, id }).delete();
    }

    /** Every model of the grant, whatever its kind: a revoked grant leaves no token alive. */
    async revokeByGrantId(grantId: string): Promise<void> {
      await knex(T).where({ grant_id: grantId }).delete();
    }
  };
}

/** The grant itself and everything issued under it; a token saved later still fails the check, which needs the grant. */
async function revokeGrant(knex: Knex, grantId: string): Promise<void> {
  await knex(T)
    .where({ grant_id: grantId })
    .orWhere((q) => q.where({ kind: 'Grant', id: grantId }))
    .delete();
}

/** Deletes expired rows; returns how many went. */
export async function sweepExpired(knex: Knex, now = Date.now()): Promise<number> {
  return knex(T).where('expires_at', '<', now).delete();
}
