import { parseArgs } from 'node:util';
import { listOptOuts, optIn, optOut } from '../optout.js';
import { withDatabase } from './database.js';
import { isResourceId } from '../../server/fhir/ids.js';

const USAGE = `Usage: kiln patients opt-out PATIENT_ID [--by NOTE]
       kiln patients opt-in PATIENT_ID
       kiln patients opt-outs

opt-out stops, at once, every access token that carries the patient in its context,
and refuses new authorizations for them; opt-in lifts it. opt-outs lists them as JSON.`;

/** `kiln patients`: a patient's opt-out of access through apps. */
export async function runPatients(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  let parsed: { values: { by?: string }; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: { by: { type: 'string' } }, allowPositionals: true });
  } catch (err) {
    console.error(`kiln: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const id = parsed.positionals[0];
  const wantsId = sub === 'opt-out' || sub === 'opt-in';
  if (!['opt-out', 'opt-in', 'opt-outs'].includes(sub) || (wantsId && (!id || !isResourceId(id)))) {
    console.error(`kiln: ${wantsId ? 'a Patient id is needed' : `unknown patients command "${sub ?? ''}"`}\n\n${USAGE}`);
    return 2;
  }
  const list = await withDatabase(async (_config, db) => {
    if (sub === 'opt-out') await optOut(db.knex, id, parsed.values.by);
    if (sub === 'opt-in' && !(await optIn(db.knex, id))) console.error(`kiln: Patient ${id} had not opted out`);
    return listOptOuts(db.knex);
  });
  console.log(JSON.stringify(list, null, 2));
  return 0;
}
