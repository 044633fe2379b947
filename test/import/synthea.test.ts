import { existsSync } from 'node:fs';
import type { Knex } from 'knex';
import { engines } from '../helpers/db.js';
import { SYNTHEA_DIR } from '../helpers/synthea.js';
import { harness, type ImportHarness } from './fixtures.js';

/**
 * The whole shared Synthea set (90 patient transaction Bundles plus the
 * `hospitalInformation*` and `practitionerInformation*` Bundles), imported in-process.
 * Counts are those of the shared data's README.md; Synthea repeats Organizations and
 * Practitioners in the patient files, which the import stores once.
 */
const SYNTHEA = SYNTHEA_DIR;
const present = existsSync(SYNTHEA);
if (!present) console.log(`Synthea import test skipped: ${SYNTHEA} does not exist`);

const FILES = 92;
const ENTRIES = 35878;
/** Resource counts of the data README. */
const README_COUNTS: Record<string, number> = {
  Observation: 15051,
  Claim: 5608,
  Encounter: 3376,
  ExplanationOfBenefit: 3376,
  MedicationRequest: 2232,
  Procedure: 2159,
  Immunization: 1140,
  DiagnosticReport: 846,
  Condition: 583,
  Organization: 426,
  Practitioner: 426,
  CareTeam: 254,
  CarePlan: 254,
  Patient: 90,
  AllergyIntolerance: 38,
  ImagingStudy: 15,
  Device: 4,
};
/** Entries that repeat a resource another file holds too (same fullUrl, same id). */
const REPEATED: Record<string, number> = { Organization: 223, Practitioner: 223 };
/** The server's own Device (the Provenance agent), created with the database. */
const SERVER_OWN: Record<string, number> = { Device: 1 };

const suite = present ? describe.each(engines()) : describe.skip.each(engines());

suite('kiln import of the Synthea set (%s)', (engine) => {
  let h: ImportHarness;

  beforeAll(async () => {
    h = await harness(engine);
  }, 60_000);
  afterAll(async () => h?.close());

  it('loads every resource once, with every reference resolving', async () => {
    const summary = await h.run([SYNTHEA]);
    expect(summary.failed.map((f) => f.failure?.message)).toEqual([]);
    expect(summary.files).toHaveLength(FILES);
    expect(summary.resources).toBe(ENTRIES);
    for (const [type, n] of Object.entries(README_COUNTS)) {
      expect([type, await h.count(type)]).toEqual([type, n - (REPEATED[type] ?? 0) + (SERVER_OWN[type] ?? 0)]);
    }
    expect(await h.count('Provenance')).toBe(FILES);
    expect(await danglingReferences(h.database.db.knex)).toEqual([]);
  }, 300_000);

  it('writes nothing new on a second run', async () => {
    const versions = await h.versions();
    const summary = await h.run([SYNTHEA]);
    expect(summary).toMatchObject({ resources: ENTRIES, written: 0, failed: [] });
    expect(await h.versions()).toBe(versions);
    expect(await h.count('Provenance')).toBe(FILES);
  }, 300_000);
});

/** Every `reference` of every stored resource that is a `urn:` or a `Type/id` naming nothing stored. */
async function danglingReferences(knex: Knex): Promise<string[]> {
  const keys = new Set((await knex('resources').select('resource_type', 'id')).map((r: { resource_type: string; id: string }) => `${r.resource_type}/${r.id}`));
  const bad: string[] = [];
  let after = ['', ''];
  for (;;) {
    const rows: { resource_type: string; id: string; content: string }[] = await knex('resources')
      .select('resource_type', 'id', 'content')
      .whereRaw('(resource_type, id) > (?, ?)', after)
      .orderBy(['resource_type', 'id'])
      .limit(2000);
    if (rows.length === 0) return bad;
    for (const row of rows) {
      for (const ref of row.content.match(/"reference":"[^"]*"/g) ?? []) {
        const value = ref.slice('"reference":"'.length, -1);
        if (value.startsWith('#')) continue;
        const target = value.replace(/\/_history\/.*$/, '');
        if (value.startsWith('urn:') || !keys.has(target)) bad.push(`${row.resource_type}/${row.id} -> ${value}`);
      }
    }
    const last = rows[rows.length - 1];
    after = [last.resource_type, last.id];
  }
}
