import { badRequest } from '../../errors.js';
import { clip, normalizeSearchString } from '../normalize.js';
import { MAX_INDEXED_TEXT, MAX_INDEXED_URL } from '../types.js';
import { unescapeValue } from './params.js';
import { anyOf, contains, hasIndexRow, startsWith, type Owner, type QueryEnv, type RowMatch, type Where } from './sql.js';

/**
 * String and URI search: https://hl7.org/fhir/R4/search.html#string and
 * https://hl7.org/fhir/R4/search.html#uri.
 */

/** The row condition of one string value, as a plain string search matches it (a composite's string component). */
export function stringMatch(raw: string): RowMatch {
  const s = normalizeSearchString(unescapeValue(raw));
  return (qb, t) => startsWith(qb, `${t}.value`, s);
}

/** The row condition of one URI value, matched exactly (a composite's uri component). */
export function uriMatch(raw: string): RowMatch {
  const uri = clip(unescapeValue(raw), MAX_INDEXED_URL);
  return (qb, t) => void qb.where(`${t}.value`, uri);
}

/**
 * String: by default the normalised value starts with the normalised search text
 * (case and accents ignored); `:exact` compares the text as written; `:contains`
 * matches anywhere. Rows keep at most MAX_INDEXED_TEXT characters, and so does the query.
 */
export function stringWhere(env: QueryEnv, owner: Owner, code: string, modifier: string | undefined, raws: string[], param: string): Where {
  const texts = raws.map(unescapeValue);
  switch (modifier) {
    case undefined:
      return hasIndexRow(env, owner, 'string', code, (qb, t) =>
        anyOf(qb, texts, (w, s) => startsWith(w, `${t}.value`, normalizeSearchString(s))),
      );
    case 'exact':
      // `value` narrows through the index, `exact` decides.
      return hasIndexRow(env, owner, 'string', code, (qb, t) =>
        anyOf(qb, texts, (w, s) => w.where(`${t}.value`, normalizeSearchString(s)).where(`${t}.exact`, clip(s, MAX_INDEXED_TEXT))),
      );
    case 'contains':
      return hasIndexRow(env, owner, 'string', code, (qb, t) =>
        anyOf(qb, texts, (w, s) => contains(w, `${t}.value`, normalizeSearchString(s))),
      );
    default:
      throw badRequest(`${param}: unknown modifier ":${modifier}" for a string parameter (known: exact, contains, missing)`, param, 'not-supported');
  }
}

/** Bound values one `:above` may expand to (each segment gives two). */
const MAX_ANCESTORS = 1000;

/**
 * Every prefix of `uri` that `:above` accepts: the URI itself and each shorter form
 * ending before a `/` (with and without that slash), so `http://a/fhir/ValueSet/1`
 * is "below" `http://a/fhir/` and `http://a/fhir`.
 */
function uriAncestors(uri: string): string[] {
  const out = new Set<string>([uri]);
  const schemeEnd = uri.indexOf('://');
  const from = schemeEnd < 0 ? 0 : schemeEnd + 3;
  for (let i = uri.indexOf('/', from); i > 0; i = uri.indexOf('/', i + 1)) {
    out.add(uri.slice(0, i));
    out.add(uri.slice(0, i + 1));
  }
  return [...out];
}

/** URI: exact by default; `:below` is a prefix match, `:above` the stored URI is a prefix of the value. */
export function uriWhere(env: QueryEnv, owner: Owner, code: string, modifier: string | undefined, raws: string[], param: string): Where {
  const uris = raws.map((r) => clip(unescapeValue(r), MAX_INDEXED_URL));
  switch (modifier) {
    case undefined:
      return hasIndexRow(env, owner, 'uri', code, (qb, t) => void qb.whereIn(`${t}.value`, uris));
    case 'below':
      return hasIndexRow(env, owner, 'uri', code, (qb, t) => anyOf(qb, uris, (w, u) => startsWith(w, `${t}.value`, u)));
    case 'above': {
      const ancestors = uris.flatMap(uriAncestors);
      if (ancestors.length > MAX_ANCESTORS) throw badRequest(`${param}: too many path segments for :above`, param, 'too-long');
      return hasIndexRow(env, owner, 'uri', code, (qb, t) => void qb.whereIn(`${t}.value`, ancestors));
    }
    default:
      throw badRequest(`${param}: unknown modifier ":${modifier}" for a uri parameter (known: above, below, missing)`, param, 'not-supported');
  }
}
