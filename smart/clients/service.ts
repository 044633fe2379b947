import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { AUTH_TABLES } from '../db/schema.js';
import { needsApproval } from '../scopes/index.js';
import type { SecretBox } from '../secrets.js';
import { checkClientMetadata, type ClientMetadata } from './metadata.js';

/**
 * The registry of API clients (SMART apps and backend services), shared by every
 * process through `oauth_clients`. Secrets are stored sealed and handed out once, when
 * the client is added.
 *
 * See: https://www.rfc-editor.org/rfc/rfc7591 and
 * https://hl7.org/fhir/smart-app-launch/app-launch.html#register-app-with-ehr
 */

export type ClientStatus = 'enabled' | 'pending' | 'disabled';
export type RegisteredBy = 'operator' | 'dynamic';

/** A client as stored; it never carries its secret. */
export interface StoredClient {
  clientId: string;
  metadata: ClientMetadata;
  scope: string[];
  status: ClientStatus;
  registeredBy: RegisteredBy;
  createdAt: Date;
  updatedAt: Date;
}

/** What oidc-provider's Client model is built from (see `ClientService.providerMetadata`). */
export type ProviderClientMetadata = Omit<ClientMetadata, 'scope'> & {
  client_id: string;
  client_secret?: string;
  /** The registered SMART scopes, space-separated; our own layer enforces them. */
  smart_scope: string;
};

/** No client has the id asked about. */
export class ClientNotFoundError extends Error {
  constructor(readonly clientId: string) {
    super(`no client with id "${clientId}"`);
    this.name = 'ClientNotFoundError';
  }
}

/** The client is not in the state the change needs (e.g. approving one that is not pending). */
export class ClientStatusError extends Error {
  constructor(
    readonly clientId: string,
    readonly status: ClientStatus,
    message: string,
  ) {
    super(message);
    this.name = 'ClientStatusError';
  }
}

interface ClientRow {
  client_id: string;
  metadata: string;
  secret_enc: string | null;
  scope: string;
  status: string;
  registered_by: string;
  created_at: number | string;
  updated_at: number | string;
}

/**
 * A new client id: 128 random bits in hex. Unguessable, needs no escaping in a URL or a
 * form, and never starts with `-`, which a command line would take for an option
 * (`kiln clients approve ID`, `kiln launch --client ID`): base64url ids did, one in 64.
 */
function newClientId(): string {
  return randomBytes(16).toString('hex');
}

/** Methods whose clients authenticate with a shared secret (RFC 7591 §2). */
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

function toClient(row: ClientRow): StoredClient {
  return {
    clientId: row.client_id,
    metadata: JSON.parse(row.metadata) as ClientMetadata,
    scope: row.scope.split(' ').filter((s) => s !== ''),
    status: row.status as ClientStatus,
    registeredBy: row.registered_by as RegisteredBy,
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
}

export class ClientService {
  constructor(
    private readonly knex: Knex,
    private readonly box: SecretBox,
    private readonly opts: { allowWildcardScopes: boolean; now?: () => number },
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /**
   * Registers a client from RFC 7591 metadata plus `scope`. Operators' clients are
   * enabled at once; a dynamic registration asking for more than one patient's own
   * data (user/, system/ or `launch`) waits as `pending` for an administrator.
   * `clientSecret` is returned here only: it is stored sealed and never shown again.
   * Throws `ClientMetadataError` (RFC 7591 §3.2.2).
   *
   * See: https://www.rfc-editor.org/rfc/rfc7591#section-3.2.1
   */
  async add(input: unknown, opts: { by: RegisteredBy }): Promise<{ client: StoredClient; clientSecret?: string }> {
    const { metadata, scopes } = checkClientMetadata(input, { allowWildcards: this.opts.allowWildcardScopes });
    const clientSecret = SECRET_METHODS.has(metadata.token_endpoint_auth_method) ? randomBytes(32).toString('base64url') : undefined;
    const status: ClientStatus = opts.by === 'dynamic' && needsApproval(scopes) ? 'pending' : 'enabled';
    const now = this.now();
    const row: ClientRow = {
      client_id: newClientId(),
      metadata: JSON.stringify(metadata),
      secret_enc: clientSecret === undefined ? null : this.box.seal(clientSecret),
      scope: scopes.join(' '),
      status,
      registered_by: opts.by,
      created_at: now,
      updated_at: now,
    };
    await this.knex(AUTH_TABLES.clients).insert(row);
    const client = toClient(row);
    return clientSecret === undefined ? { client } : { client, clientSecret };
  }

  async get(clientId: string): Promise<StoredClient | undefined> {
    const row = await this.row(clientId);
    return row && toClient(row);
  }

  /** Every client, oldest first. */
  async list(): Promise<StoredClient[]> {
    const rows: ClientRow[] = await this.knex(AUTH_TABLES.clients).orderBy([{ column: 'created_at' }, { column: 'client_id' }]);
    return rows.map(toClient);
  }

  /** Enables (approving a pending client) or disables a client. */
  async setStatus(clientId: string, status: 'enabled' | 'disabled'): Promise<StoredClient> {
    const n = await this.knex(AUTH_TABLES.clients).where('client_id', clientId).update({ status, updated_at: this.now() });
    if (n === 0) throw new ClientNotFoundError(clientId);
    return (await this.get(clientId)) as StoredClient;
  }

  /**
   * Enables a pending client. The status is checked in the same statement, so a client
   * disabled meanwhile is not enabled by a stale approval.
   */
  async approve(clientId: string): Promise<StoredClient> {
    const n = await this.knex(AUTH_TABLES.clients)
      .where({ client_id: clientId, status: 'pending' })
      .update({ status: 'enabled', updated_at: this.now() });
    if (n === 0) {
      const client = await this.get(clientId);
      if (!client) throw new ClientNotFoundError(clientId);
      throw new ClientStatusError(clientId, client.status, `client "${clientId}" is ${client.status}, not pending approval`);
    }
    return (await this.get(clientId)) as StoredClient;
  }

  /**
   * The metadata oidc-provider's Client model is built from, for enabled clients only
   * (undefined otherwise, so a pending or disabled client cannot authenticate). SMART
   * scopes travel as `smart_scope`, not `scope`: they are checked by our own layer
   * rather than against the provider's static scope list.
   *
   * See: https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#findbyid
   */
  async providerMetadata(clientId: string): Promise<ProviderClientMetadata | undefined> {
    const row = await this.row(clientId);
    if (!row || row.status !== 'enabled') return undefined;
    const { scope: _scope, ...metadata } = JSON.parse(row.metadata) as ClientMetadata;
    const out: ProviderClientMetadata = { ...metadata, client_id: row.client_id, smart_scope: row.scope };
    if (row.secret_enc !== null) out.client_secret = this.box.open(row.secret_enc);
    return out;
  }

  private async row(clientId: string): Promise<ClientRow | undefined> {
    return this.knex(AUTH_TABLES.clients).where('client_id', clientId).first();
  }
}
