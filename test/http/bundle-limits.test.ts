import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { pino } from 'pino';
import { loadConfig } from '../../server/config.js';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';

/** A budget small enough to reach with a handful of patients: every entry takes one place, a search what it returns. */
const BUDGET = 8;
const MRN = 'https://kiln.example/mrn';

type Entry = { fullUrl?: string; resource?: Record<string, unknown>; request: Record<string, string> };
type Issue = { code: string; diagnostics: string; expression?: string[] };

const bundle = (type: 'batch' | 'transaction', entry: Entry[]) => ({ resourceType: 'Bundle', type, entry });
const get = (url: string): Entry => ({ request: { method: 'GET', url } });
const put = (id: string, extra: Record<string, unknown> = {}): Entry => ({
  resource: { resourceType: 'Patient', id, ...extra },
  request: { method: 'PUT', url: `Patient/${id}` },
});
const statuses = (res: { body: { entry: { response: { status: string } }[] } }) => res.body.entry.map((e) => e.response.status);
const outcomeOf = (entry: { response: { outcome: { issue: Issue[] } } }) => entry.response.outcome.issue[0];

describe.each(engines())('Bundle limits and rules on %s', (engine) => {
  let t: TestApp;
  const stored = async () => Number((await t.app.db.knex('resources').count({ n: '*' }))[0].n);

  beforeAll(async () => {
    t = await startTestApp(engine, { KILN_MAX_BUNDLE_RESULTS: String(BUDGET) });
    for (const id of ['bl-1', 'bl-2', 'bl-3', 'bl-4']) {
      expect((await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, name: [{ family: 'Budget' }] } })).status).toBe(201);
    }
  });
  afterAll(() => t.stop());

  describe('the budget of resources returned by GET entries', () => {
    it('the default lets 100 searches of 100 results, or one full page with its includes, through', () => {
      const defaults = loadConfig({});
      expect(defaults.maxBundleResults).toBeGreaterThanOrEqual(100 * 100);
      expect(defaults.maxBundleResults).toBeGreaterThanOrEqual(defaults.maxPageSize + 5000);
    });

    it('a batch keeps the results before the budget; the GET entries past it get 400 too-costly, writes still run', async () => {
      const res = await fhirFetch(t, '', {
        method: 'POST',
        body: bundle('batch', [
          get('Patient?family=Budget'),
          get('Patient?family=Budget'),
          { resource: { resourceType: 'Patient', name: [{ family: 'AfterBudget' }] }, request: { method: 'POST', url: 'Patient' } },
          get('Patient/bl-2'),
        ]),
      });
      expect(res.status).toBe(200);
      expect(statuses(res)).toEqual(['200 OK', '400 Bad Request', '201 Created', '400 Bad Request']);
      expect(res.body.entry[0].resource.entry).toHaveLength(4);
      // Nothing of the refused entries is in the response: it stops at the budget.
      expect(res.body.entry[1].resource).toBeUndefined();
      expect(res.body.entry[3].resource).toBeUndefined();
      for (const i of [1, 3]) {
        const issue = outcomeOf(res.body.entry[i]);
        expect(issue.code).toBe('too-costly');
        expect(issue.expression).toEqual([`Bundle.entry[${i}]`]);
        expect(issue.diagnostics).toContain(`Bundle.entry[${i}]`);
        expect(issue.diagnostics).toContain(`budget of ${BUDGET} resources`);
        expect(issue.diagnostics).toContain('KILN_MAX_BUNDLE_RESULTS');
      }
      expect(outcomeOf(res.body.entry[1]).diagnostics).toContain('returns 4 resources');
      expect(outcomeOf(res.body.entry[3]).diagnostics).toContain('was not run');
      // The server answers as before.
      expect((await fhirFetch(t, 'Patient?family=AfterBudget')).body.entry).toHaveLength(1);
    });

    it('a Bundle with more entries than the budget is refused whole before anything runs', async () => {
      const post = (): Entry => ({ resource: { resourceType: 'Patient', name: [{ family: 'TooMany' }] }, request: { method: 'POST', url: 'Patient' } });
      const before = await stored();
      for (const type of ['batch', 'transaction'] as const) {
        const res = await fhirFetch(t, '', { method: 'POST', body: bundle(type, Array.from({ length: BUDGET + 1 }, post)) });
        expect(res.status).toBe(400);
        const [issue] = res.body.issue as Issue[];
        expect(issue.code).toBe('too-costly');
        expect(issue.expression).toEqual(['Bundle.entry']);
        expect(issue.diagnostics).toContain(`${BUDGET + 1} entries`);
        expect(issue.diagnostics).toContain('KILN_MAX_BUNDLE_RESULTS');
      }
      expect(await stored()).toBe(before);
      const res = await fhirFetch(t, '', { method: 'POST', body: bundle('batch', Array.from({ length: BUDGET }, () => get('Patient?family=Nobody'))) });
      expect(statuses(res)).toEqual(Array(BUDGET).fill('200 OK'));
    });

    it('a transaction past the budget fails as a whole with 400 too-costly and writes nothing', async () => {
      const before = await stored();
      const res = await fhirFetch(t, '', {
        method: 'POST',
        body: bundle('transaction', [put('tx-budget', { name: [{ family: 'Budget' }] }), get('Patient?family=Budget'), get('Patient?family=Budget')]),
      });
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      const [issue] = res.body.issue as Issue[];
      expect(issue.code).toBe('too-costly');
      expect(issue.expression).toEqual(['Bundle.entry[2]']);
      expect(issue.diagnostics).toContain('KILN_MAX_BUNDLE_RESULTS');
      expect(await stored()).toBe(before);
      expect((await fhirFetch(t, 'Patient/tx-budget')).status).toBe(404);
    });
  });

  describe('overlapping resource identities in a transaction', () => {
    it('PUT, PUT and DELETE of one resource: 400 naming every entry, nothing written', async () => {
      const before = await stored();
      const res = await fhirFetch(t, '', {
        method: 'POST',
        body: bundle('transaction', [put('ov1', { gender: 'male' }), put('ov1', { gender: 'female' }), { request: { method: 'DELETE', url: 'Patient/ov1' } }]),
      });
      expect(res.status).toBe(400);
      const [issue] = res.body.issue as Issue[];
      expect(issue.code).toBe('invalid');
      expect(issue.expression).toEqual(['Bundle.entry[0]', 'Bundle.entry[1]', 'Bundle.entry[2]']);
      expect(issue.diagnostics).toContain('Patient/ov1');
      expect(await stored()).toBe(before);
      expect((await fhirFetch(t, 'Patient/ov1')).status).toBe(404);
    });

    it('identities resolved by a conditional delete or update count: 400 naming both entries, nothing changed', async () => {
      const created = await fhirFetch(t, 'Patient', { method: 'POST', body: { resourceType: 'Patient', identifier: [{ system: MRN, value: 'ov-cond' }] } });
      const id = created.body.id as string;
      const criteria = `Patient?identifier=${encodeURIComponent(`${MRN}|ov-cond`)}`;
      const before = await stored();
      const withDelete = await fhirFetch(t, '', {
        method: 'POST',
        body: bundle('transaction', [put(id, { gender: 'other' }), { request: { method: 'DELETE', url: criteria } }]),
      });
      expect(withDelete.status).toBe(400);
      expect(withDelete.body.issue[0].expression).toEqual(['Bundle.entry[0]', 'Bundle.entry[1]']);
      expect(withDelete.body.issue[0].diagnostics).toContain(`Patient/${id}`);
      const patch = Buffer.from(JSON.stringify([{ op: 'add', path: '/gender', value: 'other' }])).toString('base64');
      const withUpdate = await fhirFetch(t, '', {
        method: 'POST',
        body: bundle('transaction', [
          { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patch }, request: { method: 'PATCH', url: `Patient/${id}` } },
          { resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: 'ov-cond' }], active: true }, request: { method: 'PUT', url: criteria } },
        ]),
      });
      expect(withUpdate.status).toBe(400);
      expect(withUpdate.body.issue[0].expression).toEqual(['Bundle.entry[0]', 'Bundle.entry[1]']);
      expect(await stored()).toBe(before);
      const now = await fhirFetch(t, `Patient/${id}`);
      expect(now.status).toBe(200);
      expect(now.body.meta.versionId).toBe('1');
    });

    it('a batch may act on one resource in several entries: they are independent', async () => {
      const res = await fhirFetch(t, '', { method: 'POST', body: bundle('batch', [put('ov-batch', { gender: 'male' }), put('ov-batch', { gender: 'female' })]) });
      expect(res.status).toBe(200);
      expect(statuses(res)).toEqual(['201 Created', '200 OK']);
    });
  });

  describe('bdl-7: unique fullUrls', () => {
    const twice = (type: 'batch' | 'transaction') =>
      bundle(type, [
        { fullUrl: 'urn:uuid:a', resource: { resourceType: 'Patient', name: [{ family: 'Twice' }] }, request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'urn:uuid:a', resource: { resourceType: 'Patient', name: [{ family: 'Twice' }] }, request: { method: 'POST', url: 'Patient' } },
      ]);

    it.each(['batch', 'transaction'] as const)('a %s with two entries of one fullUrl is refused whole (400)', async (type) => {
      const before = await stored();
      const res = await fhirFetch(t, '', { method: 'POST', body: twice(type) });
      expect(res.status).toBe(400);
      const [issue] = res.body.issue as Issue[];
      expect(issue.code).toBe('invalid');
      expect(issue.expression).toEqual(['Bundle.entry[0].fullUrl', 'Bundle.entry[1].fullUrl']);
      expect(issue.diagnostics).toContain('urn:uuid:a');
      expect(issue.diagnostics).toContain('bdl-7');
      expect(await stored()).toBe(before);
    });

    it('entries of one fullUrl with different meta.versionId are allowed', async () => {
      const fullUrl = `${t.base}/Patient/versions`;
      const version = (v: string, family: string): Entry => ({ fullUrl, ...put('versions', { meta: { versionId: v }, name: [{ family }] }) });
      const res = await fhirFetch(t, '', { method: 'POST', body: bundle('batch', [version('1', 'One'), version('2', 'Two')]) });
      expect(res.status).toBe(200);
      expect(statuses(res)).toEqual(['201 Created', '200 OK']);
    });
  });

  it('a batch entry that fails inside the server is logged with the request id, without its resource', async () => {
    const lines: string[] = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const spy = jest.spyOn(t.app.log, 'child').mockImplementation((bindings) => capture.child(bindings));
    // Token index rows have nowhere to go: the entry's insert fails as an internal error would.
    await t.app.db.knex.schema.renameTable('search_token', 'search_token_away');
    let res;
    try {
      res = await fhirFetch(t, '', {
        method: 'POST',
        body: bundle('batch', [
          { resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: 'secret-mrn-4711' }] }, request: { method: 'POST', url: 'Patient' } },
          get('Patient/bl-1'),
        ]),
      });
    } finally {
      await t.app.db.knex.schema.renameTable('search_token_away', 'search_token');
      spy.mockRestore();
    }
    expect(res.status).toBe(200);
    expect(statuses(res)).toEqual(['500', '200 OK']);
    expect(outcomeOf(res.body.entry[0]).code).toBe('exception');
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'batch entry failed');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 50, reqId: res.headers.get('x-request-id'), entry: 'Bundle.entry[0]' });
    expect(logged[0].err).toBeDefined();
    expect(lines.join('\n')).not.toContain('secret-mrn-4711');
  });

  it.each(['batch', 'transaction'] as const)('a refused search in a %s GET entry points at the entry\'s request.url', async (type) => {
    const before = await stored();
    const res = await fhirFetch(t, '', { method: 'POST', body: bundle(type, [put(`expr-${type}`), get('Patient?birthdate=notadate')]) });
    const issue: Issue = type === 'transaction' ? res.body.issue[0] : outcomeOf(res.body.entry[1]);
    expect(type === 'transaction' ? res.status : res.body.entry[1].response.status).toBe(type === 'transaction' ? 400 : '400 Bad Request');
    expect(issue.expression).toEqual(['Bundle.entry[1].request.url']);
    expect(issue.diagnostics).toContain('Bundle.entry[1]');
    expect(issue.diagnostics).toContain('birthdate');
    if (type === 'transaction') {
      expect(await stored()).toBe(before);
      expect((await fhirFetch(t, 'Patient/expr-transaction')).status).toBe(404);
    }
  });
});
