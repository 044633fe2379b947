import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { engines } from '../helpers/db.js';
import { fhirFetch, startTestApp, storedCounts, type TestApp } from '../helpers/app.js';

/**
 * JSON Patch documents a server must refuse without writing: malformed ones are 400,
 * well-formed ones that cannot be applied to the resource are 422
 * (https://www.rfc-editor.org/rfc/rfc6902#section-5, https://hl7.org/fhir/R4/http.html#patch).
 * Many came from fuzzing, where they used to be answered with 500 or, worse, applied.
 */
interface Case {
  name: string;
  patch: unknown;
  status: 400 | 422;
  /** Index of the operation the outcome must name; absent when the document is not an array. */
  op?: number;
  /** Text the diagnostics must contain, such as the pointer at fault. */
  says?: string;
  /** An expression one of the issues must carry. */
  expression?: string;
}

const JSON_PATCH = 'application/json-patch+json';
const patient = {
  resourceType: 'Patient',
  id: 'p1',
  gender: 'female',
  name: [{ family: 'Known', given: ['Ada'] }, { family: 'Second' }],
};

const cases: Case[] = [
  // Malformed patch documents (400)
  { name: 'not an array', patch: { op: 'remove', path: '/name' }, status: 400, says: 'array of operations' },
  { name: 'an operation that is a number', patch: [1], status: 400, op: 0, says: 'a number' },
  { name: 'an operation that is null', patch: [null], status: 400, op: 0, says: 'null' },
  { name: 'an operation that is an array', patch: [[]], status: 400, op: 0, says: 'an array' },
  { name: 'unknown op', patch: [{ op: 'frobnicate', path: '/name' }], status: 400, op: 0, says: '"frobnicate"' },
  { name: 'library-internal op _get', patch: [{ op: '_get', path: '/name' }], status: 400, op: 0, says: '"_get"' },
  { name: 'op in the wrong case', patch: [{ op: 'Remove', path: '/name' }], status: 400, op: 0, says: '"Remove"' },
  { name: 'missing op', patch: [{ path: '/name' }], status: 400, op: 0, says: '"op"' },
  { name: 'missing path', patch: [{ op: 'remove' }], status: 400, op: 0, says: '"path"' },
  { name: 'path that is a number', patch: [{ op: 'remove', path: 5 }], status: 400, op: 0, says: '"path"' },
  { name: 'path without a leading slash', patch: [{ op: 'remove', path: 'name' }], status: 400, op: 0, says: 'not a JSON Pointer' },
  { name: 'path with a bad ~ escape', patch: [{ op: 'add', path: '/a~2b', value: 1 }], status: 400, op: 0, says: '"/a~2b"' },
  { name: 'path ending in ~', patch: [{ op: 'remove', path: '/name~' }], status: 400, op: 0, says: '"/name~"' },
  { name: 'move without from', patch: [{ op: 'move', path: '/name' }], status: 400, op: 0, says: '"from"' },
  { name: 'copy with a from that is not a pointer', patch: [{ op: 'copy', from: 'name', path: '/x' }], status: 400, op: 0, says: '"from"' },
  { name: 'add without value', patch: [{ op: 'add', path: '/active' }], status: 400, op: 0, says: '"value" is missing' },
  { name: 'test without value', patch: [{ op: 'test', path: '/gender' }], status: 400, op: 0, says: '"value" is missing' },
  { name: 'a malformed second operation after a good first', patch: [{ op: 'replace', path: '/gender', value: 'male' }, { op: 'oops', path: '/x' }], status: 400, op: 1, says: '"oops"' },
  // Prototype paths: inherited JavaScript properties are never members (422)
  { name: 'add under /__proto__', patch: [{ op: 'add', path: '/__proto__/x', value: 1 }], status: 422, op: 0, says: '"/__proto__" does not exist' },
  { name: 'add /__proto__ itself', patch: [{ op: 'add', path: '/__proto__', value: {} }], status: 422, op: 0, says: '"/__proto__"' },
  { name: 'replace /name/__proto__', patch: [{ op: 'replace', path: '/name/__proto__', value: {} }], status: 422, op: 0, says: '"/name/__proto__" does not exist', expression: 'Patient.name' },
  { name: 'remove /name/0/__proto__/x', patch: [{ op: 'remove', path: '/name/0/__proto__/x' }], status: 422, op: 0, says: '"/name/0/__proto__" does not exist' },
  { name: 'copy from /constructor/prototype to the root', patch: [{ op: 'copy', from: '/constructor/prototype', path: '' }], status: 422, op: 0, says: '"/constructor" does not exist', expression: 'Patient.constructor' },
  { name: 'move /name/constructor to the end of /name', patch: [{ op: 'move', from: '/name/constructor', path: '/name/-' }], status: 422, op: 0, says: '"/name/constructor" does not exist' },
  { name: 'remove /toString', patch: [{ op: 'remove', path: '/toString' }], status: 422, op: 0, says: '"/toString" does not exist' },
  { name: 'move /name/length to /name/0', patch: [{ op: 'move', from: '/name/length', path: '/name/0' }], status: 422, op: 0, says: '"/name/length" does not exist' },
  { name: 'remove /name/0/hasOwnProperty', patch: [{ op: 'remove', path: '/name/0/hasOwnProperty' }], status: 422, op: 0, says: '"/name/0/hasOwnProperty" does not exist' },
  { name: 'test /valueOf', patch: [{ op: 'test', path: '/valueOf', value: {} }], status: 422, op: 0, says: '"/valueOf" does not exist' },
  // Pointers that do not reach anything (422)
  { name: 'move /name into /name/0', patch: [{ op: 'move', from: '/name', path: '/name/0' }], status: 422, op: 0, says: 'own children' },
  { name: 'move /meta into /meta/versionId', patch: [{ op: 'move', from: '/meta', path: '/meta/versionId' }], status: 422, op: 0, says: 'own children' },
  { name: 'move /name into /name/0/family', patch: [{ op: 'move', from: '/name', path: '/name/0/family' }], status: 422, op: 0, says: 'own children' },
  { name: 'copy from a missing /x/y to the root', patch: [{ op: 'copy', from: '/x/y', path: '' }], status: 422, op: 0, says: '"/x" does not exist' },
  { name: 'an escaped member name that is not there', patch: [{ op: 'remove', path: '/a~1b~0c' }], status: 422, op: 0, says: '"/a~1b~0c" does not exist' },
  { name: 'remove a missing member', patch: [{ op: 'remove', path: '/birthDate' }], status: 422, op: 0, says: '"/birthDate" does not exist', expression: 'Patient.birthDate' },
  { name: 'remove past the end of an array', patch: [{ op: 'remove', path: '/name/5' }], status: 422, op: 0, says: '"/name/5" does not exist', expression: 'Patient.name[5]' },
  { name: 'remove /name/- (no such element)', patch: [{ op: 'remove', path: '/name/-' }], status: 422, op: 0, says: '"/name/-"' },
  { name: 'array index with a leading zero', patch: [{ op: 'replace', path: '/name/01', value: { family: 'X' } }], status: 422, op: 0, says: '"01" is not an index' },
  { name: 'add past the end of an array', patch: [{ op: 'add', path: '/name/3', value: { family: 'X' } }], status: 422, op: 0, says: 'the index must be 0 to 2' },
  { name: 'move to an index the remove left out of range', patch: [{ op: 'move', from: '/name/0', path: '/name/2' }], status: 422, op: 0, says: 'the index must be 0 to 1' },
  { name: 'add under a string', patch: [{ op: 'add', path: '/gender/x', value: 1 }], status: 422, op: 0, says: 'is a string' },
  { name: 'add under a missing parent', patch: [{ op: 'add', path: '/contact/0/name', value: {} }], status: 422, op: 0, says: '"/contact" does not exist' },
  { name: 'a failing second operation after a good first', patch: [{ op: 'replace', path: '/gender', value: 'male' }, { op: 'remove', path: '/toString' }], status: 422, op: 1, says: '"/toString"' },
  // Results that are not this resource (422)
  { name: 'replace the root with null', patch: [{ op: 'replace', path: '', value: null }], status: 422, op: 0, says: 'not a JSON object' },
  { name: 'remove the root', patch: [{ op: 'remove', path: '' }], status: 422, op: 0, says: 'not a JSON object' },
  { name: 'add null at the root', patch: [{ op: 'add', path: '', value: null }], status: 422, op: 0, says: 'not a JSON object' },
  { name: 'replace the root with an array', patch: [{ op: 'replace', path: '', value: [] }], status: 422, op: 0, says: 'an array' },
  { name: 'move a missing /x to the root', patch: [{ op: 'move', from: '/x', path: '' }], status: 422, op: 0, says: '"/x" does not exist' },
  { name: 'move a string to the root', patch: [{ op: 'move', from: '/gender', path: '' }], status: 422, op: 0, says: 'a string' },
  { name: 'replace the id', patch: [{ op: 'replace', path: '/id', value: 'p9' }], status: 422, op: 0, says: 'may not change id', expression: 'Patient.id' },
  { name: 'remove the id', patch: [{ op: 'remove', path: '/id' }], status: 422, op: 0, says: 'may not change id' },
  { name: 'replace the resourceType', patch: [{ op: 'replace', path: '/resourceType', value: 'Group' }], status: 422, op: 0, says: 'may not change resourceType', expression: 'resourceType' },
  { name: 'replace the root with another id', patch: [{ op: 'test', path: '/gender', value: 'female' }, { op: 'replace', path: '', value: { resourceType: 'Patient', id: 'p2' } }], status: 422, op: 1, says: 'may not change id' },
  { name: 'a failing test', patch: [{ op: 'test', path: '/gender', value: 'male' }], status: 422, op: 0, says: 'test failed' },
];

