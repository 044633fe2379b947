import type { Knex } from 'knex';
import { badRequest } from '../../errors.js';
import { isResourceType } from '../../validate/index.js';
import { getSearchParam } from '../registry.js';
import { SEARCH_TABLES } from '../schema.js';
import { localTarget, type QB, type RowCondition } from './sql.js';

/**
 * `_include` and `_revinclude`, with `:iterate` (R4's name; `:recurse` is the STU3 one)
 * and `*`: https://hl7.org/fhir/R4/search.html#include. Included resources are the
 * local, current targets of the page's references (or the resources referring to the
 * page), each once, and never one that is already a match.
 */

/** One `_include` / `_revinclude` value, checked against the registry (https://hl7.org/fhir/R4/search.html#include). */
export interface IncludeSpec {
  rev: boolean;
  iterate: boolean;
  /** The type holding the reference; undefined for `*`. */
  source: string | undefined;
  /** The reference parameter; undefined for `*` (every reference parameter). */
  code: string | undefined;
  /** Only targets of this type (`Observation:subject:Patient`). */
  target: string | undefined;
  /** `name=value` as asked, for the links. */
  param: [string, string];
}

/** A resource row as the page and includes carry it; `rid` is its key (db/keys.ts). */
export interface ResourceRow {
  rid: number | string;
  resource_type: string;
  id: string;
  content: string;
}

/**
 * Which included rows may be returned, by the type they are known to have (undefined
 * when the include can reach rows of any type, as `*` does). The condition is on the
 * joined row `r`; a type answered with `'none'` is never queried.
 */
export type IncludeFilter = (type: string | undefined) => RowCondition;

/** Most resources one search includes; past it the search says it stopped. */
export const MAX_INCLUDED = 5000;
const MAX_ROUNDS = 4;
const CHUNK = 500;

function parseSpec(name: string, value: string, rev: boolean, iterate: boolean): IncludeSpec {
  const spec: IncludeSpec = { rev, iterate, source: undefined, code: undefined, target: undefined, param: [name, value] };
  if (value === '*') return spec;
  const [source, code, target, extra] = value.split(':');
  if (extra !== undefined || !source || !code) throw badRequest(`${name}: "${value}" is not Type:parameter[:targetType] or *`, name, 'value');
  if (!isResourceType(source)) throw badRequest(`${name}: "${source}" is not a resource type`, name, 'value');
  spec.source = source;
  if (code === '*') return spec;
  const def = getSearchParam(source, code);
  if (!def || def.type !== 'reference') throw badRequest(`${name}: ${source} has no reference parameter "${code}"`, name, 'value');
  if (def.expression === undefined) throw badRequest(`${name}: ${source}.${code} is not supported by this server`, name, 'not-supported');
  if (target !== undefined && (!isResourceType(target) || (def.targets.length > 0 && !def.targets.includes(target)))) {
    throw badRequest(`${name}: ${source}.${code} does not refer to "${target}"`, name, 'value');
  }
  return { ...spec, code, target };
}

/** The include instructions of a search (https://hl7.org/fhir/R4/search.html#include). */
export function parseIncludes(query: Record<string, string[]>): IncludeSpec[] {
  const out: IncludeSpec[] = [];
  for (const [name, values] of Object.entries(query)) {
    const m = /^_(rev)?include(?::(iterate|recurse))?$/.exec(name);
    if (!m) {
      if (/^_(rev)?include:/.test(name)) throw badRequest(`${name}: unknown modifier (known: iterate)`, name, 'not-supported');
      continue;
    }
    for (const value of values) if (value !== '') out.push(parseSpec(name, value, m[1] === 'rev', m[2] !== undefined));
  }
  return out;
}

/**
 * Forward: the targets that `spec`'s references on the `sources` point at. Each target
 * once however many references lead to it: the references are a subquery, not a join,
 * so a resource is never read (or sent from PostgreSQL) twice.
 */
function forward(exec: Knex | Knex.Transaction, spec: IncludeSpec, sources: ResourceRow[], baseUrl: string, rows: RowCondition): QB {
  const refs = exec(`${SEARCH_TABLES.reference} as f`)
    .select('f.target_type', 'f.target_id')
    .whereIn('f.rid', sources.map((s) => s.rid));
  if (spec.code !== undefined) refs.where('f.code', spec.code);
  if (spec.target !== undefined) refs.where('f.target_type', spec.target);
  refs.where((w: QB) => localTarget(w, 'f', baseUrl));
  return reached(exec, ['r.resource_type', 'r.id'], refs, rows);
}

/**
 * Reverse: the resources whose `spec` references point at the `ids` of `type`, each once
 * (a Provenance naming every resource of a transaction is one row, not one per target).
 */
