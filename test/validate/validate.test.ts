import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FhirError } from '../../server/errors.js';
import { MAX_ISSUES, isResourceType, resourceTypes, validateResource, type ValidateOptions } from '../../server/validate/index.js';

type Json = Record<string, any>;

const patient = (): Json => ({
  resourceType: 'Patient',
  id: 'p1',
  name: [{ family: 'Doe', given: ['Jane'] }],
  gender: 'female',
  birthDate: '1980-02-29',
});

const observation = (): Json => ({
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2020-01-01T10:00:00Z',
  valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

const with_ = (base: () => Json, change: (r: Json) => void): Json => {
  const r = base();
  change(r);
  return r;
};

/** Validates and returns the FhirError thrown (fails the test if nothing is thrown). */
function rejection(resource: unknown, opts?: ValidateOptions): FhirError {
  try {
    validateResource(resource, opts);
  } catch (err) {
    if (err instanceof FhirError) return err;
    throw err;
  }
  throw new Error('expected the resource to be rejected');
}

type Case = [name: string, resource: unknown, code: string, expression: string | undefined, opts?: ValidateOptions];

const invalid: Case[] = [
  // body and resourceType
  ['body is an array', [patient()], 'structure', undefined],
  ['body is a string', 'Patient', 'structure', undefined],
  ['body is null', null, 'structure', undefined],
  ['missing resourceType', { name: [{ family: 'x' }] }, 'required', 'resourceType'],
  ['unknown resourceType', { resourceType: 'Patientx' }, 'value', 'resourceType'],
  ['non-string resourceType', { resourceType: 42 }, 'value', 'resourceType'],
  ['R4B-only resourceType', { resourceType: 'SubscriptionStatus' }, 'value', 'resourceType'],
  ['resourceType differs from expected', patient(), 'invalid', 'resourceType', { expectedType: 'Observation' }],
  // id
  ['id differs from expected', patient(), 'invalid', 'Patient.id', { expectedId: 'p2' }],
  ['id missing when required', with_(patient, (r) => delete r.id), 'required', 'Patient.id', { requireId: true }],
  ['id missing when expected', with_(patient, (r) => delete r.id), 'required', 'Patient.id', { expectedId: 'p1' }],
  ['id present when forbidden', patient(), 'invalid', 'Patient.id', { forbidId: true }],
  ['id with a space', with_(patient, (r) => (r.id = 'a b')), 'value', 'Patient.id'],
  ['id longer than 64', with_(patient, (r) => (r.id = 'a'.repeat(65))), 'value', 'Patient.id'],
  ['id is a number', with_(patient, (r) => (r.id = 7)), 'structure', 'Patient.id'],
  ['_id sibling', with_(patient, (r) => (r._id = { extension: [] })), 'structure', 'Patient._id'],
  // unknown elements
  ['unknown root element', with_(patient, (r) => (r.foo = 1)), 'structure', 'Patient.foo'],
  ['unknown element in datatype', with_(patient, (r) => (r.name[0].foo = 'x')), 'structure', 'Patient.name[0].foo'],
  ['unknown element in backbone', with_(patient, (r) => (r.contact = [{ foo: 1 }])), 'structure', 'Patient.contact[0].foo'],
  ['resourceType inside a datatype', with_(patient, (r) => (r.name[0].resourceType = 'HumanName')), 'structure', 'Patient.name[0].resourceType'],
  ['unknown _x sibling', with_(patient, (r) => (r._foo = { extension: [] })), 'structure', 'Patient._foo'],
  ['_x sibling of a complex element', with_(patient, (r) => (r._name = [{}])), 'structure', 'Patient._name'],
  ['unknown element inside _x sibling', with_(patient, (r) => (r._birthDate = { foo: 1 })), 'structure', 'Patient.birthDate.foo'],
  ['_x sibling not an object', with_(patient, (r) => (r._birthDate = 'x')), 'structure', 'Patient.birthDate'],
  ['Medplum-only Meta element', with_(patient, (r) => (r.meta = { project: 'p' })), 'structure', 'Patient.meta.project'],
  ['R5-only element', { resourceType: 'ResearchStudy', status: 'active', label: [{ value: 'x' }] }, 'structure', 'ResearchStudy.label'],
  ['choice variant not allowed', with_(observation, (r) => (r.effectiveString = 'x')), 'structure', 'Observation.effectiveString'],
  ['_div on Narrative', with_(patient, (r) => (r.text = { status: 'generated', div: '<div>x</div>', _div: {} })), 'structure', 'Patient.text._div'],
  // primitive formats
  ['date with month 13', with_(patient, (r) => (r.birthDate = '2020-13-01')), 'value', 'Patient.birthDate'],
  ['date that does not exist', with_(patient, (r) => (r.birthDate = '2021-02-29')), 'value', 'Patient.birthDate'],
  ['date with a time', with_(patient, (r) => (r.birthDate = '2020-01-01T00:00:00Z')), 'value', 'Patient.birthDate'],
  ['dateTime without timezone', with_(observation, (r) => (r.effectiveDateTime = '2020-01-01T10:00:00')), 'value', 'Observation.effectiveDateTime'],
  ['instant without time', with_(observation, (r) => (r.issued = '2020-01-01')), 'value', 'Observation.issued'],
  ['time out of range', with_(observation, (r) => { delete r.valueQuantity; r.valueTime = '24:00:00'; }), 'value', 'Observation.valueTime'],
  ['code with leading space', with_(patient, (r) => (r.language = ' en')), 'value', 'Patient.language'],
  ['uri with a space', with_(patient, (r) => (r.implicitRules = 'http://a b')), 'value', 'Patient.implicitRules'],
  ['Extension.url with a space', with_(patient, (r) => (r.extension = [{ url: 'a b', valueString: 'x' }])), 'value', 'Patient.extension[0].url'],
  ['decimal as a string', with_(observation, (r) => (r.valueQuantity.value = '72')), 'structure', 'Observation.valueQuantity.value'],
  ['integer with a fraction', with_(patient, (r) => (r.multipleBirthInteger = 1.5)), 'value', 'Patient.multipleBirthInteger'],
  ['integer beyond 32 bits', with_(patient, (r) => (r.multipleBirthInteger = 2 ** 31)), 'value', 'Patient.multipleBirthInteger'],
  ['unsignedInt negative', with_(patient, (r) => (r.photo = [{ size: -1 }])), 'value', 'Patient.photo[0].size'],
  ['positiveInt zero', { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, diagnosis: [{ condition: { reference: 'Condition/1' }, rank: 0 }] }, 'value', 'Encounter.diagnosis[0].rank'],
  ['boolean as a string', with_(patient, (r) => (r.active = 'true')), 'structure', 'Patient.active'],
  ['base64Binary malformed', with_(patient, (r) => (r.photo = [{ data: 'abc' }])), 'value', 'Patient.photo[0].data'],
  ['empty string', with_(patient, (r) => (r.name[0].family = '')), 'value', 'Patient.name[0].family'],
  ['number in a string array', with_(patient, (r) => (r.name[0].given = ['Jane', 5])), 'structure', 'Patient.name[0].given[1]'],
  ['object where a primitive belongs', with_(patient, (r) => (r.birthDate = { value: '2020' })), 'structure', 'Patient.birthDate'],
  ['string where an object belongs', with_(observation, (r) => (r.code = 'x')), 'structure', 'Observation.code'],
  ['Element.id as a number', with_(patient, (r) => (r.name[0].id = 5)), 'structure', 'Patient.name[0].id'],
  // JSON shape and cardinality
  ['array for a 0..1 element', with_(patient, (r) => (r.gender = ['female'])), 'structure', 'Patient.gender'],
  ['object for a 0..* element', with_(patient, (r) => (r.name = { family: 'Doe' })), 'structure', 'Patient.name'],
  ['empty array', with_(patient, (r) => (r.name = [])), 'structure', 'Patient.name'],
  ['null value', with_(patient, (r) => (r.gender = null)), 'structure', 'Patient.gender'],
  ['null in a complex array', with_(patient, (r) => (r.name = [null])), 'structure', 'Patient.name[0]'],
  ['null in a primitive array without _x', with_(patient, (r) => (r.name[0].given = ['Jane', null])), 'structure', 'Patient.name[0].given[1]'],
  ['_x array of another length', with_(patient, (r) => (r.name[0]._given = [null, { id: 'g' }])), 'structure', 'Patient.name[0].given'],
  ['empty object', with_(patient, (r) => (r.name = [{}])), 'structure', 'Patient.name[0]'],
  ['missing required element', with_(observation, (r) => delete r.status), 'required', 'Observation.status'],
  ['missing required element in a datatype', with_(patient, (r) => (r.extension = [{ valueString: 'x' }])), 'required', 'Patient.extension[0].url'],
  ['missing required element in a backbone', with_(patient, (r) => (r.link = [{ other: { reference: 'Patient/2' } }])), 'required', 'Patient.link[0].type'],
  ['missing required choice', { resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/1' } }, 'required', 'MedicationRequest.medication'],
  ['two choice variants', with_(observation, (r) => (r.valueString = 'x')), 'structure', 'Observation.valueString'],
  // meta and text
  ['meta not an object', with_(patient, (r) => (r.meta = 'x')), 'structure', 'Patient.meta'],
  ['meta.lastUpdated not an instant', with_(patient, (r) => (r.meta = { lastUpdated: '2020-01-01' })), 'value', 'Patient.meta.lastUpdated'],
  ['meta.tag not an array', with_(patient, (r) => (r.meta = { tag: { code: 'x' } })), 'structure', 'Patient.meta.tag'],
  ['text without status', with_(patient, (r) => (r.text = { div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' })), 'required', 'Patient.text.status'],
  ['text.div not a div', with_(patient, (r) => (r.text = { status: 'generated', div: 'hello' })), 'value', 'Patient.text.div'],
  // required bindings on code elements
  ['gender outside its value set', with_(patient, (r) => (r.gender = 'x')), 'code-invalid', 'Patient.gender'],
  ['status outside its value set', with_(observation, (r) => (r.status = 'done')), 'code-invalid', 'Observation.status'],
  // nested resources and recursive definitions
  ['contained without resourceType', with_(patient, (r) => (r.contained = [{ id: 'c' }])), 'required', 'Patient.contained[0].resourceType'],
  ['contained of unknown type', with_(patient, (r) => (r.contained = [{ resourceType: 'Foo' }])), 'value', 'Patient.contained[0].resourceType'],
  ['contained missing required element', with_(patient, (r) => (r.contained = [{ resourceType: 'Observation', code: { text: 'x' } }])), 'required', 'Patient.contained[0].status'],
  ['contained with unknown element', with_(patient, (r) => (r.contained = [{ resourceType: 'Organization', foo: 1 }])), 'structure', 'Patient.contained[0].foo'],
  ['Bundle entry resource invalid', { resourceType: 'Bundle', type: 'collection', entry: [{ resource: with_(patient, (r) => (r.birthDate = 'x')) }] }, 'value', 'Bundle.entry[0].resource.birthDate'],
  ['contentReference recursion', { resourceType: 'Questionnaire', status: 'draft', item: [{ linkId: '1', type: 'group', item: [{ linkId: '2', type: 'string', foo: 1 }] }] }, 'structure', 'Questionnaire.item[0].item[0].foo'],
  ['extension value of the wrong JSON type', with_(patient, (r) => (r.extension = [{ url: 'http://x', valueDecimal: 'x' }])), 'structure', 'Patient.extension[0].valueDecimal'],
  ['primitive extension content', with_(patient, (r) => (r._birthDate = { extension: [{ url: 'http://x', valueInteger: 'a' }] })), 'structure', 'Patient.birthDate.extension[0].valueInteger'],
  ['deep datatype element', with_(patient, (r) => (r.managingOrganization = { identifier: { assigner: { foo: 1 } } })), 'structure', 'Patient.managingOrganization.identifier.assigner.foo'],
];

// Object rows: with array rows of uneven length jest would pass a `done` callback as `opts`.
const invalidRows = invalid.map(([name, resource, code, expression, opts]) => ({ name, resource, code, expression, opts }));

describe('validateResource rejects invalid resources', () => {
  it.each(invalidRows)('$name', ({ resource, code, expression, opts }) => {
    const err = rejection(resource, opts);
    expect(err.status).toBe(400);
    expect(err.issues.map((i) => [i.severity, i.code, i.expression?.[0]])).toEqual([['error', code, expression]]);
    expect(err.issues[0].diagnostics).toEqual(expect.any(String));
  });
});

describe('validateResource collects all problems', () => {
  it('reports every defect, each with its own expression', () => {
    const r = with_(patient, (p) => {
      p.birthDate = '2020-13-01';
      p.name[0].given = ['a', 5];
      p.foo = 1;
      p.gender = 'x';
    });
    const err = rejection(r);
    expect(err.issues.map((i) => i.expression?.[0]).sort()).toEqual(
      ['Patient.birthDate', 'Patient.foo', 'Patient.gender', 'Patient.name[0].given[1]'],
    );
  });

  it(`stops at ${MAX_ISSUES} issues`, () => {
    const r: Json = patient();
    for (let i = 0; i < 150; i++) r[`bogus${i}`] = i;
    expect(rejection(r).issues).toHaveLength(MAX_ISSUES);
  });
});

const valid: [string, Json, ValidateOptions?][] = [
  ['a minimal Patient', { resourceType: 'Patient' }],
  ['a Patient with id checks', patient(), { expectedType: 'Patient', expectedId: 'p1', requireId: true }],
  ['an Observation with a quantity', observation()],
  ['primitive extensions and null-aligned arrays', with_(patient, (r) => {
    r.name[0].given = ['Jane', null];
    r.name[0]._given = [null, { extension: [{ url: 'http://example.org/x', valueCode: 'masked' }] }];
    r._birthDate = { id: 'bd', extension: [{ url: 'http://example.org/t', valueTime: '10:30:00' }] };
  })],
  ['a value-less primitive satisfying a required element', with_(observation, (r) => {
    delete r.status;
    r._status = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] };
  })],
  ['Unicode spaces in strings', with_(patient, (r) => (r.name[0].family = 'Le\u00a0Guin'))],
  ['meta and narrative', with_(patient, (r) => {
    r.meta = { versionId: '1', lastUpdated: '2020-01-01T00:00:00.000Z', tag: [{ system: 'http://x', code: 'y' }] };
    r.text = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jane</div>' };
  })],
  ['a contained resource', with_(patient, (r) => {
    r.contained = [{ resourceType: 'Organization', id: 'org', name: 'Acme' }];
    r.managingOrganization = { reference: '#org' };
  })],
  ['a transaction Bundle', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{ fullUrl: 'urn:uuid:0b6c5b0e-8f5d-4e0e-9d46-6a2f1f7a1b10', resource: patient(), request: { method: 'POST', url: 'Patient' } }],
  }],
  ['a nested Questionnaire', {
    resourceType: 'Questionnaire',
    status: 'active',
    item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'decimal', required: true }] }],
  }],
  ['a MedicationRequest with dosage', {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { text: 'aspirin' },
    subject: { reference: 'Patient/p1' },
    dosageInstruction: [{ timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } }, doseAndRate: [{ doseQuantity: { value: 81, unit: 'mg' } }] }],
  }],
  ['a Binary with whitespace in base64', { resourceType: 'Binary', contentType: 'text/plain', data: 'SGVs bG8h\nSGVsbG8h' }],
];

