import type { Authorization } from '../server/context.js';
import type { Actor } from '../server/service/types.js';
import type { Database } from '../server/db/connect.js';
import { FhirError, issue } from '../server/errors.js';
import { AUTH_TABLES } from './db/schema.js';
import { AUTH_VERSION_COLUMN, AUTH_VERSION_SQL } from '../server/db/auth-version.js';
import { hasOptedOut } from './optout.js';

/**
 * The token check at the front of the FHIR API (RFC 6750): the Bearer token is looked
 * up in the provider's own store on every request, together with its client's status
 * and its user's, so that a revoked token, a disabled client or a disabled user stops
 * working at once rather than at expiry.
 */

interface TokenRow {
  kind: string;
  payload: string;
  expires_at: number | string | null;
  client_status: string | null;
  user_disabled: number | boolean | null;
  grant_id: string | null;
  /** The grant's own id when it still exists (and its expiry); null once it is revoked. */
  grant_found: string | null;
  grant_expires_at: number | string | null;
  /** PostgreSQL: the authorization state's version the row was read with (server/db/auth-version.ts). */
  kiln_auth_version?: number | string | null;
}

/** The token's payload as oidc-provider stored it (the parts read here). */
interface TokenPayload {
  clientId?: string;
  accountId?: string;
  scope?: string;
  aud?: string | string[];
  extra?: { patient?: string; encounter?: string; fhirUser?: string };
}

const M = AUTH_TABLES.models;
const SQL =
  `select m.kind, m.payload, m.expires_at, c.status as client_status, u.disabled as user_disabled, ` +
  `m.grant_id, g.id as grant_found, g.expires_at as grant_expires_at ` +
  `from ${M} m left join ${AUTH_TABLES.clients} c on c.client_id = m.client_id left join ${AUTH_TABLES.users} u on u.id = m.account_id ` +
  `left join ${M} g on g.kind = 'Grant' and g.id = m.grant_id ` +
  `where m.kind in ('AccessToken', 'ClientCredentials') and m.id = ?`;

/** The same on PostgreSQL, with the version of the authorization state in the same snapshot. */
const VERSIONED_SQL = SQL.replace(' from ', `, ${AUTH_VERSION_SQL} as ${AUTH_VERSION_COLUMN} from `);

/** Most remembered token checks; past it the memory starts over. */
const MAX_CHECKED = 10_000;

/** A 401 with the RFC 6750 §3 challenge; no error code when no token was sent (§3.1). */
export function unauthorized(realm: string, description: string, error?: 'invalid_token' | 'invalid_request'): FhirError {
  const params = [`realm="${realm}"`];
  if (error) params.push(`error="${error}"`, `error_description="${description.replace(/"/g, "'")}"`);
  return new FhirError(401, [issue('login', description)], { 'WWW-Authenticate': `Bearer ${params.join(', ')}` });
}

/** A 403 for a valid token that does not allow the interaction (RFC 6750 §3.1 `insufficient_scope`). */
export function insufficientScope(realm: string, description: string, scope?: string): FhirError {
  const params = [`realm="${realm}"`, 'error="insufficient_scope"', `error_description="${description.replace(/"/g, "'")}"`];
  if (scope) params.push(`scope="${scope}"`);
  return new FhirError(403, [issue('forbidden', description)], { 'WWW-Authenticate': `Bearer ${params.join(', ')}` });
}

/** The token of a `Bearer` Authorization header; a 401 when there is none. */
function bearerToken(realm: string, header: string | undefined): string {
  if (header === undefined || header === '') throw unauthorized(realm, 'This request needs an access token (Authorization: Bearer …)');
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!m) throw unauthorized(realm, 'The Authorization header is not a Bearer token', 'invalid_request');
  return m[1];
}

/** Checks `Authorization` headers against the token store. */
export class BearerCheck {
  constructor(
    private readonly db: Database,
    /** The FHIR base URL: tokens must have been issued for it (their audience). */
    private readonly audience: string,
  ) {}

  private readonly realm = 'kiln';

  /**
   * Answers already checked. On SQLite an answer is valid while the database is
   * unchanged (see `reader.version()`) and the token unexpired: any commit anywhere (a
   * revocation, a disabled client, an opt-out, but also any FHIR write) empties it in
   * effect, so a change still takes effect on the very next request. On PostgreSQL an
   * answer is valid while the authorization state's version is unchanged
   * (server/db/auth-version.ts), which only changes that could end a token raise; it is
   * never taken alone: `provisional` uses it while the request's own statement or a
   * check run beside it proves it still holds.
   */
  private readonly checked = new Map<string, { auth: Authorization; until: number; version: number | undefined }>();

  /** The authorization a request carries; throws a 401 FhirError when there is none that works. */
  async authenticate(header: string | undefined): Promise<Authorization> {
    return this.check(bearerToken(this.realm, header));
  }

