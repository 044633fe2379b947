import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { allPages, ids, matches, putAll, relative, searchBundle, type Res } from './query-fixtures.js';

/**
 * The searchset Bundle: paging by keyset cursor (self/next/previous), `_count`, `_sort`,
 * `_total`, `_summary`, `_elements`, POST `_search` and system search.
 * See: https://hl7.org/fhir/R4/http.html#search and https://hl7.org/fhir/R4/search.html#return
 */

const N = 25;
/** Basic resources: identifier `p-00`…, created dates spread over two years, code `paging`. */
function basics(): Res[] {
  return Array.from({ length: N }, (_, i) => ({
    resourceType: 'Basic',
    id: `b-${String(i).padStart(2, '0')}`,
    code: { coding: [{ system: 'http://example.org/kind', code: 'paging' }] },
    identifier: [{ system: 'http://example.org/seq', value: `p-${String((i * 7) % N).padStart(2, '0')}` }],
    created: `20${20 + (i % 2)}-0${1 + (i % 9)}-1${i % 10}`,
  }));
}

function pageIds(bundle: Awaited<ReturnType<typeof searchBundle>>): string[] {
  return matches(bundle).map((e) => e.resource.id);
}

function link(bundle: { link: { relation: string; url: string }[] }, relation: string): string | undefined {
  return bundle.link.find((l) => l.relation === relation)?.url;
}

