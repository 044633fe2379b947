/**
 * Which redirect URIs a client may register. Web apps use https; native apps use a
 * loopback http URI (any port, since the port is picked when the app starts) or a
 * private-use scheme in reverse domain name form, which ties the scheme to a domain
 * the app's publisher controls.
 *
 * See: https://www.rfc-editor.org/rfc/rfc8252#section-7 (native app redirects) and
 * https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2 (no fragment)
 */

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** True for the loopback hosts a native app may listen on (RFC 8252 §7.3). */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

/** A private-use scheme must contain a dot: `com.example.app` (RFC 8252 §7.1). */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$/;

/**
 * Why `uri` cannot be a redirect URI, or undefined when it can: https; http only on a
 * loopback host; or a private-use scheme like `com.example.app:/callback`. Never a
 * fragment, never credentials in the URI.
 *
 * See: https://www.rfc-editor.org/rfc/rfc8252#section-7
 */
export function redirectUriProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  if (uri.includes('#')) return 'must not contain a fragment';
  if (url.username || url.password) return 'must not contain a user name or password';
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'https') return url.hostname ? undefined : 'needs a host';
  if (scheme === 'http') {
    return isLoopbackHost(url.hostname) ? undefined : 'must use https (http only on a loopback host: 127.0.0.1, [::1] or localhost)';
  }
  if (PRIVATE_USE_SCHEME.test(scheme)) return undefined;
  return 'must use https, http on a loopback host, or a private-use scheme with a dot such as com.example.app:/callback';
}

/** Why `uri` cannot be a `jwks_uri` (or another URL the server fetches), or undefined. */
export function fetchUrlProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URL';
  }
  if (uri.includes('#')) return 'must not contain a fragment';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return undefined;
  return 'must use https (http only on a loopback host)';
}
