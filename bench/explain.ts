/**
 * The query plan of a search's page statement, as the database will run it: SQLite's
 * `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS)`. Used by
 * `bench/search.ts --explain` so the benchmark notes can show which indexes each search
 * uses (https://sqlite.org/eqp.html, https://www.postgresql.org/docs/current/using-explain.html).
 */
import type { Database } from '../server/db/connect.js';
import { planSearch } from '../server/search/query/plan.js';
import { pageQuery } from '../server/search/query/run.js';

/** The plan of `GET [base]/{type}?{query}` (a URL's path and query after the base). */
export async function explainSearch(db: Database, baseUrl: string, request: string): Promise<string> {
  const [type, text = ''] = request.split('?');
  const query: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(text)) (query[k] ??= []).push(v);
  const postgres = db.engine === 'postgres';
  const plan = planSearch({ types: [type], query, baseUrl, lenient: false, postgres, defaultCount: 20, maxCount: 1000 });
  const { sql, bindings } = pageQuery(db.knex, plan).toSQL();
  if (postgres) {
    const out = (await db.knex.raw(`explain (analyze, buffers, costs off) ${sql}`, bindings as never)) as { rows: { 'QUERY PLAN': string }[] };
    return out.rows.map((r) => r['QUERY PLAN']).join('\n');
  }
  const rows = (await db.knex.raw(`explain query plan ${sql}`, bindings as never)) as { id: number; parent: number; detail: string }[];
  const depth = new Map<number, number>([[0, -1]]);
  return rows
    .map((r) => {
      const d = (depth.get(r.parent) ?? 0) + 1;
      depth.set(r.id, d);
      return `${'  '.repeat(d)}${r.detail}`;
    })
    .join('\n');
}