function reverse(exec: Knex | Knex.Transaction, spec: IncludeSpec, type: string, sources: ResourceRow[], baseUrl: string, rows: RowCondition): QB {
  const refs = exec(`${SEARCH_TABLES.reference} as f`)
    .select('f.rid')
    .where('f.target_type', type)
    .whereIn('f.target_id', sources.map((s) => s.id));
  if (spec.source !== undefined) refs.where('f.resource_type', spec.source);
  if (spec.code !== undefined) refs.where('f.code', spec.code);
  refs.where((w: QB) => localTarget(w, 'f', baseUrl));
  return reached(exec, 'r.rid', refs, rows);
}

/** The live resources whose key (`rid`, or type and id) the subquery `refs` selects, within the token's `rows`. */
function reached(exec: Knex | Knex.Transaction, key: string | string[], refs: QB, rows: RowCondition): QB {
  const q = exec('resources as r')
    .select('r.rid', 'r.resource_type', 'r.id', 'r.content')
    .whereIn(key as string, refs)
    .where('r.deleted', false);
  if (typeof rows === 'function') q.where((w: QB) => rows(w));
  return q;
}

/**
 * The rows one spec adds for the given sources, chunked to keep bindings few. A forward
 * include selects by the sources' keys, whatever their types, so all of them go
 * together; a reverse one by the type and ids pointed at, so one group per type.
 */
async function apply(exec: Knex | Knex.Transaction, spec: IncludeSpec, sources: ResourceRow[], baseUrl: string, filter?: IncludeFilter): Promise<ResourceRow[]> {
  // The type of the rows reached is fixed when the spec names it (the SQL then pins r to it).
  const rows = filter ? filter(spec.rev ? spec.source : spec.target) : 'all';
  if (rows === 'none') return [];
  const groups = new Map<string, ResourceRow[]>();
  for (const s of sources) {
    if (!spec.rev && spec.source !== undefined && s.resource_type !== spec.source) continue;
    const key = spec.rev ? s.resource_type : '';
    const group = groups.get(key);
    if (group) group.push(s);
    else groups.set(key, [s]);
  }
  const out: ResourceRow[] = [];
  for (const [type, all] of groups) {
    for (let i = 0; i < all.length; i += CHUNK) {
      const chunk = all.slice(i, i + CHUNK);
      const q = spec.rev ? reverse(exec, spec, type, chunk, baseUrl, rows) : forward(exec, spec, chunk, baseUrl, rows);
      out.push(...((await q.limit(MAX_INCLUDED + 1)) as ResourceRow[]));
    }
  }
  return out;
}

/** What the includes of one page found. */
export interface Included {
  rows: ResourceRow[];
  /** True when MAX_INCLUDED cut the includes short. */
  truncated: boolean;
}

/** Collects included rows once each, skipping matches, up to MAX_INCLUDED. */
class Collector {
  readonly rows: ResourceRow[] = [];
  truncated = false;
  private readonly seen: Set<string>;

  constructor(matches: ResourceRow[]) {
    this.seen = new Set(matches.map((m) => `${m.resource_type}/${m.id}`));
  }

  /** Keeps the rows not seen before; returns them. */
  add(found: ResourceRow[]): ResourceRow[] {
    const fresh: ResourceRow[] = [];
    for (const r of found) {
      const key = `${r.resource_type}/${r.id}`;
      if (this.seen.has(key)) continue;
      if (this.rows.length >= MAX_INCLUDED) {
        this.truncated = true;
        break;
      }
      this.seen.add(key);
      this.rows.push(r);
      fresh.push(r);
    }
    return fresh;
  }
}

/**
 * Runs the includes for a page of matches: plain specs on the matches, then `:iterate`
 * specs on the matches and everything included so far, then on what each round added,
 * until nothing new comes (or MAX_ROUNDS). `filter`, when given, restricts every row
 * included, in the SQL that finds it.
 */
export async function resolveIncludes(
  exec: Knex | Knex.Transaction,
  specs: IncludeSpec[],
  matches: ResourceRow[],
  baseUrl: string,
  filter?: IncludeFilter,
): Promise<Included> {
  const found = new Collector(matches);
  for (const spec of specs.filter((s) => !s.iterate)) found.add(await apply(exec, spec, matches, baseUrl, filter));
  const iterating = specs.filter((s) => s.iterate);
  let frontier = [...matches, ...found.rows];
  for (let round = 0; round < MAX_ROUNDS && iterating.length > 0 && frontier.length > 0 && !found.truncated; round++) {
    const added: ResourceRow[] = [];
    for (const spec of iterating) added.push(...found.add(await apply(exec, spec, frontier, baseUrl, filter)));
    frontier = added;
  }
  return { rows: found.rows, truncated: found.truncated };
}
