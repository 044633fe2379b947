import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { migrate, migrateDownThrough } from '../../server/db/migrations.js';
import { SPAN_LONG, SPAN_SHORT, spanOf } from '../../server/search/ranges.js';
import { SEARCH_TABLES } from '../../server/search/schema.js';
import { fhirFetch, startTestApp, type TestApp } from '../helpers/app.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';

/**
 * Migration `0011_date_spans`: every `search_date` row says whether its range is shorter
 * than a day (`span`), the lookup index seeks on it, and the migration computes in SQL
 * what the server computes on write, for rows written before it.
 */

const obs = (id: string, effective: Record<string, unknown>) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, ...effective });
const resources = [
  obs('instant', { effectiveInstant: '2019-05-01T10:00:00.123Z' }),
  obs('day', { effectiveDateTime: '2019-05-01' }),
  obs('month', { effectiveDateTime: '2019-05' }),
  // Short, across midnight: neither is contained in May 1 nor ends after it.
  obs('night', { effectivePeriod: { start: '2019-04-30T23:00:00Z', end: '2019-05-01T01:00:00Z' } }),
  obs('late-night', { effectivePeriod: { start: '2019-05-01T23:00:00Z', end: '2019-05-02T01:00:00Z' } }),
  obs('year-long', { effectivePeriod: { start: '2019-01-01', end: '2019-12-31' } }),
  obs('open', { effectivePeriod: { start: '2019-04-01' } }),
  obs('before', { effectiveDateTime: '2019-04-29T12:00:00Z' }),
  obs('after', { effectiveDateTime: '2019-05-02T00:00:00Z' }),
];
/** `date=ge2019-05-01&date=lt2019-05-02` (https://hl7.org/fhir/R4/search.html#prefix). */
const MAY_FIRST = ['day', 'instant', 'late-night', 'month', 'open', 'year-long'];
/** `date=gt2019-04-30&date=lt2019-05-02`: also what ends on May 1 after starting before it. */
const AFTER_APRIL = [...MAY_FIRST, 'night'].sort();

describe.each(engines())('migration 0011_date_spans on %s', (engine) => {
  let database: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    database = await freshDatabase(engine);
    t = await startTestApp(engine, { KILN_SAMPLE_DATA: 'false' }, { database });
    for (const r of resources) expect((await fhirFetch(t, `Observation/${r.id}`, { method: 'PUT', body: r })).status).toBe(201);
  });
  afterAll(async () => {
    await t.stop();
    await database.drop();
  });

  type Row = { code: string; start: string; end: string; span: number };
  const dateRows = async (): Promise<Row[]> =>
    ((await database.db.knex(SEARCH_TABLES.date).select('code', 'start', 'end', 'span').orderBy(['rid', 'code', 'start'])) as Row[]).map((r) => ({ ...r, span: Number(r.span) }));
  const found = async (query: string) => ((await fhirFetch(t, `Observation?${query}&_count=100`)).body.entry ?? []).map((e: any) => e.resource.id).sort();
  const mayFirst = () => found('date=ge2019-05-01&date=lt2019-05-02');
  const afterApril = () => found('date=gt2019-04-30&date=lt2019-05-02');

  it('classes each row on write, and finds short and long ranges in a window', async () => {
    const rows = await dateRows();
    expect(rows.length).toBeGreaterThanOrEqual(resources.length);
    for (const r of rows) expect(r.span).toBe(spanOf(r.start, r.end));
    expect(new Set(rows.map((r) => r.span))).toEqual(new Set([SPAN_SHORT, SPAN_LONG]));
    expect(await mayFirst()).toEqual(MAY_FIRST);
    expect(await afterApril()).toEqual(AFTER_APRIL);
  });

  it('goes down and up again, computing in SQL what the server computes', async () => {
    const knex = database.db.knex;
    const before = await dateRows();
    await migrateDownThrough(knex, '0011_date_spans');
    expect(await knex.schema.hasColumn(SEARCH_TABLES.date, 'span')).toBe(false);
    await migrate(knex);
    expect(await dateRows()).toEqual(before);
    expect(await mayFirst()).toEqual(MAY_FIRST);
    expect(await afterApril()).toEqual(AFTER_APRIL);
    // The rows copied keep their resource's index: an update replaces them.
    const updated = obs('instant', { effectiveInstant: '2019-06-01T10:00:00Z' });
    expect((await fhirFetch(t, 'Observation/instant', { method: 'PUT', body: updated })).status).toBe(200);
    expect(await mayFirst()).toEqual(MAY_FIRST.filter((id) => id !== 'instant'));
  });
});
