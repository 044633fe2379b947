import { readFileSync } from 'node:fs';
import type { SearchParameter } from 'fhir/r4';
import { ConfigError, type Config } from '../config.js';
import { validationIssues } from '../validate/index.js';
import { compileWithEngine } from './fhirpath-eval.js';
import { allResourceTypes } from './model.js';
import { getSearchParameterByUrl, useCustomSearchParameters } from './registry.js';
import { RESULT_PARAMS } from './query/params.js';

/**
 * Custom search parameters: `KILN_SEARCH_PARAMETERS` names a JSON file holding a Bundle
 * of SearchParameter resources (or one SearchParameter). They are added to the shipped
 * R4 definitions (https://hl7.org/fhir/R4/searchparameter.html); one with the URL of a
 * shipped definition replaces it. Each is checked when the process starts, so a bad file
 * stops it with an error naming the variable, the parameter and what is wrong.
 */

const KEY = 'KILN_SEARCH_PARAMETERS';
/** Types the index and query side handle; `special` parameters get no index here. */
const TYPES = new Set(['number', 'date', 'string', 'token', 'reference', 'composite', 'quantity', 'uri', 'special']);
/** Codes with a fixed meaning in every search: https://hl7.org/fhir/R4/search.html#all */
const RESERVED = new Set([...RESULT_PARAMS, '_id', '_lastUpdated', '_has', '_list', '_text', '_content', '_query', '_filter']);
const CODE = /^_?[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function fail(message: string): never {
  throw new ConfigError(KEY, message);
}

/** The SearchParameters of the file: a Bundle's entries, or the one resource it holds. */
function readResources(path: string): unknown[] {
  let parsed: { resourceType?: string; entry?: { resource?: unknown }[] };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as typeof parsed;
  } catch (err) {
    fail(`cannot read ${path} as JSON: ${(err as Error).message}`);
  }
  if (parsed?.resourceType === 'Bundle') return (parsed.entry ?? []).map((e) => e.resource);
  if (parsed?.resourceType === 'SearchParameter') return [parsed];
  fail(`${path} holds neither a Bundle nor a SearchParameter`);
}

/** Checks one definition beyond its structure: what the index and the query side need of it. */
function check(sp: SearchParameter, byUrl: Map<string, SearchParameter>): void {
  const name = `SearchParameter ${sp.url}`;
  if (!CODE.test(sp.code) || RESERVED.has(sp.code)) fail(`${name}: the code "${sp.code}" is not allowed (letters, digits, - and _; not a reserved name)`);
  if (!TYPES.has(sp.type)) fail(`${name}: type ${sp.type} is not supported`);
  const types = new Set(['Resource', 'DomainResource', ...allResourceTypes()]);
  for (const base of sp.base) if (!types.has(base)) fail(`${name}: base "${base}" is not a resource type`);
  if (sp.type === 'special') return;
  if (!sp.expression) fail(`${name}: a ${sp.type} parameter needs an expression`);
  try {
    compileWithEngine(sp.expression);
  } catch (err) {
    fail(`${name}: the expression does not compile: ${(err as Error).message.split('\n')[0]}`);
  }
  if (sp.type !== 'composite') return;
  if (!sp.component?.length) fail(`${name}: a composite parameter needs components`);
  for (const c of sp.component) {
    if (!byUrl.has(c.definition) && !getSearchParameterByUrl(c.definition)) fail(`${name}: the component ${c.definition} is not a known SearchParameter`);
  }
}

/** Reads, validates and returns the custom SearchParameters of `path`. */
export function readCustomSearchParameters(path: string): SearchParameter[] {
  const resources = readResources(path);
  const byUrl = new Map<string, SearchParameter>();
  resources.forEach((r, i) => {
    const issues = validationIssues(r, { expectedType: 'SearchParameter' });
    if (issues.length > 0) {
      const first = issues[0];
      fail(`${path}: resource ${i + 1}: ${first.diagnostics ?? first.code}${first.expression ? ` at ${first.expression.join(', ')}` : ''}`);
    }
    const sp = r as SearchParameter;
    if (byUrl.has(sp.url)) fail(`${path}: the URL ${sp.url} is defined twice`);
    byUrl.set(sp.url, sp);
  });
  for (const sp of byUrl.values()) check(sp, byUrl);
  return [...byUrl.values()];
}

/** Puts the configured custom SearchParameters (or none) into this process's registry. */
export function applySearchParameterConfig(config: Config): void {
  useCustomSearchParameters(config.searchParameters ? readCustomSearchParameters(config.searchParameters) : []);
}
