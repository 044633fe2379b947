import type { Patient } from 'fhir/r4';
import type { Database } from '../../server/db/connect.js';
import { planSearch, runSearch } from '../../server/search/query/index.js';
import { isResourceId } from '../../server/fhir/ids.js';

/** One row of the patient picker. */
export interface PatientChoice {
  id: string;
  name: string;
  birthDate?: string;
  gender?: string;
  identifier?: string;
}

/** A readable name: the official (or first) name's given and family parts. */
export function patientName(p: Patient): string {
  const name = p.name?.find((n) => n.use === 'official') ?? p.name?.[0];
  if (!name) return `Patient ${p.id ?? ''}`.trim();
  return name.text ?? [...(name.given ?? []), name.family ?? ''].join(' ').trim();
}

/** Patients for the picker: the first 50 by name match (`name=` search), or the first 50 by id. */
export async function findPatients(db: Database, baseUrl: string, q: string | undefined): Promise<PatientChoice[]> {
  const query: Record<string, string[]> = { _count: ['50'] };
  if (q && q.trim()) query.name = [q.trim()];
  const plan = planSearch({ types: ['Patient'], query, baseUrl, lenient: true, postgres: db.engine === 'postgres', defaultCount: 50, maxCount: 50 });
  const result = await runSearch(db.knex, plan, baseUrl);
  return result.matches.map((row) => {
    const p = JSON.parse(row.content) as Patient;
    return { id: row.id, name: patientName(p), birthDate: p.birthDate, gender: p.gender, identifier: p.identifier?.[0]?.value };
  });
}

/** The Patient with this id, if it exists and is not deleted. */
export async function findPatient(db: Database, id: string): Promise<Patient | undefined> {
  if (!isResourceId(id)) return undefined;
  const row = (await db.knex('resources').select('content').where({ resource_type: 'Patient', id, deleted: false }).first()) as { content: string } | undefined;
  return row ? (JSON.parse(row.content) as Patient) : undefined;
}
