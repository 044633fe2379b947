import { badRequest, notAcceptable, unsupportedMediaType } from '../errors.js';

/** The media type every response carries. */
export const FHIR_JSON = 'application/fhir+json; fhirVersion=4.0; charset=utf-8';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir', 'text/json']);
const FORMAT_ALIASES = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir', 'text/json']);

interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
}

function parseMediaRanges(header: string): MediaRange[] {
  return header
    .split(',')
    .map((part) => {
      const [type, ...rest] = part.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of rest) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
      }
      const q = params.q === undefined ? 1 : Number(params.q);
      return { type: type.toLowerCase(), params, q: Number.isNaN(q) ? 0 : q };
    })
    .filter((r) => r.type !== '');
}

/** FHIR R4 is `fhirVersion=4.0` (4.0.1 is accepted too); other versions cannot be served. */
function fhirVersionOk(params: Record<string, string>): boolean {
  const v = params.fhirversion;
  return v === undefined || v === '4.0' || v === '4.0.1';
}

/**
 * Checks that the client accepts JSON: `_format` wins over `Accept`; XML, Turtle and
 * other FHIR versions get 406.
 * See: https://hl7.org/fhir/R4/http.html#mime-type and https://hl7.org/fhir/R4/versioning.html#mt-version
 */
export function checkAccept(accept: string | undefined, format: string | undefined): void {
  if (format !== undefined) {
    const [range] = parseMediaRanges(format);
    if (!range || !FORMAT_ALIASES.has(range.type)) throw notAcceptable(`_format=${format} is not supported; this server speaks JSON (_format=json)`);
    if (!fhirVersionOk(range.params)) throw notAcceptable(`_format=${format}: fhirVersion=${range.params.fhirversion} cannot be served; this server is FHIR 4.0`);
    return;
  }
  if (accept === undefined || accept.trim() === '') return;
  const ranges = parseMediaRanges(accept).filter((r) => r.q > 0);
  if (ranges.length === 0) return;
  const ok = ranges.some(
    (r) => (JSON_TYPES.has(r.type) || r.type === '*/*' || r.type === 'application/*') && fhirVersionOk(r.params),
  );
  if (!ok) throw notAcceptable(`Cannot answer in any of the accepted types (${accept}); this server produces application/fhir+json for FHIR 4.0`);
}

/**
 * Checks a request body's Content-Type. `patch` also allows JSON Patch.
 * See: https://hl7.org/fhir/R4/http.html#mime-type
 */
export function checkContentType(contentType: string | undefined, patch: boolean): 'json' | 'json-patch' {
  if (contentType === undefined || contentType.trim() === '') {
    throw unsupportedMediaType('A request body needs a Content-Type: application/fhir+json');
  }
  const [range] = parseMediaRanges(contentType);
  if (!range) throw unsupportedMediaType(`Unreadable Content-Type "${contentType}"`);
  const charset = range.params.charset?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') throw unsupportedMediaType(`Only UTF-8 bodies are read, not ${charset}`);
  if (!fhirVersionOk(range.params)) {
    throw unsupportedMediaType(`fhirVersion=${range.params.fhirversion} is not supported; this server is FHIR 4.0`);
  }
  if (patch) {
    if (range.type === 'application/json-patch+json') return 'json-patch';
    throw unsupportedMediaType(`PATCH takes JSON Patch (application/json-patch+json), not ${range.type}; FHIRPath Patch is not supported`);
  }
  if (JSON_TYPES.has(range.type)) return 'json';
  throw unsupportedMediaType(`Content-Type ${range.type} is not supported; send application/fhir+json`);
}

/**
 * Parses a JSON body, with the position of a syntax error in the message.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw badRequest('The request body is empty', undefined, 'structure');
  try {
    return JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw badRequest(`The request body is not valid JSON: ${detail}`, undefined, 'structure');
  }
}
