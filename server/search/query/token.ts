import { badRequest } from '../../errors.js';
import { clip, normalizeSearchString } from '../normalize.js';
import { MAX_INDEXED_TEXT } from '../types.js';
import { splitPipes, unescapeValue } from './params.js';
import { anyOf, hasIndexRow, startsWith, type Owner, type QB, type QueryEnv, type Where } from './sql.js';

/**
 * Token search: https://hl7.org/fhir/R4/search.html#token. Rows hold (system, value);
 * codes match exactly, as written. `:text` and `:of-type` read the extra rows the
 * indexer writes under `<code>:text` and `<code>:of-type` (see ../types.ts).
 */

/** What one token value asks for; undefined parts are not constrained. */
interface TokenValue {
  /** null: `|code`, the code must have no system. */
  system: string | null | undefined;
  code: string | undefined;
}

/** `[system]|[code]`, `|code`, `system|`, `code` (https://hl7.org/fhir/R4/search.html#token). */
export function parseToken(raw: string, param: string): TokenValue {
  const parts = splitPipes(raw);
  if (parts.length > 2) throw badRequest(`${param}: "${raw}" has more than one unescaped "|"; escape a literal bar as "\\|"`, param, 'value');
  const cut = (s: string) => clip(s, MAX_INDEXED_TEXT);
  if (parts.length === 1) return { system: undefined, code: cut(parts[0]) };
  const [system, code] = parts;
  if (system === '' && code === '') throw badRequest(`${param}: "|" alone names neither a system nor a code`, param, 'value');
  return { system: system === '' ? null : cut(system), code: code === '' ? undefined : cut(code) };
}

/** Adds the row conditions of one token value on index row `t`. */
export function matchToken(qb: QB, t: string, v: TokenValue): void {
  if (v.system === null) qb.whereNull(`${t}.system`);
  else if (v.system !== undefined) qb.where(`${t}.system`, v.system);
  if (v.code !== undefined) qb.where(`${t}.value`, v.code);
}

/** Token rows of `code` matching any of the values (OR). */
export function tokenRows(env: QueryEnv, owner: Owner, code: string, raws: string[], param: string, negate = false): Where {
  const values = raws.map((r) => parseToken(r, param));
  return hasIndexRow(env, owner, 'token', code, (qb, t) => anyOf(qb, values, (w, v) => matchToken(w, t, v)), negate);
}

/** `:text`: a string search (starts-with, case- and accent-insensitive) on the display texts. */
function textRows(env: QueryEnv, owner: Owner, code: string, raws: string[]): Where {
  const texts = raws.map((r) => normalizeSearchString(unescapeValue(r)));
  return hasIndexRow(env, owner, 'token', `${code}:text`, (qb, t) => anyOf(qb, texts, (w, s) => startsWith(w, `${t}.value`, s)));
}

/**
 * `:of-type`: `type-system|type-code|identifier-value`, matched against the rows whose
 * system is the type's system and value `type-code|identifier-value`.
 */
function ofTypeRows(env: QueryEnv, owner: Owner, code: string, raws: string[], param: string): Where {
  const values = raws.map((raw) => {
    const parts = splitPipes(raw);
    if (parts.length !== 3 || parts[1] === '' || parts[2] === '') {
      throw badRequest(`${param}: :of-type takes system|code|value, got "${raw}"`, param, 'value');
    }
    return { system: parts[0] === '' ? null : clip(parts[0], MAX_INDEXED_TEXT), value: clip(`${parts[1]}|${parts[2]}`, MAX_INDEXED_TEXT) };
  });
  return hasIndexRow(env, owner, 'token', `${code}:of-type`, (qb, t) =>
    anyOf(qb, values, (w, v) => {
      if (v.system === null) w.whereNull(`${t}.system`);
      else w.where(`${t}.system`, v.system);
      w.where(`${t}.value`, v.value);
    }),
  );
}

/**
 * The condition of one token parameter occurrence. `:not` is NOT EXISTS, so resources
 * without any value match too, as https://hl7.org/fhir/R4/search.html#modifiers says.
 */
export function tokenWhere(env: QueryEnv, owner: Owner, code: string, modifier: string | undefined, raws: string[], param: string): Where {
  switch (modifier) {
    case undefined:
      return tokenRows(env, owner, code, raws, param);
    case 'not':
      return tokenRows(env, owner, code, raws, param, true);
    case 'text':
      return textRows(env, owner, code, raws);
    case 'of-type':
      return ofTypeRows(env, owner, code, raws, param);
    case 'above':
    case 'below':
    case 'in':
    case 'not-in':
      throw badRequest(
        `${param}: terminology-based modifiers (:${modifier}) are not supported by this server: they need a terminology service to expand value sets and code hierarchies`,
        param,
        'not-supported',
      );
    default:
      throw badRequest(`${param}: unknown modifier ":${modifier}" for a token parameter`, param, 'not-supported');
  }
}
