import type { Knex } from 'knex';
import type { Database } from '../server/db/connect.js';

/**
 * Patient opt-out of API access: a patient who opts out stops every token that carries
 * them as the patient in context, at once (the token check reads this table), and no
 * new authorization in their context succeeds until they opt back in.
 */

export const OPT_OUT_TABLE = 'smart_patient_opt_outs';

/** Migration 0003. */
export async function createOptOutTable(knex: Knex): Promise<void> {
  await knex.schema.createTable(OPT_OUT_TABLE, (t) => {
    t.string('patient_id', 64).primary();
    t.bigInteger('opted_out_at').notNullable();
    /** Who recorded it (an operator's note, a user id …), for the audit trail. */
    t.string('recorded_by', 255);
  });
}

export async function dropOptOutTable(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(OPT_OUT_TABLE);
}

export interface OptOut {
  patientId: string;
  optedOutAt: Date;
  recordedBy?: string;
}

/** Records an opt-out (again is harmless). */
export async function optOut(knex: Knex, patientId: string, recordedBy?: string): Promise<void> {
  await knex(OPT_OUT_TABLE).insert({ patient_id: patientId, opted_out_at: Date.now(), recorded_by: recordedBy ?? null }).onConflict('patient_id').ignore();
}

/** Removes an opt-out; true when there was one. */
export async function optIn(knex: Knex, patientId: string): Promise<boolean> {
  return (await knex(OPT_OUT_TABLE).where({ patient_id: patientId }).delete()) > 0;
}

export async function listOptOuts(knex: Knex): Promise<OptOut[]> {
  const rows = (await knex(OPT_OUT_TABLE).select('*').orderBy('opted_out_at')) as { patient_id: string; opted_out_at: number | string; recorded_by: string | null }[];
  return rows.map((r) => ({ patientId: r.patient_id, optedOutAt: new Date(Number(r.opted_out_at)), recordedBy: r.recorded_by ?? undefined }));
}

const SQL = `select 1 as x from ${OPT_OUT_TABLE} where patient_id = ?`;

/** True when the patient opted out; on SQLite read on the read-only connection, as the token check is. */
export async function hasOptedOut(db: Database, patientId: string): Promise<boolean> {
  if (db.reader) return db.reader.get(SQL, [patientId]) !== undefined;
  return (await db.knex(OPT_OUT_TABLE).where({ patient_id: patientId }).first()) !== undefined;
}