describe.each(engines())('searchset paging and shaping on %s', (engine) => {
  let t: TestApp;
  const rel = (url: string) => relative(t, url);
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, basics());
  });
  afterAll(() => t.stop());

  it('answers a searchset with fullUrl, search.mode and a self link', async () => {
    const bundle = await searchBundle(t, 'Basic?code=paging&_count=3');
    expect(bundle.entry).toHaveLength(3);
    for (const e of bundle.entry ?? []) {
      expect(e.fullUrl).toBe(`${t.base}/Basic/${e.resource.id}`);
      expect(e.search).toEqual({ mode: 'match' });
    }
    expect(link(bundle, 'self')).toBe(`${t.base}/Basic?code=paging&_count=3`);
    expect(link(bundle, 'previous')).toBeUndefined();
    expect(bundle.total).toBeUndefined();
  });

  it('pages forward through every match once, in id order, and back again', async () => {
    const pages = await allPages(t, 'Basic?code=paging&_count=10');
    expect(pages.map((p) => pageIds(p).length)).toEqual([10, 10, 5]);
    const all = pages.flatMap(pageIds);
    expect(all).toEqual(basics().map((b) => b.id));
    const back = await searchBundle(t, rel(link(pages[2], 'previous') as string));
    expect(pageIds(back)).toEqual(pageIds(pages[1]));
    const first = await searchBundle(t, rel(link(back, 'previous') as string));
    expect(pageIds(first)).toEqual(pageIds(pages[0]));
    expect(link(first, 'previous')).toBeUndefined();
    expect(pageIds(await searchBundle(t, rel(link(first, 'next') as string)))).toEqual(pageIds(pages[1]));
  });

  it('_sort by a token, a date, _lastUpdated and several keys, through every page', async () => {
    const byIdentifier = (await allPages(t, 'Basic?code=paging&_sort=identifier&_count=4')).flatMap(pageIds);
    const expected = basics().sort((a, b) => ((a.identifier as { value: string }[])[0].value < (b.identifier as { value: string }[])[0].value ? -1 : 1));
    expect(byIdentifier).toEqual(expected.map((b) => b.id));
    const byCreated = (await allPages(t, 'Basic?code=paging&_sort=-created,_id&_count=6')).flatMap(pageIds);
    const created = (r: Res) => r.created as string;
    const want = basics().sort((a, b) => (created(a) === created(b) ? (a.id < b.id ? -1 : 1) : created(a) < created(b) ? 1 : -1));
    expect(byCreated).toEqual(want.map((b) => b.id));
    const byUpdated = (await allPages(t, 'Basic?code=paging&_sort=_lastUpdated&_count=7')).flatMap(pageIds);
    expect(new Set(byUpdated).size).toBe(N);
    const desc = (await allPages(t, 'Basic?code=paging&_sort=-_id&_count=9')).flatMap(pageIds);
    expect(desc).toEqual(basics().map((b) => b.id).reverse());
  });

  it('puts resources without the sort value last, either way', async () => {
    await putAll(t, [{ resourceType: 'Basic', id: 'b-nodate', code: { coding: [{ system: 'http://example.org/kind', code: 'paging-extra' }] } }]);
    const q = 'Basic?code=paging,paging-extra&_count=5&_sort=';
    expect((await allPages(t, `${q}created`)).flatMap(pageIds).at(-1)).toBe('b-nodate');
    expect((await allPages(t, `${q}-created`)).flatMap(pageIds).at(-1)).toBe('b-nodate');
    await fhirFetch(t, 'Basic/b-nodate', { method: 'DELETE' });
  });

  it('_count=0 gives no entries; _total=accurate counts; _summary=count gives only the count', async () => {
    const none = await searchBundle(t, 'Basic?code=paging&_count=0');
    expect(none.entry).toBeUndefined();
    expect(link(none, 'next')).toBeUndefined();
    const counted = await searchBundle(t, 'Basic?code=paging&_count=2&_total=accurate');
    expect(counted.total).toBe(N);
    expect(counted.entry).toHaveLength(2);
    expect((await searchBundle(t, 'Basic?code=paging&_total=estimate')).total).toBe(N);
    expect((await searchBundle(t, 'Basic?code=paging&_total=none')).total).toBeUndefined();
    const summary = await searchBundle(t, 'Basic?code=paging&_summary=count');
    expect(summary.total).toBe(N);
    expect(summary.entry).toBeUndefined();
  });

  it('_summary and _elements shape the entries and mark them SUBSETTED', async () => {
    const elements = await searchBundle(t, 'Basic?code=paging&_count=2&_elements=identifier');
    for (const e of elements.entry ?? []) {
      expect(Object.keys(e.resource).sort()).toEqual(['code', 'id', 'identifier', 'meta', 'resourceType']);
      expect((e.resource.meta as { tag: { code: string }[] }).tag.map((tag) => tag.code)).toContain('SUBSETTED');
    }
    const summary = await searchBundle(t, 'Basic?code=paging&_count=2&_summary=text');
    for (const e of summary.entry ?? []) expect(Object.keys(e.resource).sort()).toEqual(['code', 'id', 'meta', 'resourceType']);
    const data = await searchBundle(t, 'Basic?code=paging&_count=2&_summary=data');
    for (const e of data.entry ?? []) expect(e.resource.created).toBeDefined();
    expect(link(elements, 'next')).toContain('_elements=identifier');
  });

  it('POST _search takes form parameters, merged with the URL, and links as GET', async () => {
    const res = await fhirFetch(t, 'Basic/_search?_count=4', {
      method: 'POST',
      body: 'code=paging&_sort=-_id',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    expect(pageIds(res.body)).toEqual(basics().map((b) => b.id).reverse().slice(0, 4));
    expect(link(res.body, 'self')).toBe(`${t.base}/Basic?code=paging&_sort=-_id&_count=4`);
    const json = await fhirFetch(t, 'Basic/_search', { method: 'POST', body: { code: 'paging' } });
    expect(json.status).toBe(400);
    const empty = await fhirFetch(t, 'Basic/_search', { method: 'POST' });
    expect(empty.status).toBe(200);
  });

  it('searches across types with _type, and the common parameters without it', async () => {
    await putAll(t, [{ resourceType: 'Patient', id: 'sys-p' }]);
    const tag = { meta: { tag: [{ system: 'http://example.org/tags', code: 'sys' }] } };
    await putAll(t, [{ resourceType: 'Patient', id: 'sys-tagged', ...tag }, { resourceType: 'Organization', id: 'sys-tagged', ...tag }]);
    const tagged = await searchBundle(t, '?_tag=http://example.org/tags|sys&_sort=-_lastUpdated');
    expect(matches(tagged).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort()).toEqual(['Organization/sys-tagged', 'Patient/sys-tagged']);
    expect(await ids(t, '?_type=Organization,Basic&_tag=http://example.org/tags|sys')).toEqual(['sys-tagged']);
    for (const r of ['Patient', 'Organization']) await fhirFetch(t, `${r}/sys-tagged`, { method: 'DELETE' });
    expect(await ids(t, '?_type=Patient,Basic&_id=sys-p,b-01')).toEqual(['b-01', 'sys-p']);
    expect(await ids(t, '?_id=sys-p')).toEqual(['sys-p']);
    const pages = await allPages(t, '?_type=Basic,Patient&_count=4');
    const all = pages.flatMap((p) => matches(p).map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    expect(all).toHaveLength(N + 1);
    expect(new Set(all).size).toBe(N + 1);
    expect((await fhirFetch(t, '?code=paging')).status).toBe(400);
    expect((await fhirFetch(t, '?_type=Basic,Patient&code=paging')).status).toBe(400);
    const post = await fhirFetch(t, '_search', { method: 'POST', body: '_id=sys-p', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(pageIds(post.body)).toEqual(['sys-p']);
  });

  it('runs in a batch, as a GET entry', async () => {
    const res = await fhirFetch(t, '', {
      method: 'POST',
      body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Basic?code=paging&_count=1' } }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].resource.type).toBe('searchset');
    expect(res.body.entry[0].resource.entry).toHaveLength(1);
  });

  it('runs inside a transaction Bundle and sees its earlier entries', async () => {
    const res = await fhirFetch(t, '', {
      method: 'POST',
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:5d3c9a52-0000-4000-8000-000000000001', resource: { resourceType: 'Basic', code: { text: 'in-tx' }, identifier: [{ value: 'in-tx' }] }, request: { method: 'POST', url: 'Basic' } },
          { request: { method: 'GET', url: 'Basic?identifier=in-tx' } },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[1].resource.entry).toHaveLength(1);
  });

  it('advertises its search parameters, includes and revincludes in the CapabilityStatement', async () => {
    const cs = (await fhirFetch(t, 'metadata')).body as { rest: { resource: { type: string; interaction: { code: string }[]; searchParam: { name: string; type: string }[]; searchInclude: string[]; searchRevInclude: string[] }[]; interaction: { code: string }[] }[] };
    const patient = cs.rest[0].resource.find((r) => r.type === 'Patient');
    expect(patient?.interaction.map((i) => i.code)).toContain('search-type');
    expect(patient?.searchParam.map((p) => p.name)).toEqual(expect.arrayContaining(['_id', '_lastUpdated', 'name', 'birthdate', 'identifier', 'general-practitioner']));
    expect(patient?.searchParam.map((p) => p.name)).not.toContain('_text');
    expect(patient?.searchInclude).toEqual(expect.arrayContaining(['*', 'Patient:general-practitioner']));
    expect(patient?.searchRevInclude).toEqual(expect.arrayContaining(['Provenance:target', 'Observation:subject']));
    const observation = cs.rest[0].resource.find((r) => r.type === 'Observation');
    expect(observation?.searchParam).toContainEqual(expect.objectContaining({ name: 'code-value-quantity', type: 'composite' }));
    expect(cs.rest[0].resource.find((r) => r.type === 'Location')?.searchParam.map((p) => p.name)).not.toContain('near');
    expect(cs.rest[0].interaction.map((i) => i.code)).toContain('search-system');
    // Provenance.target may point at any resource (Parameters is no resource one points at).
    const withoutProvenance = cs.rest[0].resource.filter((r) => !r.searchRevInclude.includes('Provenance:target')).map((r) => r.type);
    expect(withoutProvenance).toEqual(['Parameters']);
  });

  it('pages without duplicates or misses while others write', async () => {
    const kind = { coding: [{ system: 'http://example.org/kind', code: 'busy' }] };
    const before: Res[] = Array.from({ length: 30 }, (_, i) => ({ resourceType: 'Basic', id: `busy-${String(i).padStart(2, '0')}`, code: kind }));
    await putAll(t, before);
    let n = 0;
    const write = async () => {
      n++;
      const created = fhirFetch(t, 'Basic', { method: 'POST', body: { resourceType: 'Basic', code: kind } });
      const updated = fhirFetch(t, `Basic/busy-${String((n * 7) % 30).padStart(2, '0')}`, { method: 'PUT', body: { ...before[(n * 7) % 30], subject: { reference: 'Patient/sys-p' } } });
      return Promise.all([created, updated]);
    };
    for (const sort of ['', '&_sort=-code,_id']) {
      const seen: string[] = [];
      let next: string | undefined = `Basic?code=busy&_count=7${sort}`;
      while (next) {
        // Writes race the page read, and more land between pages.
        const [bundle] = await Promise.all([searchBundle(t, next), write()]);
        await write();
        seen.push(...pageIds(bundle));
        const url = link(bundle, 'next');
        next = url ? rel(url) : undefined;
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining(before.map((b) => b.id)));
    }
  });
});
