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
  /** The id a create must use: set by a transaction that rewrote references to it. */
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

/** Everything a controller may use, handed in rather than imported as globals. */
export interface RequestContext {
  config: Config;
  db: Database;
  resources: ResourceService;
  log: Logger;
  requestId: string;
  /** Who is calling: the server's own actor until authorization lands. */
  actor: Actor;
  /**
   * Set while a transaction Bundle runs its entries: every entry reads and writes in
   * this one database transaction, and one Provenance covers them all.
   */
  session?: WriteSession;
}

export type Controller = (req: FhirRequest, ctx: RequestContext) => Promise<FhirResponse>;
