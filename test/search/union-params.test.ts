import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { SearchParameter } from 'fhir/r4';
import { extractIndexRows } from '../../server/search/extract.js';
import { getSearchParam, getSearchParameterByUrl, searchableResourceTypes, searchParamsFor, useCustomSearchParameters } from '../../server/search/registry.js';
import { reindex } from '../../server/search/reindex.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';
import { failing, ids, matches, putAll, searchBundle, type Res } from './query-fixtures.js';
import { definitionsFile, eventually } from './reindex-fixtures.js';

/**
 * Parameters that are the union of others (server/search/union-params.ts): Observation's
 * `combo-*` parameters get no index rows of their own and are answered from their
 * members' rows, with the results their own definitions give.
 */

const COMBOS = {
  'combo-code': ['code', 'component-code'],
  'combo-code-value-concept': ['code-value-concept', 'component-code-value-concept'],
  'combo-code-value-quantity': ['code-value-quantity', 'component-code-value-quantity'],
  'combo-data-absent-reason': ['component-data-absent-reason', 'data-absent-reason'],
  'combo-value-concept': ['component-value-concept', 'value-concept'],
  'combo-value-quantity': ['component-value-quantity', 'value-quantity'],
};

const ACME = 'http://acme.org/codes';
const coded = (code: string, text?: string) => ({ coding: [{ system: ACME, code }], ...(text ? { text } : {}) });
const obs = (id: string, extra: Record<string, unknown>): Res => ({ resourceType: 'Observation', id, status: 'final', code: coded('none'), ...extra });

const DATA: Res[] = [
  // Its own code A (value 10) and a component B (value 20).
  obs('both', { code: coded('A', 'Alpha panel'), valueQuantity: { value: 10 }, component: [{ code: coded('B', 'Beta part'), valueQuantity: { value: 20 } }] }),
  obs('own', { code: coded('A'), valueQuantity: { value: 5 } }),
  obs('high', { valueQuantity: { value: 15 } }),
  obs('part', { component: [{ code: coded('C'), valueCodeableConcept: coded('yes') }, { code: coded('D'), dataAbsentReason: coded('unknown') }] }),
  obs('bare', {}),
];

const COMPONENT_CODE = 'http://hl7.org/fhir/SearchParameter/Observation-component-code';
const COMBO_CODE = 'http://hl7.org/fhir/SearchParameter/Observation-combo-code';

/** A shipped definition with another expression. */
function redefined(url: string, expression: string): SearchParameter {
  return { ...getSearchParameterByUrl(url)!, expression };
}

describe('unions of other parameters in the registry', () => {
  afterAll(() => useCustomSearchParameters([]));

  it('are exactly the six combo parameters of Observation, each of its two members', () => {
    const found: Record<string, string[]> = {};
    for (const type of searchableResourceTypes()) for (const def of searchParamsFor(type)) if (def.unionOf) found[`${type}.${def.code}`] = def.unionOf;
    expect(found).toEqual(Object.fromEntries(Object.entries(COMBOS).map(([code, members]) => [`Observation.${code}`, members])));
  });

  it('get no index rows of their own, while their members get theirs', () => {
    const rows = extractIndexRows(DATA[0]);
    const codes = new Set(Object.values(rows).flatMap((list) => (list as { code: string }[]).map((r) => r.code)));
    expect([...codes].filter((c) => c.startsWith('combo-'))).toEqual([]);
    for (const c of ['code', 'component-code', 'value-quantity', 'component-value-quantity', 'code-value-quantity$0', 'component-code-value-quantity$1']) expect(codes.has(c)).toBe(true);
  });

  it('stop being unions when a member changes, and become one again with a matching change', () => {
    useCustomSearchParameters([redefined(COMPONENT_CODE, 'Observation.component.code.coding')]);
    expect(getSearchParam('Observation', 'combo-code')?.unionOf).toBeUndefined();
    expect(extractIndexRows(DATA[0]).token.some((r) => r.code === 'combo-code')).toBe(true);
    useCustomSearchParameters([redefined(COMPONENT_CODE, 'Observation.component.code.coding'), redefined(COMBO_CODE, 'Observation.code | Observation.component.code.coding')]);
    expect(getSearchParam('Observation', 'combo-code')?.unionOf).toEqual(['code', 'component-code']);
    useCustomSearchParameters([]);
    expect(getSearchParam('Observation', 'combo-code')?.unionOf).toEqual(['code', 'component-code']);
  });
});