const validRows = valid.map(([name, resource, opts]) => ({ name, resource, opts }));

describe('validateResource accepts valid resources', () => {
  it.each(validRows)('$name', ({ resource, opts }) => {
    expect(() => validateResource(resource, opts)).not.toThrow();
  });
});

describe('resource types', () => {
  it('lists the R4 resource types from the definitions', () => {
    const types = resourceTypes();
    expect(types).toHaveLength(146);
    expect(types).toEqual(expect.arrayContaining(['Patient', 'Observation', 'Bundle', 'ValueSet']));
    expect(isResourceType('Patient')).toBe(true);
    for (const t of ['Resource', 'DomainResource', 'HumanName', 'SubscriptionStatus', 'Project', 'patient']) {
      expect(isResourceType(t)).toBe(false);
    }
  });
});

import { SYNTHEA_DIR } from '../helpers/synthea.js';

describe('Synthea R4 sample', () => {
  it('validates every resource of 5 bundles without error', () => {
    const files = existsSync(SYNTHEA_DIR) ? readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json.gz')).sort() : [];
    if (files.length === 0) {
      console.log(`Synthea check skipped: no *.json.gz bundles in ${SYNTHEA_DIR}`);
      return;
    }
    let count = 0;
    for (const file of files.slice(0, 5)) {
      const bundle = JSON.parse(gunzipSync(readFileSync(join(SYNTHEA_DIR, file))).toString('utf8'));
      for (const entry of bundle.entry) {
        const issues = (() => {
          try {
            validateResource(entry.resource, { requireId: true });
            return [];
          } catch (err) {
            return err instanceof FhirError ? err.issues : [String(err)];
          }
        })();
        expect({ file, id: entry.resource.id, issues }).toEqual({ file, id: entry.resource.id, issues: [] });
        count++;
      }
    }
    expect(count).toBeGreaterThan(0);
  });
});
