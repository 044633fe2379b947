import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { seed } from '../../server/seed/load.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { describeCase, edgeResources, generateCases, parseCase, queryOf, SEARCH_TYPES } from './oracle-cases.js';
import { matchesSearch, type Json, type SearchCase } from './oracle-eval.js';
import { putAll, relative, searchBundle, type Res } from './query-fixtures.js';

/**
 * The search oracle: a few hundred generated searches over the sample data, each answered
 * by the server and, independently, by evaluating the parameters' FHIRPath expressions on
 * every resource in memory with the rules of https://hl7.org/fhir/R4/search.html. The
 * two result sets must be equal.
 */

const PATIENTS = 4;
const CASES = 240;
const PAGE = 5000;

/** Follows a search through its pages and collects what `pick` takes from each entry. */
async function collect<T>(t: TestApp, first: string, pick: (e: { resource: Json; search?: { mode: string } }) => T | undefined): Promise<T[]> {
  const out: T[] = [];
  let next: string | undefined = first;
  while (next) {
    const bundle = await searchBundle(t, next);
    for (const e of bundle.entry ?? []) {
      const v = pick(e as { resource: Json; search?: { mode: string } });
      if (v !== undefined) out.push(v);
    }
    const link = bundle.link.find((l) => l.relation === 'next');
    next = link ? relative(t, link.url) : undefined;
  }
  return out;
}

const matchedIds = async (t: TestApp, query: string) =>
  (await collect(t, `${query}&_count=${PAGE}&_elements=id`, (e) => (e.search?.mode === 'match' ? e.resource.id : undefined))).sort();

interface Mismatch {
  query: string;
  /** The request failed: status and outcome, or the transport error. */
  error?: string;
  expected?: number;
  got?: number;
  /** Ids the oracle expects and the server did not return (at most 5). */
  missing?: string[];
  /** Ids the server returned and the oracle does not expect (at most 5). */
  extra?: string[];
}

/** Runs `work` over `items` with a few requests in flight at a time. */
async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (i < items.length) await work(items[i++]);
  }));
}

describe('the oracle itself', () => {
  const base = 'http://example.org/fhir';
  const check = (query: string, resource: Record<string, unknown>) => matchesSearch({ id: 'x', ...resource } as Json, parseCase(query), base);
  const obs = (extra: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...extra });

  it('reproduces the examples of the specification', () => {
    // https://hl7.org/fhir/R4/search.html#number: `100` is [99.5, 100.5), other prefixes are exact.
    const q = (v: number) => obs({ valueQuantity: { value: v } });
    expect([99.5, 100.49, 100.5, 99.49].map((v) => check('Observation?value-quantity=100', q(v)))).toEqual([true, true, false, false]);
    expect([100.004, 100.005].map((v) => check('Observation?value-quantity=100.00', q(v)))).toEqual([true, false]);
    expect([99.99, 100].map((v) => check('Observation?value-quantity=lt100', q(v)))).toEqual([true, false]);
    expect([100, 100.01].map((v) => check('Observation?value-quantity=le100', q(v)))).toEqual([true, false]);
    expect([100.4, 100.5].map((v) => check('Observation?value-quantity=ne100', q(v)))).toEqual([false, true]);
    // https://hl7.org/fhir/R4/search.html#date: eq2013-01-14 takes in 10:00 that day, not the next midnight.
    const at = (effectiveDateTime: string) => obs({ effectiveDateTime });
    expect(check('Observation?date=eq2013-01-14', at('2013-01-14T10:00:00Z'))).toBe(true);
    expect(check('Observation?date=eq2013-01-14', at('2013-01-15T00:00:00Z'))).toBe(false);
    expect(check('Observation?date=sa2013-01-14', at('2013-01-15T00:00:00Z'))).toBe(true);
    expect(check('Observation?date=gt2013-01-14T10:00:00Z', at('2013-01-14T10:00:00Z'))).toBe(false);
    expect(check('Observation?date=lt2013-01-14T10:00:00Z', at('2013-01-14T09:59:59Z'))).toBe(true);
    // https://hl7.org/fhir/R4/search.html#string: eve finds Evelyn, :contains Severine, :exact is exact.
    const named = (family: string) => ({ resourceType: 'Patient', name: [{ family }] });
    expect(['Evelyn', 'Severine', 'Éve'].map((n) => check('Patient?name=eve', named(n)))).toEqual([true, false, true]);
    expect(check('Patient?name:contains=eve', named('Severine'))).toBe(true);
    expect(['Eve', 'eve', 'Evelyn'].map((n) => check('Patient?name:exact=Eve', named(n)))).toEqual([true, false, false]);
  });
});

describe.each(engines())('search oracle on %s', (engine) => {
  let t: TestApp;
  let resources: Json[];
  let cases: SearchCase[];
  const expected = new Map<SearchCase, string[]>();

  beforeAll(async () => {
    t = await startTestApp(engine, { KILN_MAX_PAGE_SIZE: String(PAGE) });
    await seed(t.app, { patients: PATIENTS, seed: 11 });
    await putAll(t, edgeResources(t.base) as Res[]);
    const byType = await Promise.all(SEARCH_TYPES.map((type) => collect(t, `${type}?_count=${PAGE}`, (e) => e.resource)));
    resources = byType.flat();
    cases = generateCases(resources, CASES, 20240611);
    for (const c of cases) {
      expected.set(c, resources.filter((r) => matchesSearch(r, c, t.base)).map((r) => r.id).sort());
      // Let the event loop run between cases: the app's idle keep-alive sockets time out
      // on their timers, not under a client's next request.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }, 120_000);
  afterAll(() => t?.stop());

  it('has the data and enough searches that find something', () => {
    expect(resources.filter((r) => r.resourceType === 'Patient')).toHaveLength(PATIENTS + 2);
    expect(resources.length).toBeGreaterThan(1000);
    expect(cases.length).toBeGreaterThanOrEqual(200);
    const nonEmpty = cases.filter((c) => expected.get(c)!.length > 0).length;
    expect(nonEmpty / cases.length).toBeGreaterThanOrEqual(0.4);
    // Not everything either: a search matching every resource of its type proves little.
    const total = (type: string) => resources.filter((r) => r.resourceType === type).length;
    const everything = cases.filter((c) => expected.get(c)!.length === total(c.resourceType)).length;
    expect(everything / cases.length).toBeLessThan(0.3);
  });

  it('returns, for every search, exactly the resources the specification selects', async () => {
    const mismatches: Mismatch[] = [];
    await inParallel(cases, 4, async (c) => {
      let got: string[];
      try {
        got = await matchedIds(t, queryOf(c));
      } catch (err) {
        mismatches.push({ query: describeCase(c), error: String((err as Error).cause ?? err) });
        return;
      }
      const want = expected.get(c)!;
      const gotSet = new Set(got);
      const wantSet = new Set(want);
      const missing = want.filter((id) => !gotSet.has(id));
      const extra = got.filter((id) => !wantSet.has(id));
      if (missing.length > 0 || extra.length > 0) {
        mismatches.push({ query: describeCase(c), expected: want.length, got: got.length, missing: missing.slice(0, 5), extra: extra.slice(0, 5) });
      }
    });
    expect(mismatches).toEqual([]);
  });
});