/** Patches that must keep working, each on its own fresh copy of the patient. */
const valid: { name: string; patch: unknown; expect: Record<string, unknown> }[] = [
  { name: 'move the second name first', patch: [{ op: 'move', from: '/name/1', path: '/name/0' }], expect: { name: [{ family: 'Second' }, { family: 'Known', given: ['Ada'] }] } },
  { name: 'append with -', patch: [{ op: 'add', path: '/name/-', value: { family: 'Third' } }], expect: { name: [...patient.name, { family: 'Third' }] } },
  { name: 'copy into a new member', patch: [{ op: 'copy', from: '/name/0/given', path: '/name/1/given' }], expect: { name: [patient.name[0], { family: 'Second', given: ['Ada'] }] } },
  { name: 'test then replace', patch: [{ op: 'test', path: '/gender', value: 'female' }, { op: 'replace', path: '/gender', value: 'other' }], expect: { gender: 'other' } },
  { name: 'add then remove a member', patch: [{ op: 'add', path: '/active', value: true }, { op: 'remove', path: '/active' }], expect: { gender: 'female' } },
  { name: 'replace the whole resource at the root', patch: [{ op: 'replace', path: '', value: { resourceType: 'Patient', id: 'ID', gender: 'male' } }], expect: { gender: 'male', name: undefined } },
  { name: 'move a member onto itself', patch: [{ op: 'move', from: '/gender', path: '/gender' }], expect: { gender: 'female' } },
];