  /**
   * Like `authenticate`, for a request that changes nothing (GET, HEAD), whose caller
   * calls `confirm` after doing the work and before answering. A remembered answer is
   * then taken without first reading `data_version`: `confirm` proves afterwards that
   * nothing was committed since it was remembered, usually without a statement of its
   * own, because the request's read reported `data_version` (see `Reader`). When that
   * fails, `confirm` checks the token afresh and throws its 401.
   *
   * On PostgreSQL, `reportsVersion` says that the request's main statement will select
   * the authorization state's version (a read by id, a search page): `confirm` then
   * takes the answer when that statement, begun after this call, saw the version the
   * answer was read with. Other requests check the token beside their work.
   */
  async provisional(header: string | undefined, reportsVersion = false): Promise<{ auth: Authorization; confirm?: () => Promise<void> }> {
    const token = bearerToken(this.realm, header);
    const reader = this.db.reader;
    const hit = this.checked.get(token);
    if (!hit || hit.until <= Date.now()) return { auth: await this.check(token) };
    const watch = this.db.authVersion;
    if (!reader && watch && reportsVersion && hit.version !== undefined) {
      const mark = watch.mark();
      const version = hit.version;
      const confirm = async () => {
        if (!watch.unchangedSince(mark, version)) await this.check(token);
      };
      return { auth: hit.auth, confirm };
    }
    if (!reader) {
      // PostgreSQL: what a token grants never changes, only whether it still works. The
      // check runs beside the request's own queries, on another connection, instead of
      // before them: one round trip less to wait for.
      const checking = this.check(token);
      checking.catch(() => undefined);
      return { auth: hit.auth, confirm: async () => void (await checking) };
    }
    const mark = reader.mark();
    const version = hit.version as number;
    const confirm = async () => {
      if (reader.unchangedSince(mark, version) || reader.version() === version) return;
      await this.check(token);
    };
    return { auth: hit.auth, confirm };
  }

  private async check(token: string): Promise<Authorization> {
    // Read before the lookup: a commit between the two then makes the entry stale, never wrong.
    const readVersion = this.db.reader?.version();
    const hit = readVersion === undefined ? undefined : this.checked.get(token);
    if (hit && hit.version === readVersion && hit.until > Date.now()) return hit.auth;
    const row = await this.find(token);
    const payload = this.usable(row);
    const reported = row?.kiln_auth_version;
    const version = readVersion ?? (reported === undefined || reported === null ? undefined : Number(reported));
    const patient = payload.extra?.patient;
    if (patient !== undefined && (await hasOptedOut(this.db, patient))) {
      throw unauthorized(this.realm, "The patient in this token's context has opted out of access through apps", 'invalid_token');
    }
    const auth: Authorization = {
      clientId: payload.clientId as string,
      userId: payload.accountId,
      scopes: (payload.scope ?? '').split(' ').filter(Boolean),
      patient: payload.extra?.patient,
      encounter: payload.extra?.encounter,
      fhirUser: payload.extra?.fhirUser,
    };
    if (row) this.remember(token, auth, row, version);
    return auth;
  }

  private remember(token: string, auth: Authorization, row: TokenRow, version: number | undefined): void {
    const limits = [row.expires_at, row.grant_expires_at].filter((x) => x !== null).map(Number);
    const until = limits.length ? Math.min(...limits) : Date.now() + 60_000;
    if (this.checked.size >= MAX_CHECKED) this.checked.clear();
    this.checked.set(token, { auth: Object.freeze(auth), until, version });
  }

  private async find(token: string): Promise<TokenRow | undefined> {
    if (token.length > 512) return undefined;
    if (this.db.reader) return this.db.reader.get(SQL, [token]) as TokenRow | undefined;
    // PostgreSQL (every connection to it has a watch): the version comes with the row.
    const select = async () => ((await this.db.knex.raw(VERSIONED_SQL, [token])) as { rows: TokenRow[] }).rows;
    const rows = this.db.authVersion ? await this.db.authVersion.rows(select) : await select();
    return rows[0];
  }

  /** The payload of a token that is known, unexpired, for this server, of an enabled client and an active user. */
  private usable(row: TokenRow | undefined): TokenPayload {
    const invalid = (why: string) => unauthorized(this.realm, why, 'invalid_token');
    if (!row) throw invalid('The access token is not valid (unknown, revoked or expired)');
    if (row.expires_at !== null && Number(row.expires_at) <= Date.now()) throw invalid('The access token has expired');
    // A token saved while its grant was being revoked (a replayed code or refresh token) outlives the revocation's delete.
    const grantGone = row.grant_found === null || (row.grant_expires_at !== null && Number(row.grant_expires_at) <= Date.now());
    if (row.grant_id !== null && grantGone) throw invalid("The access token's grant was revoked");
    if (row.client_status !== 'enabled') throw invalid("The access token's client is not enabled");
    if (row.user_disabled === true || row.user_disabled === 1) throw invalid("The access token's user is disabled");
    const payload = JSON.parse(row.payload) as TokenPayload;
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!aud.includes(this.audience)) throw invalid('The access token was not issued for this FHIR server');
    if (!payload.clientId) throw invalid('The access token names no client');
    return payload;
  }
}

/**
 * Who Provenance names for a request (https://hl7.org/fhir/R4/provenance.html): the
 * user's own FHIR resource when the token has one, otherwise the client, by its id.
 */
export function actorOf(auth: Authorization, issuer: string): Actor {
  if (auth.fhirUser) return { who: { reference: auth.fhirUser } };
  return { who: { identifier: { system: `${issuer}/clients`, value: auth.clientId }, display: `API client ${auth.clientId}` } };
}
