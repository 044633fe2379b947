import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

/**
 * The one error type of the server. Every failure a request can meet is thrown as a
 * `FhirError` carrying its HTTP status and the OperationOutcome issues that explain it;
 * the HTTP layer turns it (and anything else, as a 500) into an OperationOutcome.
 *
 * See: https://hl7.org/fhir/R4/operationoutcome.html
 */
export class FhirError extends Error {
  readonly status: number;
  readonly issues: OperationOutcomeIssue[];
  /** Extra response headers, such as `WWW-Authenticate` on a 401. */
  readonly headers: Record<string, string>;

  constructor(status: number, issues: OperationOutcomeIssue[], headers: Record<string, string> = {}) {
    super(issues.map((i) => i.diagnostics ?? i.details?.text ?? i.code).join('; '));
    this.name = 'FhirError';
    this.status = status;
    this.issues = issues;
    this.headers = headers;
  }
}

type IssueCode = OperationOutcomeIssue['code'];

/** Builds one OperationOutcome issue; `expression` is a FHIRPath pointing at the bad element. */
export function issue(
  code: IssueCode,
  diagnostics: string,
  expression?: string | string[],
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcomeIssue {
  const out: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression !== undefined) out.expression = Array.isArray(expression) ? expression : [expression];
  return out;
}

/** 400: the request cannot be understood as sent. */
export function badRequest(message: string, expression?: string | string[], code: IssueCode = 'invalid'): FhirError {
  return new FhirError(400, [issue(code, message, expression)]);
}

/** 404: no such resource, type or route. */
export function notFound(message: string): FhirError {
  return new FhirError(404, [issue('not-found', message)]);
}

/** 410: the resource existed and was deleted. */
export function gone(message: string): FhirError {
  return new FhirError(410, [issue('deleted', message)]);
}

/** 412: an `If-Match` or conditional criterion did not hold. */
export function preconditionFailed(message: string): FhirError {
  return new FhirError(412, [issue('conflict', message)]);
}

/** 409: the write conflicts with the current state. */
export function conflict(message: string): FhirError {
  return new FhirError(409, [issue('conflict', message)]);
}

/** 403: authenticated, but not allowed to do this. */
export function forbidden(message: string): FhirError {
  return new FhirError(403, [issue('forbidden', message)]);
}

/** 405: the interaction is not supported on this path. */
export function methodNotAllowed(message: string): FhirError {
  return new FhirError(405, [issue('not-supported', message)]);
}

/** 406: none of the accepted response formats can be produced. */
export function notAcceptable(message: string): FhirError {
  return new FhirError(406, [issue('not-supported', message)]);
}

/** 413: the request body is larger than the configured limit. */
export function payloadTooLarge(message: string): FhirError {
  return new FhirError(413, [issue('too-costly', message)]);
}

/** 415: the request body's media type is not one the server reads. */
export function unsupportedMediaType(message: string): FhirError {
  return new FhirError(415, [issue('not-supported', message)]);
}

/** 422: well-formed, but breaks a business rule. */
export function unprocessable(message: string, expression?: string | string[]): FhirError {
  return new FhirError(422, [issue('business-rule', message, expression)]);
}

/** Wraps issues as an OperationOutcome resource. */
export function operationOutcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** An OperationOutcome saying all went well (for `Prefer: return=OperationOutcome`). */
export function allOk(message = 'All OK'): OperationOutcome {
  return operationOutcome([issue('informational', message, undefined, 'information')]);
}

/** Seconds a client is asked to wait (`Retry-After`) when the database was busy. */
const BUSY_RETRY_AFTER_S = 5;

/**
 * SQLite's answer when another process held the write lock for longer than the
 * connection waits for it (`busy_timeout`): an index build at the end of a large
 * `kiln import`, for one (search/deferred-indexes.ts). Nothing was written.
 */
function isDatabaseBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * A write that lost a race with a concurrent one, which the database undid: a deadlock
 * (PostgreSQL 40P01: two transactions locking the same resources in opposite orders),
 * a serialization failure (40001), or a unique key another write took first (23505, or
 * SQLite's constraint codes). Whole requests meet the unique case in `inTransaction`
 * (db/transaction.ts); a batch entry, which runs in a savepoint, meets all of them here.
 */
function isConcurrentWrite(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001' || code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * Turns anything thrown into a status and OperationOutcome. A busy SQLite database is a
 * 503 with `Retry-After` (https://www.rfc-editor.org/rfc/rfc9110#name-503-service-unavailable);
 * a write that lost a race with another is a 409 the client may retry. Unknown errors
 * are a 500 whose text hides internals: the details go to the log, not to the client.
 */
export function normalizeError(err: unknown): { status: number; outcome: OperationOutcome; headers: Record<string, string> } {
  if (err instanceof FhirError) {
    return { status: err.status, outcome: operationOutcome(err.issues), headers: err.headers };
  }
  if (isDatabaseBusy(err)) {
    return {
      status: 503,
      outcome: operationOutcome([issue('transient', 'The database is busy with another process\'s write (such as a bulk import building its indexes); nothing was changed, try again shortly')]),
      headers: { 'Retry-After': String(BUSY_RETRY_AFTER_S) },
    };
  }
  if (isConcurrentWrite(err)) {
    return {
      status: 409,
      outcome: operationOutcome([issue('conflict', 'A concurrent write to the same resources got in the way (the database undid this one); nothing was changed, retry the request')]),
      headers: {},
    };
  }
  return {
    status: 500,
    outcome: operationOutcome([issue('exception', 'Internal server error')]),
    headers: {},
  };
}
