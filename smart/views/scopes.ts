/**
 * Plain-language descriptions of SMART scopes for the consent page. Parsing is a light
 * regex: the description only has to be right for the scopes the server will honour,
 * and an unrecognised scope still gets a truthful (if generic) line.
 */

// A Map, not an object literal, so `toString` and friends are not scopes.
const FIXED = new Map<string, string>([
  ['openid', 'Know who you are'],
  ['fhirUser', 'Know who you are'],
  ['profile', 'Know who you are'],
  ['launch', 'Know the context the app was launched from'],
  ['offline_access', 'Keep access when you are not using the app'],
  ['online_access', 'Keep access while you are signed in'],
]);

// v1 `.read`/`.write`/`.*` or v2 `.cruds` letters in that order, then an optional granular query.
const RESOURCE_SCOPE = /^(patient|user|system)\/(\*|[A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(?:\?(.+))?$/;

const VERBS: [letter: string, verb: string][] = [
  ['c', 'create'],
  ['r', 'read'],
  ['u', 'update'],
  ['d', 'delete'],
  ['s', 'search'],
];

// SMART 2 maps v1 `read` to `rs`, `write` to `cud`.
const V1 = new Map([
  ['read', 'rs'],
  ['write', 'cud'],
  ['*', 'cruds'],
]);

/**
 * A plain-language description of a SMART scope, for the consent page.
 * See: https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
 */
export function describeScope(scope: string): string {
  const fixed = FIXED.get(scope);
  if (fixed) return fixed;
  const launch = /^launch\/([A-Za-z]+)$/.exec(scope);
  if (launch) return `Know which ${launch[1]} is in context`;
  const m = RESOURCE_SCOPE.exec(scope);
  if (!m || m[3] === '') return `Use the permission “${scope}”`;
  const [, level, type, permissions, query] = m;
  const letters = V1.get(permissions) ?? permissions;
  const verbs = VERBS.filter(([letter]) => letters.includes(letter)).map(([, verb]) => verb);
  const what = `${capitalize(joinAnd(verbs))} ${records(level, type)}`;
  const only = query ? describeQuery(query) : '';
  return only ? `${what} ${only}` : what;
}

function records(level: string, type: string): string {
  const all = type === '*';
  if (level === 'patient') return all ? 'all your records' : `your ${type} records`;
  if (level === 'user') return all ? 'all records you can access' : `${type} records you can access`;
  return all ? 'all records' : `all ${type} records`;
}

/** `category=http://…|laboratory&code=…` → "where category is laboratory and code is …". */
function describeQuery(query: string): string {
  const parts = query.split('&').flatMap((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) return [];
    const name = decode(pair.slice(0, eq));
    const value = decode(pair.slice(eq + 1));
    // A token `system|code`: the code is what a person recognises.
    const bar = value.lastIndexOf('|');
    const shown = bar >= 0 && bar < value.length - 1 ? value.slice(bar + 1) : value.replace(/\|$/, '');
    return [`${name} is ${shown}`];
  });
  return parts.length ? `where ${joinAnd(parts)}` : '';
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function joinAnd(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
