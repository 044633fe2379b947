import type { Knex } from 'knex';

/**
 * Every Provenance whose `target` names `type/id` (any version), found through the reference index.
 * Typed loosely on purpose: tests read whichever Provenance elements they check.
 */
export async function provenancesTargeting(knex: Knex, type: string, id: string): Promise<{ target: { reference: string }[]; [k: string]: any }[]> {
  const rows = await knex('search_reference as r')
    .join('resources as p', 'p.rid', 'r.rid')
    .where({ 'r.resource_type': 'Provenance', 'r.code': 'target', 'r.target_type': type, 'r.target_id': id })
    .select('p.content');
  return rows.map((r: { content: string }) => JSON.parse(r.content));
}
