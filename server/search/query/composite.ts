import { badRequest } from '../../errors.js';
import { isIndexableComposite } from '../composite.js';
import { clip } from '../normalize.js';
import { getSearchParam, getSearchParameterByUrl, type SearchParamComponent, type SearchParamDef } from '../registry.js';
import { componentCode, indexKindOf, type IndexKind } from '../types.js';
import { dateCondition, parseDates } from './date.js';
import { numberMatch, quantityMatch } from './number.js';
import { splitUnescaped } from './params.js';
import { referenceMatch } from './reference.js';
import { anyOf, hasIndexRow, selectOneByResource, type Owner, type QB, type QueryEnv, type RowMatch, type Where } from './sql.js';
import { stringMatch, uriMatch } from './text.js';
import { matchToken, parseToken } from './token.js';

/**
 * Composite search: https://hl7.org/fhir/R4/search.html#composite. A value is the values
 * of the components joined by `$` (`code-value-quantity=http://loinc.org|8480-6$gt100`),
 * each read by the rules of its component's own parameter, prefixes included; a comma
 * separates whole composite values (OR) and `\$` is a literal dollar.
 *
 * Every component must match within one item the composite's expression selects (one
 * `Observation.component`, not the code of one and the value of another). The index
 * numbers the items (see ../composite.ts), so the condition is a row of the first
 * component plus, for each other component, an `EXISTS` on a row of the same resource
 * and the same item number.
 */

/** How one component is searched: its table, its row code, and how a value becomes a row condition. */
interface ComponentSearch {
  kind: IndexKind;
  code: string;
  /** The component parameter's code, for messages. */
  name: string;
  parse: (raw: string) => RowMatch;
}

/** The definition of a component's parameter: the registry's, or one read from its SearchParameter. */
function componentDef(def: SearchParamDef, c: SearchParamComponent): SearchParamDef {
  const registered = c.code === undefined ? undefined : getSearchParam(def.resourceType, c.code);
  if (registered?.url === c.definition) return registered;
  const sp = getSearchParameterByUrl(c.definition);
  return { ...def, code: sp?.code ?? c.code ?? def.code, url: c.definition, type: c.type!, targets: sp?.target ?? [], comparators: sp?.comparator ?? [], component: undefined };
}

/** How a value of one component becomes a condition on its row, by the component's type. */
function parserOf(cdef: SearchParamDef, env: QueryEnv, param: string): (raw: string) => RowMatch {
  switch (cdef.type) {
    case 'token':
      return (raw) => {
        const v = parseToken(raw, param);
        return (qb, t) => matchToken(qb, t, v);
      };
    case 'quantity':
      return (raw) => quantityMatch(raw, cdef.comparators, param);
    case 'number':
      return (raw) => numberMatch(raw, cdef.comparators, param);
    case 'date':
      return (raw) => {
        const [v] = parseDates([raw], cdef.comparators, param);
        return (qb, t) => dateCondition(qb, `${t}.start`, `${t}.end`, v.prefix, v.range);
      };
    case 'string':
      return stringMatch;
    case 'uri':
      return uriMatch;
    case 'reference':
      return (raw) => referenceMatch(raw, cdef, env, param);
    default:
      throw badRequest(`${param}: the composite ${cdef.code} has a ${cdef.type} component, which is not supported`, param, 'not-supported');
  }
}

function componentSearches(def: SearchParamDef, env: QueryEnv, param: string): ComponentSearch[] {
  if (!isIndexableComposite(def)) throw badRequest(`${param}: the composite parameter ${def.code} is not supported by this server`, param, 'not-supported');
  return (def.component ?? []).map((c, n) => {
    const cdef = componentDef(def, c);
    // isIndexableComposite: every component's type has a table.
    return { kind: indexKindOf(cdef.type) as IndexKind, code: componentCode(def.code, n), name: cdef.code, parse: parserOf(cdef, env, param) };
  });
}

/** Splits one composite value at its unescaped `$` and parses each part by its component. */
function parseComposite(raw: string, parts: ComponentSearch[], def: SearchParamDef, param: string): RowMatch[] {
  const texts = splitUnescaped(raw, '$');
  const shape = parts.map((p) => p.name).join('$');
  if (texts.length !== parts.length) {
    throw badRequest(
      `${param}: "${clip(raw, 100)}" has ${texts.length} component${texts.length === 1 ? '' : 's'}, but ${def.code} takes ${parts.length} (${shape}), separated by "$"; write a literal "$" as "\\$"`,
      param,
      'value',
    );
  }
  const empty = texts.indexOf('');
  if (empty >= 0) throw badRequest(`${param}: the ${parts[empty].name} component of "${clip(raw, 100)}" is empty (${def.code} takes ${shape})`, param, 'value');
  return texts.map((text, n) => parts[n].parse(text));
}

/** `EXISTS` a row of component `c` on the same resource and item as row `t0`, matching `match`. */
function sameItem(env: QueryEnv, c: ComponentSearch, t0: string, match: RowMatch): (this: QB) => void {
  const t = env.alias('c');
  return function (this: QB): void {
    selectOneByResource(this, c.kind, t);
    this.whereRaw('?? = ??', [`${t}.rid`, `${t0}.rid`])
      .whereRaw('?? = ??', [`${t}.item`, `${t0}.item`])
      .where(`${t}.code`, c.code)
      .where((w: QB) => match(w, t));
  };
}

/** The condition of one composite parameter occurrence; `:missing` is compile.ts's. */
export function compositeWhere(env: QueryEnv, owner: Owner, def: SearchParamDef, modifier: string | undefined, raws: string[], param: string): Where {
  if (modifier !== undefined) throw badRequest(`${param}: unknown modifier ":${modifier}" for a composite parameter (known: missing)`, param, 'not-supported');
  const parts = componentSearches(def, env, param);
  const values = raws.map((raw) => parseComposite(raw, parts, def, param));
  const [first, ...rest] = parts;
  return hasIndexRow(env, owner, first.kind, first.code, (qb, t) =>
    anyOf(qb, values, (w, matches) => {
      matches[0](w, t);
      rest.forEach((c, n) => w.whereExists(sameItem(env, c, t, matches[n + 1])));
    }),
  );
}

/** Where a composite's presence shows, for `:missing`: the rows of its first component (an item is indexed only whole). */
export function compositePresence(def: SearchParamDef, param: string): [IndexKind, string] {
  if (!isIndexableComposite(def)) throw badRequest(`${param}: the composite parameter ${def.code} is not supported by this server`, param, 'not-supported');
  return [indexKindOf(def.component![0].type!) as IndexKind, componentCode(def.code, 0)];
}
