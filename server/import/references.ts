import type { ImportEntry } from './types.js';

/**
 * Finding the references of a resource that an import must rewrite. Only the string
 * `reference` of a Reference is read: the same `urn:uuid:` text in narrative or in any
 * other element is left as written.
 *
 * See: https://hl7.org/fhir/R4/references.html#Reference and
 * https://hl7.org/fhir/R4/bundle.html#references
 */

/** One `Reference.reference` to rewrite, with where it is for error messages. */
export interface ReferenceSite {
  entry: ImportEntry;
  /** The Reference object itself: rewriting sets `holder.reference`. */
  holder: Record<string, unknown>;
  /** FHIRPath of the element, e.g. `Claim.item[0].encounter[0].reference`. */
  path: string;
  value: string;
}

/** A conditional reference, `Type?identifier=[system|]value`. */
export interface ConditionalReference {
  type: string;
  system: string | undefined;
  value: string;
}

const CONDITIONAL = /^([A-Z][A-Za-z]+)\?(.*)$/;

/**
 * True for the references an import resolves: `urn:uuid:`/`urn:oid:` ones, conditional
 * ones and absolute URLs (which may be the fullUrl of an entry). Relative `Type/id` and
 * contained `#id` references are kept as they are.
 */
function needsResolving(ref: string): boolean {
  return isUrnReference(ref) || CONDITIONAL.test(ref) || ref.startsWith('http:') || ref.startsWith('https:');
}

/** `urn:uuid:` and `urn:oid:`, the URNs a Bundle entry's fullUrl may be (https://hl7.org/fhir/R4/bundle.html#bundle-unique). */
export function isUrnReference(ref: string): boolean {
  return ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:');
}

/**
 * Every reference of the entry's resource to resolve. Walks the JSON with a stack of
 * names and builds a path only when it finds one, since most elements are no references.
 */
export function referenceSites(entry: ImportEntry, out: ReferenceSite[]): void {
  const stack: (string | number)[] = [entry.resource.resourceType];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        if (typeof node[i] !== 'object' || node[i] === null) continue;
        stack.push(i);
        visit(node[i]);
        stack.pop();
      }
      return;
    }
    const obj = node as Record<string, unknown>;
    for (const key in obj) {
      const v = obj[key];
      if (key === 'reference' && typeof v === 'string') {
        if (needsResolving(v)) out.push({ entry, holder: obj, path: pathOf(stack, key), value: v });
      } else if (typeof v === 'object' && v !== null) {
        stack.push(key);
        visit(v);
        stack.pop();
      }
    }
  };
  visit(entry.resource);
}

function pathOf(stack: (string | number)[], last: string): string {
  let p = '';
  for (const s of stack) p += typeof s === 'number' ? `[${s}]` : p ? `.${s}` : s;
  return `${p}.${last}`;
}

/**
 * Parses a conditional reference. Import supports the one criterion a load can rely on,
 * a single identifier (https://hl7.org/fhir/R4/search.html#token); returns undefined for
 * anything else, and a string explaining why for criteria it does not support.
 */
export function parseConditional(ref: string): ConditionalReference | string | undefined {
  const m = CONDITIONAL.exec(ref);
  if (!m) return undefined;
  const params = m[2].split('&').filter(Boolean);
  if (params.length !== 1 || !params[0].startsWith('identifier=')) {
    return 'import resolves conditional references by one identifier only (Type?identifier=system|value)';
  }
  const raw = params[0].slice('identifier='.length);
  let token = raw;
  try {
    token = decodeURIComponent(raw);
  } catch {
    // Not percent-encoded after all (a bare '%' in a value): take it as written.
  }
  const bar = token.indexOf('|');
  if (bar < 0) return { type: m[1], system: undefined, value: token };
  return { type: m[1], system: token.slice(0, bar), value: token.slice(bar + 1) };
}