const binary = (patch: unknown) => ({ resourceType: 'Binary', contentType: JSON_PATCH, data: Buffer.from(JSON.stringify(patch)).toString('base64') });
const patchEntry = (patch: unknown, url: string) => ({ resource: binary(patch), request: { method: 'PATCH', url } });
const bundleCases = cases.filter((c) => ['add under /__proto__', 'move /name into /name/0', 'replace the root with null', 'remove /toString', 'unknown op', 'remove past the end of an array'].includes(c.name));

describe.each(engines())('JSON Patch errors on %s', (engine) => {
  let t: TestApp;
  const counts = () => storedCounts(t);
  const read = async () => (await fhirFetch(t, 'Patient/p1')).body;
  const expectOutcome = (body: any, c: Case, entry?: number) => {
    expect(body?.resourceType).toBe('OperationOutcome');
    const text = body.issue.map((i: { diagnostics?: string }) => i.diagnostics ?? '').join(' ');
    if (entry !== undefined) expect(text).toContain(`Bundle.entry[${entry}]`);
    if (c.op !== undefined) expect(text).toContain(`JSON Patch operation ${c.op}`);
    if (c.says) expect(text).toContain(c.says);
    return body.issue.flatMap((i: { expression?: string[] }) => i.expression ?? []);
  };

  beforeAll(async () => {
    t = await startTestApp(engine);
    expect((await fhirFetch(t, 'Patient/p1', { method: 'PUT', body: patient })).status).toBe(201);
  });
  afterAll(() => t.stop());

  it.each(cases)('$name → $status', async (c) => {
    const before = await read();
    const writes = await counts();
    const res = await fhirFetch(t, 'Patient/p1', { method: 'PATCH', body: c.patch, headers: { 'content-type': JSON_PATCH } });
    expect(res.status).toBe(c.status);
    const expressions = expectOutcome(res.body, c);
    if (c.expression) expect(expressions).toContain(c.expression);
    expect(await read()).toEqual(before);
    expect(await counts()).toBe(writes);
  });

  it.each(bundleCases)('a transaction with a bad PATCH entry ($name) fails whole and writes nothing', async (c) => {
    const before = await read();
    const writes = await counts();
    const entry = [
      { resource: { resourceType: 'Patient', id: 'tx-other', gender: 'male' }, request: { method: 'PUT', url: 'Patient/tx-other' } },
      patchEntry(c.patch, 'Patient/p1'),
    ];
    const res = await fhirFetch(t, '', { method: 'POST', body: { resourceType: 'Bundle', type: 'transaction', entry } });
    expect(res.status).toBe(c.status);
    const expressions = expectOutcome(res.body, c, 1);
    // The entry's resource is the Binary holding the patch: the error points at the request, and names the element.
    if (c.expression) {
      expect(expressions).toEqual(['Bundle.entry[1].request.url']);
      expect(res.body.issue[0].diagnostics).toContain(c.expression);
    }
    expect(await read()).toEqual(before);
    expect(await counts()).toBe(writes);
    expect((await fhirFetch(t, 'Patient/tx-other')).status).toBe(404);
  });

  it.each(bundleCases)('a batch with a bad PATCH entry ($name) fails that entry only', async (c) => {
    const before = await read();
    const id = `batch-${bundleCases.indexOf(c)}`;
    const entry = [
      patchEntry(c.patch, 'Patient/p1'),
      { resource: { resourceType: 'Patient', id, gender: 'male' }, request: { method: 'PUT', url: `Patient/${id}` } },
    ];
    const res = await fhirFetch(t, '', { method: 'POST', body: { resourceType: 'Bundle', type: 'batch', entry } });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(new RegExp(`^${c.status}`));
    expectOutcome(res.body.entry[0].response.outcome, c, 0);
    expect(res.body.entry[1].response.status).toMatch(/^20[01]/);
    expect(await read()).toEqual(before);
  });

  it.each(valid)('still applies a valid patch: $name', async (v) => {
    const id = `ok-${valid.indexOf(v)}`;
    await fhirFetch(t, `Patient/${id}`, { method: 'PUT', body: { ...patient, id } });
    const patch = JSON.parse(JSON.stringify(v.patch).replace('"ID"', JSON.stringify(id)));
    const res = await fhirFetch(t, `Patient/${id}`, { method: 'PATCH', body: patch, headers: { 'content-type': JSON_PATCH } });
    expect(res.status).toBe(200);
    expect(res.body.meta.versionId).toBe('2');
    for (const [key, value] of Object.entries(v.expect)) expect(res.body[key]).toEqual(value);
  });
});
