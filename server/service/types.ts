import type { Meta, Reference } from 'fhir/r4';
import type { Knex } from 'knex';

/** Any FHIR resource as JSON: the server reads and writes resources of every R4 type. */
export interface AnyResource {
  resourceType: string;
  id?: string;
  meta?: Meta;
  [element: string]: unknown;
}

/** Who performed a write: recorded as the Provenance agent. */
export interface Actor {
  who: Reference;
}

/**
 * One database transaction's worth of writes. Every version written through it is
 * remembered so that one Provenance can name them all when the transaction commits.
 */
export class WriteSession {
  constructor(
    readonly trx: Knex.Transaction,
    /** One timestamp for the whole interaction: every version it writes shares it. */
    readonly now: string,
    /** Version-specific references of everything written, for Provenance.target. */
    readonly targets: string[] = [],
  ) {}

  /** The same session inside a savepoint: writes still count towards its Provenance. */
  nested(trx: Knex.Transaction): WriteSession {
    return new WriteSession(trx, this.now, this.targets);
  }
}

/** How a write interaction wants its Provenance recorded. */
export interface ProvenanceRequest {
  /** The resource sent in the `X-Provenance` header, if any (parsed, not yet validated). */
  header?: AnyResource;
  /**
   * A Provenance the server wrote itself (`kiln import`'s, naming its file), recorded like
   * a header's but not validated: a test checks that it is valid (test/import/load.test.ts).
   */
  own?: AnyResource;
  actor: Actor;
  /** v3-DataOperation code (CREATE, UPDATE, DELETE) when the interaction has one. */
  activity?: string;
}
