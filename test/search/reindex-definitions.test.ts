import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from '../../server/config.js';
import { readCustomSearchParameters } from '../../server/search/custom-params.js';
import { fingerprint } from '../../server/search/readiness.js';
import { getSearchParam, getSearchParameterByUrl, useCustomSearchParameters } from '../../server/search/registry.js';
import { CHANGED_DEFINITIONS, definitionsFile } from './reindex-fixtures.js';

/**
 * `KILN_SEARCH_PARAMETERS`: custom SearchParameters are checked when a process starts,
 * and what changes a parameter's fingerprint (and so its readiness) is what its index
 * rows are built from.
 */

const [maritalStatus, organization] = CHANGED_DEFINITIONS;

describe('custom search parameters', () => {
  afterAll(() => useCustomSearchParameters([]));

  it('reads a Bundle of SearchParameters, or one, into the registry', () => {
    expect(readCustomSearchParameters(definitionsFile(CHANGED_DEFINITIONS))).toHaveLength(3);
    const single = definitionsFile([]).replace(/search-parameters\.json$/, 'one.json');
    writeFileSync(single, JSON.stringify(maritalStatus));
    useCustomSearchParameters(readCustomSearchParameters(single));
    expect(getSearchParam('Patient', 'marital-status')?.expression).toBe('Patient.maritalStatus');
    useCustomSearchParameters([]);
    expect(getSearchParam('Patient', 'marital-status')).toBeUndefined();
  });

  it.each([
    ['not FHIR', { resourceType: 'Patient' }, /neither a Bundle nor a SearchParameter|resourceType/],
    ['no expression', { ...maritalStatus, expression: undefined }, /needs an expression/],
    ['a bad expression', { ...maritalStatus, expression: 'Patient.name.where(' }, /does not compile/],
    ['a reserved code', { ...maritalStatus, code: '_sort' }, /code "_sort" is not allowed/],
    ['a chain-like code', { ...maritalStatus, code: 'a.b' }, /is not allowed/],
    ['an unknown base', { ...maritalStatus, base: ['Patient', 'Nonsense'] }, /Nonsense/],
    ['a missing name', { ...maritalStatus, name: undefined }, /name/],
    ['an unknown component', { ...maritalStatus, type: 'composite', component: [{ definition: 'http://example.org/none', expression: 'code' }] }, /not a known SearchParameter/],
  ])('refuses %s, naming the variable', (_what, resource, message) => {
    const path = definitionsFile([resource]);
    expect(() => readCustomSearchParameters(path)).toThrow(ConfigError);
    expect(() => readCustomSearchParameters(path)).toThrow(/KILN_SEARCH_PARAMETERS/);
    expect(() => readCustomSearchParameters(path)).toThrow(message);
  });

  it('refuses the same URL twice', () => {
    expect(() => readCustomSearchParameters(definitionsFile([maritalStatus, maritalStatus]))).toThrow(/defined twice/);
  });
});

describe('fingerprints', () => {
  afterAll(() => useCustomSearchParameters([]));

  it('change with the expression, not with what only queries use', () => {
    const shipped = fingerprint(getSearchParam('Patient', 'organization')!);
    useCustomSearchParameters([{ ...organization, expression: 'Patient.managingOrganization', target: ['Organization'], description: 'other words' }]);
    expect(fingerprint(getSearchParam('Patient', 'organization')!)).toBe(shipped);
    useCustomSearchParameters([organization]);
    expect(fingerprint(getSearchParam('Patient', 'organization')!)).not.toBe(shipped);
  });

  it('of a parameter on one type do not change with the union members of other types', () => {
    const url = 'http://hl7.org/fhir/SearchParameter/clinical-patient';
    const observation = fingerprint(getSearchParam('Observation', 'patient')!);
    const condition = fingerprint(getSearchParam('Condition', 'patient')!);
    const shipped = getSearchParameterByUrl(url)!;
    useCustomSearchParameters([{ ...shipped, expression: shipped.expression!.replace('Condition.subject.where(resolve() is Patient)', 'Condition.subject') }]);
    expect(getSearchParam('Condition', 'patient')?.url).toBe(url);
    expect(fingerprint(getSearchParam('Observation', 'patient')!)).toBe(observation);
    expect(fingerprint(getSearchParam('Condition', 'patient')!)).not.toBe(condition);
  });
});
