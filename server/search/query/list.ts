import { badRequest } from '../../errors.js';
import { isResourceId } from '../../fhir/ids.js';
import { clip } from '../normalize.js';
import { isReady } from '../readiness.js';
import { SEARCH_TABLES } from '../schema.js';
import { currentResources } from './chain.js';
import { unescapeValue } from './params.js';
import { localTarget, ownerKey, type Owner, type QB, type QueryEnv, type Where } from './sql.js';

/**
 * `_list`: https://hl7.org/fhir/R4/search.html#list. `Patient?_list=42` selects the
 * resources of the searched type that List/42 refers to in `List.entry.item`, read from
 * the index rows of List's own `item` reference parameter. Those rows exist only for
 * current Lists, so a deleted or unknown List selects nothing. Several ids (a comma)
 * mean any of the Lists. Functional lists (`$current-allergies`) would need a server
 * that maintains them, which this one does not.
 */

/** List's reference parameter over `List.entry.item`. */
const ITEM = 'item';

/** `42` or `List/42`; 400 for a functional list or anything else. */
function listId(raw: string, param: string): string {
  const text = unescapeValue(raw);
  if (text.startsWith('$')) {
    throw badRequest(`${param}: functional lists such as "${clip(text, 100)}" are not supported by this server; give the id of a List resource`, param, 'not-supported');
  }
  const id = text.startsWith('List/') ? text.slice('List/'.length) : text;
  if (!isResourceId(id)) throw badRequest(`${param}: "${clip(text, 100)}" is not the id of a List`, param, 'value');
  return id;
}

/** The condition of `_list=ids` on `owner`. */
export function listWhere(env: QueryEnv, owner: Owner, modifier: string | undefined, raws: string[], param: string): Where {
  if (modifier !== undefined) throw badRequest(`${param}: _list takes no modifier`, param, 'not-supported');
  const ids = raws.map((raw) => listId(raw, param));
  if (!isReady('List', ITEM)) {
    throw badRequest(`${param}: _list cannot be used yet: the index of List.entry.item is being rebuilt after a change of its definition`, param, 'not-supported');
  }
  const h = env.alias('l');
  const members = function (this: QB): void {
    const table = `${SEARCH_TABLES.reference} as ${h}`;
    if (owner.type !== undefined) this.select(`${h}.target_id`).from(table).where(`${h}.target_type`, owner.type);
    else this.select(`${h}.target_type`, `${h}.target_id`).from(table);
    const lists = env.alias('r');
    this.where(`${h}.resource_type`, 'List').where(`${h}.code`, ITEM);
    this.whereIn(`${h}.rid`, function (this: QB) {
      this.select(`${lists}.rid`).from(`resources as ${lists}`).where(`${lists}.resource_type`, 'List').whereIn(`${lists}.id`, ids);
    });
    localTarget(this, h, env.baseUrl);
    // A List the caller may not read must not tell which resources it holds.
    if (env.visible) this.whereIn(`${h}.rid`, currentResources(env, { alias: env.alias('r'), type: 'List' }, ['List'], () => undefined, true));
  };
  return (qb) => void qb.whereIn(ownerKey(owner) as string, members);
}
