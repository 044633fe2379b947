import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { countOf, DIAGNOSIS, expectForbidden, LAB, PROBLEM, refs, SDOH, seed, systemToken, tokenFor, VITALS } from './enforcement-fixtures.js';

/**
 * Granular scopes: a scope's search filter restricts the rows it reaches, with the meaning
 * the same search has
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters).
 */

const q = (scope: string, param: string, value: string) => `${scope}?${param}=${encodeURIComponent(value)}`;

describe.each(engines())('granular scope enforcement (%s)', (engine) => {
  let t: TestApp;
  const tokens = new Map<string, string>();
  const as = async (scope: string, patient: string | undefined = 'p1'): Promise<string> => {
    const key = `${patient}:${scope}`;
    if (!tokens.has(key)) tokens.set(key, await tokenFor(t, scope, patient));
    return tokens.get(key) as string;
  };

  beforeAll(async () => {
    t = await startTestApp(engine);
    await seed(t);
  });
  afterAll(async () => t.stop());

  it('Observation categories: laboratory, vital-signs, sdoh', async () => {
    const lab = await as(q('patient/Observation.rs', 'category', LAB));
    const res = await fhirFetch(t, 'Observation?_total=accurate', { token: lab });
    expect(refs(res.body)).toEqual(['Observation/lab1']);
    expect(res.body.total).toBe(1);
    const vitals = await as(q('patient/Observation.rs', 'category', VITALS));
    expect(refs((await fhirFetch(t, 'Observation', { token: vitals })).body)).toEqual(['Observation/vital1']);
    const sdoh = await as(q('patient/Observation.rs', 'category', SDOH));
    expect(refs((await fhirFetch(t, 'Observation', { token: sdoh })).body)).toEqual(['Observation/sdoh1']);
    const both = await as(`${q('patient/Observation.rs', 'category', LAB)} ${q('patient/Observation.rs', 'category', VITALS)}`);
    expect(refs((await fhirFetch(t, 'Observation', { token: both })).body)).toEqual(['Observation/lab1', 'Observation/vital1']);
  });

  it('reads outside the filter are 403', async () => {
    const lab = await as(q('patient/Observation.rs', 'category', LAB));
    expect((await fhirFetch(t, 'Observation/lab1', { token: lab })).status).toBe(200);
    const res = await fhirFetch(t, 'Observation/vital1', { token: lab });
    expectForbidden(res);
    expect(res.body.issue[0].diagnostics).toMatch(/category=/);
    expectForbidden(await fhirFetch(t, 'Observation/lab2', { token: lab }));
  });

  it('a search asking for more than the filter allows finds only the allowed part', async () => {
    const lab = await as(q('patient/Observation.rs', 'category', LAB));
    const res = await fhirFetch(t, `Observation?category=${encodeURIComponent(VITALS)}&_total=accurate`, { token: lab });
    expect(res.body.total).toBe(0);
  });

  it('Condition categories: problem-list-item, encounter-diagnosis, health-concern', async () => {
    const problems = await as(q('patient/Condition.rs', 'category', PROBLEM));
    expect(refs((await fhirFetch(t, 'Condition', { token: problems })).body)).toEqual(['Condition/pl1']);
    expectForbidden(await fhirFetch(t, 'Condition/ed1', { token: problems }));
    const diagnoses = await as(q('patient/Condition.rs', 'category', DIAGNOSIS));
    expect(refs((await fhirFetch(t, 'Condition', { token: diagnoses })).body)).toEqual(['Condition/ed1']);
    expect((await fhirFetch(t, 'Condition/ed1', { token: diagnoses })).status).toBe(200);
    const concerns = await as(q('patient/Condition.rs', 'category', 'http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern'));
    expect(refs((await fhirFetch(t, 'Condition', { token: concerns })).body)).toEqual([]);
  });

  it('contexts mix: each scope contributes its own rows', async () => {
    const mixed = await as(`${q('patient/Observation.rs', 'category', LAB)} ${q('user/Observation.rs', 'category', VITALS)}`);
    expect(refs((await fhirFetch(t, 'Observation', { token: mixed })).body)).toEqual(['Observation/lab1', 'Observation/vital1', 'Observation/vital2']);
    const user = await as(q('user/Observation.rs', 'category', LAB), undefined);
    expect(refs((await fhirFetch(t, 'Observation', { token: user })).body)).toEqual(['Observation/lab1', 'Observation/lab2']);
    const system = await systemToken(t, q('system/Condition.rs', 'category', PROBLEM));
    expect(refs((await fhirFetch(t, 'Condition', { token: system })).body)).toEqual(['Condition/pl1', 'Condition/pl2']);
    expect((await fhirFetch(t, 'Condition/pl2', { token: system })).status).toBe(200);
    expectForbidden(await fhirFetch(t, 'Condition/ed2', { token: system }));
  });

  it('an unfiltered scope beside a filtered one reaches everything it names', async () => {
    const token = await as(`${q('patient/Observation.rs', 'category', LAB)} patient/Observation.rs`);
    expect(refs((await fhirFetch(t, 'Observation', { token })).body)).toEqual(['Observation/lab1', 'Observation/sdoh1', 'Observation/vital1']);
  });

  it('a filter that does not compile allows nothing', async () => {
    const token = await as('patient/Observation.rs?no-such-param=1');
    expect(refs((await fhirFetch(t, 'Observation', { token })).body)).toEqual([]);
    expectForbidden(await fhirFetch(t, 'Observation/lab1', { token }));
  });

  it('includes follow the filters of the included type', async () => {
    const token = await as(`patient/Patient.rs ${q('patient/Observation.rs', 'category', LAB)}`);
    const res = await fhirFetch(t, 'Patient?_revinclude=Observation:subject', { token });
    expect(refs(res.body)).toEqual(['Observation/lab1', 'Patient/p1']);
    const members = await fhirFetch(t, 'Observation?_include=Observation:has-member', { token: await as(`${q('patient/Observation.rs', 'category', VITALS)}`) });
    expect(refs(members.body)).toEqual(['Observation/vital1']);
  });

  it('writes must stay within the filter, and nothing is written otherwise', async () => {
    const token = await as(`${q('patient/Observation.cruds', 'category', LAB)}`);
    const body = (code: string) => ({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] }],
      code: { text: 'x' },
      subject: { reference: 'Patient/p1' },
    });
    const before = await countOf(t, 'Observation');
    expectForbidden(await fhirFetch(t, 'Observation', { method: 'POST', body: body('vital-signs'), token }));
    expect(await countOf(t, 'Observation')).toBe(before);
    expect((await fhirFetch(t, 'Observation', { method: 'POST', body: body('laboratory'), token })).status).toBe(201);
    expectForbidden(await fhirFetch(t, 'Observation/vital1', { method: 'DELETE', token }));
  });
});
