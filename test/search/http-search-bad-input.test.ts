import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { putAll } from './query-fixtures.js';

/**
 * Hostile and malformed searches: each gets a 4xx OperationOutcome naming the
 * parameter, or a correct (empty) result — never a 500, never a SQL error.
 */

const INJECTION = "' OR 1=1 --";
const LONG = 'x'.repeat(10_000);
const cursor = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** [query, expected status, parameter the outcome names]; 200 means "answered, and empty". */
const cases: [string, number, string?][] = [
  [`Patient?name=${encodeURIComponent(INJECTION)}`, 200],
  [`Patient?_id=${encodeURIComponent(INJECTION)}`, 200],
  [`Patient?identifier=${encodeURIComponent(INJECTION)}`, 200],
  [`Patient?identifier=${encodeURIComponent(`${INJECTION}|${INJECTION}`)}`, 200],
  [`Patient?name:contains=${encodeURIComponent(INJECTION)}`, 200],
  [`Patient?family:exact=${encodeURIComponent(INJECTION)}`, 200],
  [`ValueSet?url:above=${encodeURIComponent(`http://x/${INJECTION}/y`)}`, 200],
  [`Patient?general-practitioner=${encodeURIComponent(INJECTION)}`, 400, 'general-practitioner'],
  [`Patient?birthdate=${encodeURIComponent(INJECTION)}`, 400, 'birthdate'],
  [`Patient?_sort=${encodeURIComponent(INJECTION)}`, 400, '_sort'],
  [`Patient?_include=${encodeURIComponent(INJECTION)}`, 400, '_include'],
  [`Patient?${encodeURIComponent(INJECTION)}=1`, 400, INJECTION],
  [`?_type=${encodeURIComponent(INJECTION)}`, 400, '_type'],
  [`Patient?name=${LONG}`, 400, 'name'],
  [`Patient?_id=${'a'.repeat(4000)}`, 200],
  [`Patient?identifier=${'a'.repeat(4000)}`, 200],
  [`Patient?name=${'é'.repeat(2000)}`, 200],
  ['Patient?name=%00', 400, 'name'],
  ['Patient?birthdate=1990-13-45', 400, 'birthdate'],
  ['Patient?birthdate=1990-02-30', 400, 'birthdate'],
  ['Patient?birthdate=gt', 400, 'birthdate'],
  ['Patient?birthdate=xx1990', 400, 'birthdate'],
  ['Patient?birthdate:exact=1990', 400, 'birthdate:exact'],
  ['Patient?gender:foo=x', 400, 'gender:foo'],
  ['Patient?gender:missing=maybe', 400, 'gender:missing'],
  ['Patient?gender:in=http://x/vs', 400, 'gender:in'],
  ['Patient?gender:below=x', 400, 'gender:below'],
  ['Patient?identifier=a|b|c', 400, 'identifier'],
  ['Patient?identifier=|', 400, 'identifier'],
  ['Patient?name:text=x', 400, 'name:text'],
  ['Observation?value-quantity=5|a|b|c', 400, 'value-quantity'],
  ['Observation?value-quantity:not=5', 400, 'value-quantity:not'],
  ['Observation?code-value-quantity=x', 400, 'code-value-quantity'],
  ['Location?near=1|2|3', 400, 'near'],
  ['Patient?_text=x', 400, '_text'],
  ['Patient?_content=x', 400, '_content'],
  ['Patient?_list=x', 200],
  ['Patient?_list=$current-allergies', 400, '_list'],
  ['Patient?_list=a/b', 400, '_list'],
  [`Patient?_list=${encodeURIComponent(INJECTION)}`, 400, '_list'],
  [`Observation?code-value-quantity=${encodeURIComponent(`${INJECTION}$${INJECTION}`)}`, 400, 'code-value-quantity'],
  [`Observation?code-value-string=${encodeURIComponent(`${INJECTION}$${INJECTION}`)}`, 200],
  ['Observation?code-value-quantity=a$b$c', 400, 'code-value-quantity'],
  ['Observation?code-value-quantity:exact=a$1', 400, 'code-value-quantity:exact'],
  ['Patient?_filter=x', 400, '_filter'],
  ['Patient?_query=x', 400, '_query'],
  ['Patient?_type=Foo', 400, '_type'],
  ['Patient?_type=Patient,Observation', 400, '_type'],
  ['Patient/bad-1/Observation?_type=Condition', 400, '_type'],
  ['Patient?_type=Patient&name=nobody', 200],
  // Bundle.composition and Bundle.message select a resource (entry[0].resource), not a reference.
  ['Bundle?composition.title=T', 400, 'composition.title'],
  ['Bundle?composition:missing=false', 400, 'composition:missing'],
  ['Bundle?message=MessageHeader/m1', 400, 'message'],
  ['Bundle?_include=Bundle:composition', 400, '_include'],
  ['Composition?_has:Bundle:composition:type=document', 400, '_has:Bundle:composition:type'],
  ['Patient?_contained=true', 400, '_contained'],
  ['Patient?_count=-1', 400, '_count'],
  ['Patient?_count=abc', 400, '_count'],
  ['Patient?_count=1.5', 400, '_count'],
  ['Patient?_count=100000', 400, '_count'],
  ['Patient?_count=1&_count=2', 400, '_count'],
  ['Patient?_total=maybe', 400, '_total'],
  ['Patient?_summary=maybe', 400, '_summary'],
  ['Patient?_elements=a.b.c', 400, '_elements'],
  ['Patient?_sort=foo', 400, '_sort'],
  ['Patient?_sort=general-practitioner', 400, '_sort'],
  ['Patient?_sort=a,b,c,d,e,f', 400, '_sort'],
  ['Patient?_cursor=garbage', 400, '_cursor'],
  [`Patient?_cursor=${cursor({ v: ['1'] })}`, 400, '_cursor'],
  [`Patient?_cursor=${cursor({ v: [1, 2] })}`, 400, '_cursor'],
  [`Patient?_sort=birthdate&_cursor=${cursor({ v: [5, 'x'] })}`, 400, '_cursor'],
  [`Patient?_sort=family&_cursor=${cursor({ v: ['a\u0000', 1] })}`, 400, '_cursor'],
  [`Patient?_cursor=${cursor({ v: [1e308] })}`, 400, '_cursor'],
  [`Patient?_cursor=${cursor({ v: [1.5] })}`, 400, '_cursor'],
  [`Patient?_cursor=${cursor({ v: [123456789] })}`, 200],
  [`Patient?_sort=family&_cursor=${cursor({ v: [`zzzz${INJECTION}`, 1] })}`, 200],
  ['Patient?_id=' + Array.from({ length: 300 }, (_, i) => `id${i}`).join(','), 400, '_id'],
  ['Patient?_has:Observation:subject:code=' + 'x,'.repeat(250), 400],
  ['?_type=Patient&_type=NotAType', 400, '_type'],
  ['Patient/%00/Observation', 404],
  ['NotAType?name=x', 404],
];

describe.each(engines())('bad search input on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, [{ resourceType: 'Patient', id: 'bad-1', name: [{ family: 'Known' }] }]);
  });
  afterAll(() => t.stop());

  // Titles are cut short: some queries are thousands of characters long.
  it.each(cases.map(([query, status, names]) => [query.slice(0, 80), status, query, names] as const))('%s → %s', async (_title, status, query, names) => {
    const res = await fhirFetch(t, query);
    expect(res.status).toBe(status);
    if (status === 200) {
      expect(res.body.type).toBe('searchset');
      expect(res.body.entry).toBeUndefined();
      return;
    }
    expect(res.body.resourceType).toBe('OperationOutcome');
    if (names !== undefined) {
      const expressions = (res.body.issue as { expression?: string[] }[]).flatMap((i) => i.expression ?? []);
      expect(expressions).toContain(names);
    }
  });

  it('refuses the terminology-based token modifiers, naming the parameter and the reason', async () => {
    for (const modifier of ['in', 'not-in', 'above', 'below']) {
      const name = `code:${modifier}`;
      const res = await fhirFetch(t, `Observation?${name}=http://example.org/fhir/ValueSet/vs`);
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
      expect(res.body.resourceType).toBe('OperationOutcome');
      const [issue] = res.body.issue as { code: string; diagnostics: string; expression: string[] }[];
      expect(issue.code).toBe('not-supported');
      expect(issue.expression).toEqual([name]);
      expect(issue.diagnostics).toContain(`terminology-based modifiers (:${modifier}) are not supported`);
    }
  });

  it('under lenient handling, drops what it cannot read and answers the rest', async () => {
    const res = await fhirFetch(t, `Patient?family=known&birthdate=${encodeURIComponent(INJECTION)}&gender:foo=x&_sort=nope`, { headers: { prefer: 'handling=lenient' } });
    expect(res.status).toBe(200);
    const entries = res.body.entry as { resource: { resourceType: string; id?: string; issue?: { expression: string[] }[] }; search: { mode: string } }[];
    expect(entries.filter((e) => e.search.mode === 'match').map((e) => e.resource.id)).toEqual(['bad-1']);
    const outcome = entries.find((e) => e.search.mode === 'outcome')?.resource;
    expect(outcome?.issue?.flatMap((i) => i.expression).sort()).toEqual(['_sort', 'birthdate', 'gender:foo']);
    expect((await fhirFetch(t, 'Patient?_count=-1', { headers: { prefer: 'handling=lenient' } })).status).toBe(400);
  });

  it('refuses a form body with more values than a statement can bind, and more parameters than allowed', async () => {
    const values = Array.from({ length: 200 }, (_, i) => `http://s|v${i}`).join(',');
    const form = (n: number) => Array.from({ length: n }, () => `identifier=${encodeURIComponent(values)}`).join('&');
    const post = (body: string) => fhirFetch(t, 'Patient/_search', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await post(form(90))).status).toBe(400);
    expect((await post(form(101))).status).toBe(400);
    expect((await post(form(2))).status).toBe(200);
  });

  it('leaves the Bundle parameters it cannot answer out of the CapabilityStatement', async () => {
    const cs = await fhirFetch(t, 'metadata');
    const bundle = cs.body.rest[0].resource.find((r: { type: string }) => r.type === 'Bundle');
    const names = bundle.searchParam.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['identifier', 'type', 'timestamp']));
    expect(names).not.toEqual(expect.arrayContaining(['composition']));
    expect(names).not.toContain('message');
    expect(bundle.searchInclude ?? []).not.toContain('Bundle:composition');
  });

  it('the data is untouched afterwards', async () => {
    const res = await fhirFetch(t, 'Patient?_total=accurate');
    expect(res.body.total).toBe(1);
  });
});