describe.each(engines())('searching a union parameter (%s)', (engine) => {
  let t: TestApp;
  const q = (query: string) => ids(t, query);

  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, DATA);
  });
  afterAll(() => t.stop());

  it('matches a value in any member, and OR across values', async () => {
    expect(await q('Observation?combo-code=A')).toEqual(['both', 'own']);
    expect(await q('Observation?combo-code=B')).toEqual(['both']);
    expect(await q(`Observation?combo-code=${ACME}|D`)).toEqual(['part']);
    expect(await q('Observation?combo-code=B,C')).toEqual(['both', 'part']);
    expect(await q('Observation?combo-code:text=beta')).toEqual(['both']);
    expect(await q('Observation?combo-value-quantity=gt15')).toEqual(['both']);
    expect(await q('Observation?combo-value-quantity=le10')).toEqual(['both', 'own']);
    expect(await q('Observation?combo-value-concept=yes')).toEqual(['part']);
    expect(await q('Observation?combo-data-absent-reason=unknown')).toEqual(['part']);
  });

  it('pairs composite components within one member and one item', async () => {
    expect(await q('Observation?combo-code-value-quantity=A$10')).toEqual(['both']);
    expect(await q('Observation?combo-code-value-quantity=B$20')).toEqual(['both']);
    // A is the observation's own code and 20 a component's value: no one item has both.
    expect(await q('Observation?combo-code-value-quantity=A$20')).toEqual([]);
    expect(await q('Observation?combo-code-value-concept=C$yes')).toEqual(['part']);
  });

  it('asks every member for :not and :missing=true, any member for :missing=false', async () => {
    expect(await q('Observation?combo-code:not=B')).toEqual(['bare', 'high', 'own', 'part']);
    expect(await q('Observation?combo-value-quantity:missing=true')).toEqual(['bare', 'part']);
    expect(await q('Observation?combo-value-quantity:missing=false')).toEqual(['both', 'high', 'own']);
    expect(await q('Observation?combo-code-value-quantity:missing=false')).toEqual(['both', 'high', 'own']);
  });

  it('sorts by the values of all members', async () => {
    const order = async (query: string) => matches(await searchBundle(t, query)).map((e) => e.resource.id);
    // Values: own 5, both 10 and its component's 20, high 15.
    expect(await order('Observation?combo-value-quantity:missing=false&_sort=combo-value-quantity')).toEqual(['own', 'both', 'high']);
    expect(await order('Observation?combo-value-quantity:missing=false&_sort=-combo-value-quantity')).toEqual(['both', 'high', 'own']);
  });

  it('refuses bad values and modifiers in the union parameter\'s own name', async () => {
    const bad = await failing(t, 'Observation?combo-code-value-quantity=A');
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('combo-code-value-quantity takes 2');
    expect(bad.expression).toEqual(['combo-code-value-quantity']);
    const modifier = await failing(t, 'Observation?combo-code:exact=A');
    expect(modifier.status).toBe(400);
    expect(modifier.expression).toEqual(['combo-code:exact']);
    expect((await failing(t, 'Observation?combo-value-quantity=xx')).status).toBe(400);
  });
});

describe.each(engines())('a union whose member changes definition (%s)', (engine) => {
  let database: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    database = await freshDatabase(engine);
    const before = await startTestApp(engine, {}, { database });
    await putAll(before, DATA);
    await before.stop();
  });
  afterAll(async () => {
    await t?.stop();
    await database?.drop();
    useCustomSearchParameters([]);
  });

  it('waits with the member while it is rebuilt, and answers from it after', async () => {
    // Both changed alike: combo-code is still the union, and component-code waits.
    const file = definitionsFile([redefined(COMPONENT_CODE, 'Observation.component.code.coding'), redefined(COMBO_CODE, 'Observation.code | Observation.component.code.coding')]);
    t = await startTestApp(engine, { KILN_SEARCH_PARAMETERS: file }, { database });
    const refused = await failing(t, 'Observation?combo-code=B');
    expect(refused.status).toBe(400);
    expect(refused.expression).toEqual(['combo-code']);
    expect((await fhirFetch(t, 'Observation?code=A')).status).toBe(200);
    await reindex(t.app.db, {});
    await eventually(async () => (await fhirFetch(t, 'Observation?combo-code=B')).status === 200);
    expect(await ids(t, 'Observation?combo-code=B')).toEqual(['both']);
    expect(await ids(t, 'Observation?combo-code=A')).toEqual(['both', 'own']);
  });
});
