import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Database } from './db/connect.js';
import type { StoredVersion } from './db/store.js';
import type { ResourceService } from './service/resources.js';
import type { Actor, WriteSession } from './service/types.js';

/**
 * A FHIR request as controllers see it: no express, no sockets. The HTTP adapter
 * builds it; batch and transaction entries build it too, and go through the same
 * controllers.
 */
export interface FhirRequest {
  method: string;
  /** Route parameters: resource type, id, version id. */
  params: { type?: string; id?: string; vid?: string };
  /** Query parameters; a repeated parameter keeps every value in order. */
  query: Record<string, string[]>;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
  /** The parsed JSON body, if one was sent. */
  body?: unknown;
  /** Path relative to the FHIR base, with its query string (`Patient/1?_pretty=true`). */
  url: string;
  /** The id a create (or a conditional update that matches nothing) must use: set by a transaction that rewrote references to it. */
  assignedId?: string;
}

/**
 * What a controller answers. `body` is a resource or, on the hot read path, the stored
 * JSON text served as it is. `version` fills ETag, Last-Modified and Location.
 */
export interface FhirResponse {
  status: number;
  body?: { resourceType: string } | string;
  version?: StoredVersion;
  /** Set Location (on create, update-as-create). */
  location?: boolean;
  headers?: Record<string, string>;
}

/**
 * What the caller's access token grants: filled by the token check (smart/bearer.ts)
 * before any controller runs. See https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
 */
export interface Authorization {
  /** The OAuth client the token was issued to. */
  clientId: string;
  /** The signed-in user (authorization code flow); absent for backend services. */
  userId?: string;
  /** The granted scopes, as the token carries them. */
  scopes: string[];
  /** Launch context: the Patient id in context. */
  patient?: string;
  /** Launch context: the Encounter id in context. */
  encounter?: string;
  /** The user's own FHIR resource, relative (`Practitioner/7`). */
  fhirUser?: string;
}

/** Everything a controller may use, handed in rather than imported as globals. */
export interface RequestContext {
  config: Config;
  db: Database;
  resources: ResourceService;
  log: Logger;
  requestId: string;
  /** Who is calling, as Provenance records it. */
  actor: Actor;
  /** What the access token grants; absent only on public interactions (`metadata`). */
  auth?: Authorization;
  /**
   * Set while a transaction Bundle runs its entries: every entry reads and writes in
   * this one database transaction, and one Provenance covers them all.
   */
  session?: WriteSession;
}

export type Controller = (req: FhirRequest, ctx: RequestContext) => Promise<FhirResponse>;
