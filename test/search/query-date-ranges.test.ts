import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getSearchParam } from '../../server/search/registry.js';
import { singleValued } from '../../server/search/single-valued.js';
import { planSearch } from '../../server/search/query/plan.js';
import { pageQuery } from '../../server/search/query/run.js';
import knexFactory from 'knex';
import { engines } from '../helpers/db.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { ids, putAll, type Res } from './query-fixtures.js';

/**
 * Repeated date parameters (`date=ge…&date=lt…`, https://hl7.org/fhir/R4/search.html#date):
 * each occurrence may be met by a different value of the resource. For a parameter with
 * one value per resource the server also checks them together on its one index row (a
 * bounded index range); for one with several values it must not.
 */

const observations: Res[] = [
  { resourceType: 'Observation', id: 'dr-in', status: 'final', code: { text: 'x' }, effectiveDateTime: '2019-05-01T10:00:00Z' },
  { resourceType: 'Observation', id: 'dr-before', status: 'final', code: { text: 'x' }, effectiveDateTime: '2019-04-30T23:59:59Z' },
  { resourceType: 'Observation', id: 'dr-after', status: 'final', code: { text: 'x' }, effectiveDateTime: '2019-05-02T00:00:00Z' },
  { resourceType: 'Observation', id: 'dr-span', status: 'final', code: { text: 'x' }, effectivePeriod: { start: '2018-01-01', end: '2020-01-01' } },
  { resourceType: 'Observation', id: 'dr-day', status: 'final', code: { text: 'x' }, effectiveDateTime: '2019-05-01' },
];

/** Two locations, one in January and one in March: nothing of it lies in February. */
const encounter: Res = {
  resourceType: 'Encounter', id: 'dr-enc', status: 'finished', class: { code: 'AMB' },
  location: [
    { location: { reference: 'Location/dr-1' }, period: { start: '2019-01-01', end: '2019-01-02' } },
    { location: { reference: 'Location/dr-2' }, period: { start: '2019-03-01', end: '2019-03-02' } },
  ],
};

describe('which date parameters have one value per resource', () => {
  it('reads the cardinality of each element along the path', () => {
    const single = (type: string, code: string) => singleValued(getSearchParam(type, code)!, type);
    expect(single('Observation', 'date')).toBe(true);
    expect(single('Encounter', 'date')).toBe(true);
    expect(single('Patient', 'birthdate')).toBe(true);
    expect(single('Encounter', 'location-period')).toBe(false);
    expect(single('Patient', 'name')).toBe(false);
    // A union of parts, or a function in the path, is taken as possibly several.
    expect(single('Patient', 'death-date')).toBe(false);
  });
});

describe('the statement of a date window', () => {
  const knex = knexFactory({ client: 'pg' });
  afterAll(() => knex.destroy());
  const sql = (type: string, query: Record<string, string[]>) => {
    const plan = planSearch({ types: [type], query, baseUrl: 'http://example.org/fhir', lenient: false, postgres: true, defaultCount: 20, maxCount: 100 });
    return pageQuery(knex, plan).toString();
  };

  it('seeks ranges shorter than a day from a day before the window, and longer ones as before', () => {
    const text = sql('Observation', { date: ['ge2019-05-01', 'lt2019-05-02'] });
    const branches = text.split(' union all ');
    expect(branches).toHaveLength(2);
    expect(branches[0]).toContain(`"span" = 0 and "s3"."start" > '2019-04-30T00:00:00.000Z'`);
    expect(branches[1]).toContain(`"span" = 1)`);
    expect(branches[1]).not.toContain(`'2019-04-30T00:00:00.000Z'`);
  });

  it('checks the occurrences of a one-valued parameter together only, each of a many-valued one on its own', () => {
    const probes = (text: string) => text.split('exists (').length - 1;
    expect(probes(sql('Observation', { date: ['ge2019-05-01', 'lt2019-05-02'] }))).toBe(0);
    expect(probes(sql('Encounter', { 'location-period': ['ge2019-02-01', 'lt2019-02-02'] }))).toBe(1);
  });

  it('has no floor when an alternative has none', () => {
    const text = sql('Observation', { date: ['ge2019-05-01,lt2018-01-01'] });
    expect(text).toContain('union all');
    expect(text).not.toContain(`'2019-04-30T00:00:00.000Z'`);
  });
});

describe.each(engines())('repeated date parameters on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
    await putAll(t, [...observations, encounter]);
  });
  afterAll(() => t.stop());

  it('a one-day window on a one-valued parameter: what overlaps the day, points and periods alike', async () => {
    expect((await ids(t, 'Observation?date=ge2019-05-01&date=lt2019-05-02&_count=100')).sort()).toEqual(['dr-day', 'dr-in', 'dr-span']);
    expect((await ids(t, 'Observation?date=gt2019-04-30&date=le2019-05-01&_count=100')).sort()).toEqual(['dr-day', 'dr-in', 'dr-span']);
    expect((await ids(t, 'Observation?date=sa2019-04-30&date=eb2019-05-02&_count=100')).sort()).toEqual(['dr-day', 'dr-in']);
    expect((await ids(t, 'Observation?date=2019-05-01&_count=100')).sort()).toEqual(['dr-day', 'dr-in']);
  });

  it('a many-valued parameter: each occurrence may be met by another value', async () => {
    // January's period starts before February 2; March's ends after February 1.
    expect(await ids(t, 'Encounter?location-period=ge2019-02-01&location-period=lt2019-02-02')).toEqual(['dr-enc']);
    expect(await ids(t, 'Encounter?location-period=2019-02')).toEqual([]);
  });
});
