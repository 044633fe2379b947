/**
 * Why a scope was refused, worded for an app developer who reads it in an OAuth
 * `error_description` (https://www.rfc-editor.org/rfc/rfc6749#section-5.2).
 */
export class ScopeError extends Error {
  /**
   * @param message what is wrong and, where it helps, how to write it instead
   * @param scope the offending scope exactly as received, when one scope is to blame
   */
  constructor(
    message: string,
    readonly scope?: string,
  ) {
    super(message);
    this.name = 'ScopeError';
  }
}

const MAX_SHOWN = 120;

/**
 * A scope as it may appear inside a message: quoted, cut when very long, and with characters
 * outside printable ASCII replaced, so a hostile scope cannot smuggle control characters or
 * megabytes of text into a response or a log line.
 */
export function show(scope: string): string {
  const safe = scope.replace(/[^\x20-\x7e]/g, '?');
  return `"${safe.length > MAX_SHOWN ? `${safe.slice(0, MAX_SHOWN)}...` : safe}"`;
}

/** At most this many registered scopes are listed in a "was not registered" message. */
const MAX_LISTED = 10;

/** A short list of scopes for a message: the first few, then how many more. */
export function listScopes(scopes: readonly string[]): string {
  if (scopes.length === 0) return 'none';
  const shown = scopes.slice(0, MAX_LISTED).map((s) => (s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}...` : s).replace(/[^\x20-\x7e]/g, '?'));
  const more = scopes.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}
