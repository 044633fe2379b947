import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { AnyResource } from '../service/types.js';
import { ImportFailure, ordinalOf, type ImportEntry, type ImportFile } from './types.js';
import { isResourceId } from '../fhir/ids.js';

/**
 * Turning Bundle entries and NDJSON lines into resources with the ids they keep.
 *
 * Import is a load, not a replay of POSTs: an entry keeps the id its file gives it, so
 * loading a file twice writes the same resources again (unchanged, so nothing new):
 * - fullUrl `urn:uuid:X` (or `urn:oid:X`) → id X (the Synthea case);
 * - fullUrl `<base>/Type/id` → that id;
 * - `PUT Type/id` → that id (https://hl7.org/fhir/R4/http.html#update);
 * - no request (collection Bundles, NDJSON, a lone resource) → `resource.id`;
 * - anything else (a POST whose fullUrl carries no usable id) → an id derived from the
 *   file's name and the entry's position (`derivedId`): stable across re-runs, and across
 *   folders, but a renamed file gets new ids.
 *
 * See: https://hl7.org/fhir/R4/bundle.html#references and https://hl7.org/fhir/R4/nd-json.html
 */

/** https://hl7.org/fhir/R4/datatypes.html#id */
const URN = /^urn:(?:uuid|oid):(.+)$/;
const RESTFUL_TAIL = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
const TYPE_ID = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

/** Bundle types whose entries are resources to store; history and responses are not loads. */
const LOADABLE_BUNDLES = new Set(['transaction', 'batch', 'collection']);

interface BundleEntryJson {
  fullUrl?: unknown;
  resource?: unknown;
  request?: { method?: unknown; url?: unknown };
}

/**
 * The entries of a `.json` file: a transaction, batch or collection Bundle, or a single
 * resource (loaded as a file of one). Throws `ImportFailure` naming the entry at fault:
 * a DELETE (or any method other than POST and PUT) rejects the whole file, since
 * loading the rest would leave the data in a state the file never describes.
 */
export function bundleEntries(text: string, file: ImportFile): ImportEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ImportFailure(`not valid JSON: ${(err as Error).message}`);
  }
  if (!isResource(json)) throw new ImportFailure('not a FHIR resource (no resourceType)');
  if (json.resourceType !== 'Bundle') return [fromResource(json, 0, 'entry 0', file)];
  if (!LOADABLE_BUNDLES.has(json.type as string)) {
    throw new ImportFailure(`Bundle.type "${String(json.type)}" is not a load; import reads transaction, batch and collection Bundles`, undefined, 'Bundle.type');
  }
  const raw = Array.isArray(json.entry) ? (json.entry as BundleEntryJson[]) : [];
  return raw.map((e, i) => fromBundleEntry(e, i, file));
}

/** The entry of NDJSON line `lineNo` (from 1); an NDJSON line is a resource with its id. */
export function lineEntry(line: string, lineNo: number, file: ImportFile): ImportEntry {
  const label = `line ${lineNo}`;
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    throw new ImportFailure(`not valid JSON: ${(err as Error).message}`, label);
  }
  if (!isResource(json)) throw new ImportFailure('not a FHIR resource (no resourceType)', label);
  return fromResource(json, lineNo, label, file);
}

function fromBundleEntry(e: BundleEntryJson, i: number, file: ImportFile): ImportEntry {
  const label = `entry ${i}`;
  const method = e?.request?.method;
  if (method !== undefined && method !== 'POST' && method !== 'PUT') {
    throw new ImportFailure(
      `request.method ${String(method)} is not a load: import accepts POST and PUT entries only, the file is rejected`,
      label,
      `Bundle.entry[${i}].request.method`,
    );
  }
  if (!isResource(e.resource)) throw new ImportFailure('entry has no resource', label, `Bundle.entry[${i}].resource`);
  const resource = e.resource;
  const fullUrl = typeof e.fullUrl === 'string' ? e.fullUrl : undefined;
  const fromUrl = fullUrl === undefined ? undefined : idFromFullUrl(fullUrl, resource.resourceType, label, i);
  const fromPut = method === 'PUT' ? idFromPut(e.request?.url, resource, label, i) : undefined;
  if (fromUrl !== undefined && fromPut !== undefined && fromUrl !== fromPut) {
    throw new ImportFailure(`fullUrl ${fullUrl} and request.url name different ids`, label, `Bundle.entry[${i}].request.url`);
  }
  const own = method === undefined && typeof resource.id === 'string' && isResourceId(resource.id) ? resource.id : undefined;
  resource.id = fromUrl ?? fromPut ?? own ?? derivedId(file, label);
  return { label, ordinal: ordinalOf(file, i), fullUrl, resource };
}

function fromResource(resource: AnyResource, position: number, label: string, file: ImportFile): ImportEntry {
  if (typeof resource.id !== 'string' || !isResourceId(resource.id)) resource.id = derivedId(file, label);
  return { label, ordinal: ordinalOf(file, position), fullUrl: undefined, resource };
}

/** The id a fullUrl gives its resource, if it gives one; a RESTful URL must name the resource's own type. */
function idFromFullUrl(fullUrl: string, type: string, label: string, i: number): string | undefined {
  const urn = URN.exec(fullUrl);
  if (urn) return isResourceId(urn[1]) ? urn[1] : undefined;
  const tail = RESTFUL_TAIL.exec(fullUrl);
  if (!tail) return undefined;
  if (tail[1] !== type) {
    throw new ImportFailure(`fullUrl ${fullUrl} names a ${tail[1]}, the entry holds a ${type}`, label, `Bundle.entry[${i}].fullUrl`);
  }
  return tail[2];
}

function idFromPut(url: unknown, resource: AnyResource, label: string, i: number): string {
  const m = typeof url === 'string' ? TYPE_ID.exec(url) : null;
  const path = `Bundle.entry[${i}].request.url`;
  if (!m) throw new ImportFailure(`PUT ${String(url)}: import needs PUT Type/id (conditional updates are not supported)`, label, path);
  if (m[1] !== resource.resourceType) throw new ImportFailure(`PUT ${String(url)} holds a ${resource.resourceType}`, label, path);
  if (resource.id !== undefined && resource.id !== m[2]) {
    throw new ImportFailure(`PUT ${String(url)}: the resource's id is "${String(resource.id)}"`, label, `${resource.resourceType}.id`);
  }
  return m[2];
}

/**
 * A stable id for an entry whose file gives it none: a name-based UUID (SHA-256 of the
 * file's base name and the entry's position), so a re-run finds the same resource
 * instead of creating another.
 */
export function derivedId(file: ImportFile, label: string): string {
  const h = createHash('sha256').update(`kiln-import\n${basename(file.path)}\n${label}`).digest('hex');
  // RFC 9562 layout with version 8 (custom) and the RFC variant bits.
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function isResource(x: unknown): x is AnyResource {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && typeof (x as { resourceType?: unknown }).resourceType === 'string';
}
