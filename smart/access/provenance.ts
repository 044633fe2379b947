/**
 * The one special case of the row rules: Provenance
 * (https://hl7.org/fhir/R4/provenance.html).
 *
 * The Patient CompartmentDefinition puts a Provenance in a patient's compartment only through
 * `Provenance.patient` (https://hl7.org/fhir/R4/compartmentdefinition-patient.html), but the
 * Provenance this server records for every write names what was written in `target` alone.
 * Read by the letter, a `patient/Provenance.rs` token would then never see the Provenance of
 * its own patient's data. So for reading, a patient scope's compartment restriction on
 * Provenance is widened to: in the compartment, OR some `target` points at a row the token
 * may read (of that row's own type, by every scope the token has). The scope's search
 * filter, if any, still applies on top.
 */
import { localTarget, type QB, type QueryEnv } from '../../server/search/query/sql.js';
import { SEARCH_TABLES } from '../../server/search/schema.js';
import { anyRule, type RowRule } from './conditions.js';

/**
 * "Some local `target` of the Provenance `r` is a row passing `readable`."
 *
 * The subquery joins the target row as `r` again, on purpose: SQL resolves a name to the
 * innermost FROM that defines it, so `readable` — written, like every rule, for alias `r` —
 * is about the target row inside the subquery, while the outer `r.rid` stays the Provenance.
 * Uncorrelated, so each engine builds the set of Provenance keys once.
 */
export function provenanceTargetRows(env: QueryEnv, readable: RowRule): RowRule {
  if (readable === 'none') return 'none';
  const f = env.alias('pt');
  const targets = function (this: QB): void {
    this.select(`${f}.rid`)
      .from(`${SEARCH_TABLES.reference} as ${f}`)
      .join('resources as r', (j) => j.on('r.resource_type', `${f}.target_type`).andOn('r.id', `${f}.target_id`))
      .where(`${f}.resource_type`, 'Provenance')
      .where(`${f}.code`, 'target');
    localTarget(this, f, env.baseUrl);
    if (readable !== 'all') this.where((w: QB) => readable(w));
  };
  return (qb) => void qb.whereIn('r.rid', targets);
}

/** The compartment rows of a patient scope on Provenance, widened by the targets rule (see the module comment). */
export function provenancePatientRows(env: QueryEnv, compartment: RowRule, readable: RowRule): RowRule {
  return anyRule([compartment, provenanceTargetRows(env, readable)]);
}
