/**
 * Reading literal references the way search needs them: which resource type and id a
 * reference points at, whether it is relative, absolute or versioned.
 *
 * See: https://hl7.org/fhir/R4/references.html#literal and
 * https://hl7.org/fhir/R4/search.html#reference
 */

/** What a reference string names. `url` is set for absolute references only. */
export interface ParsedReference {
  type: string | null;
  id: string | null;
  version: string | null;
  url: string | null;
}

// https://hl7.org/fhir/R4/datatypes.html#id — ids are [A-Za-z0-9\-\.]{1,64}; type names
// are at most 64 characters too (the index's column), longer ones name no resource type.
const RELATIVE = /^([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
const RESTFUL_TAIL = /\/([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:/i;
const STRUCTURE_DEFINITION = 'http://hl7.org/fhir/StructureDefinition/';

/**
 * Parses `Reference.reference`. Returns null for what is not searchable as a target:
 * contained references (`#x`, they point inside this resource), conditional references
 * (`Patient?identifier=…`, resolved before a resource is stored) and empty strings.
 */
export function parseReference(ref: string): ParsedReference | null {
  if (ref.length === 0 || ref.charCodeAt(0) === 35 /* # */) return null;
  const rel = RELATIVE.exec(ref);
  if (rel) return { type: rel[1], id: rel[2], version: rel[3] ?? null, url: null };
  if (!ABSOLUTE.test(ref)) return null;
  const tail = RESTFUL_TAIL.exec(ref);
  if (!tail) return { type: null, id: null, version: null, url: ref };
  // The history suffix is a version of the same resource: keep the URL unversioned so
  // `subject=<url>` finds versioned references too.
  const url = tail[3] ? ref.slice(0, ref.length - tail[3].length - '/_history/'.length) : ref;
  return { type: tail[1], id: tail[2], version: tail[3] ?? null, url };
}

/** `Reference.type` is a type name or the URL of its StructureDefinition. */
function typeFromTypeElement(type: unknown): string | null {
  if (typeof type !== 'string' || type.length === 0) return null;
  const name = type.startsWith(STRUCTURE_DEFINITION) ? type.slice(STRUCTURE_DEFINITION.length) : type;
  return name.length <= 64 ? name : null;
}

/**
 * The resource type a Reference points at, as `resolve() is X` in a search parameter
 * expression asks it: the type named by the literal reference, else its `type` element.
 * Search only needs the type, so nothing is actually resolved.
 */
export function referenceTargetType(reference: unknown): string | null {
  if (reference === null || typeof reference !== 'object') return null;
  const r = reference as { reference?: unknown; type?: unknown };
  if (typeof r.reference === 'string') {
    if (r.reference.charCodeAt(0) === 35) return null;
    const parsed = parseReference(r.reference);
    if (parsed?.type) return parsed.type;
  }
  return typeFromTypeElement(r.type);
}

/** Splits `url|version` (https://hl7.org/fhir/R4/references.html#canonical). */
export function splitCanonical(canonical: string): { url: string; version: string | null } {
  const bar = canonical.lastIndexOf('|');
  if (bar < 0) return { url: canonical, version: null };
  return { url: canonical.slice(0, bar), version: canonical.slice(bar + 1) || null };
}

/** The type element of a Reference, for rows whose literal reference names no type. */
export function referenceTypeElement(reference: { type?: unknown }): string | null {
  return typeFromTypeElement(reference.type);
}
