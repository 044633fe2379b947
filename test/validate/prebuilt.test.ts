import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { expandValueSets } from '../../server/validate/bindings.js';
import { readDefinitions } from '../../server/validate/definitions.js';
import { requiredCodeValueSets } from '../../server/validate/model.js';
import { fingerprint, readPrebuilt } from '../../server/validate/prebuilt.js';

/**
 * The validator's definitions as the build saves them (server/validate/prebuilt.ts):
 * the compiled server loads them instead of parsing the package, so they must be what
 * parsing the package gives, and must not be used for another package.
 */

/** What `npm run build` wrote (`npm install` and `npm ci` build). */
const SAVED = new URL('../../dist/validator-definitions.v8', import.meta.url);

describe('prebuilt validator definitions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-prebuilt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hold what the sources read from the installed package', () => {
    const saved = readPrebuilt(SAVED);
    if (!saved) throw new Error(`${SAVED.pathname} is missing or was made from another package: run npm run build`);
    const defs = readDefinitions();
    expect(saved.defs).toEqual(defs);
    expect(saved.codeSets).toEqual(expandValueSets(requiredCodeValueSets(defs)));
    expect(saved.codeSets.get('http://hl7.org/fhir/ValueSet/administrative-gender')).toEqual(new Set(['male', 'female', 'other', 'unknown']));
  });

  it('are left unused when made from another package, or unreadable', () => {
    expect(readPrebuilt(SAVED, `${fingerprint()} changed`)).toBeUndefined();
    const garbage = join(dir, 'garbage.v8');
    writeFileSync(garbage, 'not a serialized value');
    expect(readPrebuilt(pathToFileURL(garbage))).toBeUndefined();
    expect(readPrebuilt(pathToFileURL(join(dir, 'missing.v8')))).toBeUndefined();
  });

  it('are what the compiled validator loads', async () => {
    const compiled = (await import(new URL('../../dist/server/validate/prebuilt.js', import.meta.url).href)) as typeof import('../../server/validate/prebuilt.js');
    expect(compiled.prebuilt()?.fingerprint).toBe(fingerprint());
  });
});
