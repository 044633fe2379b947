import type { Knex } from 'knex';
import { insertSql, runRows } from './bulk.js';
import { DATA_VERSION_COLUMN, type Database, type Engine } from './connect.js';
import { AUTH_VERSION_COLUMN, AUTH_VERSION_SQL } from './auth-version.js';

/** One stored version of a resource, as kept in `resources` and `resource_history`. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  /** UTC instant with milliseconds, `YYYY-MM-DDTHH:mm:ss.sssZ`. */
  lastUpdated: string;
  deleted: boolean;
  /** The resource's JSON text, `meta.versionId` and `meta.lastUpdated` included. */
  content: string;
}

export interface HistoryVersion extends StoredVersion {
  seq: number;
  method: string;
}

/** A version about to be written; `method` is the HTTP verb that made it. */
export interface NewVersion extends StoredVersion {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
}

export type Executor = Knex | Knex.Transaction;

export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  /** Only versions updated at or after this instant. */
  since?: string;
  /** Only versions current at some time within [start, end]. */
  at?: { start: string; end: string };
  /** Keyset cursor: only versions with a smaller sequence number. */
  beforeSeq?: number;
  count: number;
  /** An extra condition on the history rows (alias `h`), such as which resources an access token may see. */
  restrict?: (query: Knex.QueryBuilder) => void;
}

interface Row {
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: string;
  deleted: boolean | number;
  content: string;
  seq?: number | string;
  method?: string;
}

const COLUMNS = ['resource_type', 'id', 'version_id', 'last_updated', 'deleted', 'content'];

const READ_SQL = `select ${COLUMNS.map((c) => `"${c}"`).join(', ')} from "resources" where "resource_type" = ? and "id" = ?`;

/**
 * The same on SQLite's reader, also reporting `data_version` (see `Reader`): a token check
 * that answered from memory confirms with it that nothing changed meanwhile.
 */
const READER_READ_SQL = `select ${COLUMNS.map((c) => `"${c}"`).join(', ')}, (select data_version from pragma_data_version) as ${DATA_VERSION_COLUMN} from "resources" where "resource_type" = ? and "id" = ?`;

/**
 * The same on PostgreSQL outside a transaction, also reporting the authorization state's
 * version (db/auth-version.ts): always one row, with null columns when there is no such
 * resource, so that a 404 carries the version too (and a null version, never a lost
 * read, should its row be gone).
 */
const VERSIONED_READ_SQL =
  `select ${COLUMNS.map((c) => `r."${c}"`).join(', ')}, ${AUTH_VERSION_SQL} as ${AUTH_VERSION_COLUMN} ` +
  `from (values (1)) as one (x) left join "resources" r on r."resource_type" = ? and r."id" = ?`;

function fromRow(r: Row): StoredVersion {
  return {
    resourceType: r.resource_type,
    id: r.id,
    versionId: Number(r.version_id),
    lastUpdated: r.last_updated,
    deleted: Boolean(r.deleted),
    content: r.content,
  };
}

/** Ids per `IN` list of `readMany`: well under SQLite's and PostgreSQL's bind-parameter limits. */
const CHUNK = 500;

function versionValues(v: StoredVersion): Knex.Value[] {
  return [v.resourceType, v.id, v.versionId, v.lastUpdated, v.deleted, v.content];
}

/** Rows per multi-row statement of `write` (bulk.ts `runRows`); 64 rows bind 448 values. */
const WRITE_ROWS = [64, 8, 1] as const;

const HISTORY_COLUMNS = [...COLUMNS, 'method'];

/**
 * The JSON of a resource's current version is kept once, in `resources`: its history row
 * holds `CURRENT` in place of the content, and receives the content when a newer version
 * supersedes it (`moveToHistorySql`). No resource's JSON is ever empty, and a deletion's
 * row holds a stub resource, so the empty string marks nothing else. History rows
 * written before this rule hold their content whether current or not, and read alike.
 * An import's every resource was stored twice before: the same text in both tables was
 * two fifths of the database file and of what its commits wrote.
 */
const CURRENT = '';

/**
 * Moves the content of the superseded versions `(type, id, version)` from `resources`
 * into their history rows, before the new versions replace it there. A row that holds
 * its content already (written before the rule above) is left as it is.
 */
function moveToHistorySql(rows: number): string {
  const h = '"resource_history"';
  const versions = new Array<string>(rows).fill(`(${h}."resource_type" = ? and ${h}."id" = ? and ${h}."version_id" = ?)`).join(' or ');
  return (
    `update ${h} set "content" = r."content" from "resources" r ` +
    `where r."resource_type" = ${h}."resource_type" and r."id" = ${h}."id" and r."version_id" = ${h}."version_id" ` +
    `and ${h}."content" = '' and (${versions})`
  );
}

/** A history row's content: its own, or, while it is the current version, the current row's (`CURRENT`). */
const HISTORY_CONTENT = `case when h."content" = '' then r."content" else h."content" end`;

/**
 * Current versions are upserted, reporting each row's key. `RETURNING` is in both
 * engines (SQLite since 3.35); rows are matched back by type and id, since neither
 * promises to return them in the order of VALUES.
 */
const UPSERT =
  `on conflict ("resource_type", "id") do update set ` +
  ['version_id', 'last_updated', 'deleted', 'content'].map((c) => `"${c}" = excluded."${c}"`).join(', ') +
  ` returning "resource_type", "id", "rid"`;

/**
 * The resource tables: current versions in `resources`, every version in
 * `resource_history`. Knows SQL, not FHIR; the service layer decides what to write.
 */
export class ResourceStore {
  private readonly engine: Engine;

  constructor(private readonly database: Database) {
    this.engine = database.engine;
  }

  /** The current version (possibly a deletion), or undefined when the id was never used. */
  async read(db: Executor, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    // The hottest query of the server. Outside a transaction, SQLite answers it from the
    // read-only connection without knex; otherwise fixed SQL text skips knex's compiler.
    const { reader } = this.database;
    if (reader && db === this.database.knex) {
      const row = reader.get(READER_READ_SQL, [resourceType, id]) as Row | undefined;
      return row ? fromRow(row) : undefined;
    }
    const watch = this.database.authVersion;
    if (watch && db === this.database.knex) {
      const rows = await watch.rows(async () => ((await db.raw(VERSIONED_READ_SQL, [resourceType, id])) as { rows: Row[] }).rows);
      return rows[0] && rows[0].id !== null ? fromRow(rows[0]) : undefined;
    }
    const result = await db.raw(READ_SQL, [resourceType, id]);
    const rows: Row[] = Array.isArray(result) ? result : result.rows;
    return rows.length ? fromRow(rows[0]) : undefined;
  }

  /** Like `read`, inside a write transaction; on PostgreSQL it locks the row until commit. */
  async readForUpdate(trx: Knex.Transaction, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    const q = trx('resources').select(COLUMNS).where({ resource_type: resourceType, id });
    const row = await (this.engine === 'postgres' ? q.forUpdate() : q).first();
    return row ? fromRow(row) : undefined;
  }

  /** Current versions of many resources at once, keyed `Type/id`. */
  async readMany(db: Executor, keys: { resourceType: string; id: string }[]): Promise<Map<string, StoredVersion>> {
    const out = new Map<string, StoredVersion>();
    const byType = new Map<string, string[]>();
    for (const k of keys) byType.set(k.resourceType, [...(byType.get(k.resourceType) ?? []), k.id]);
    for (const [type, ids] of byType) {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const rows: Row[] = await db('resources')
          .select(COLUMNS)
          .where('resource_type', type)
          .whereIn('id', ids.slice(i, i + CHUNK));
        for (const r of rows) out.set(`${r.resource_type}/${r.id}`, fromRow(r));
      }
    }
    return out;
  }

  /** One historical version, or undefined. */
  async vread(db: Executor, resourceType: string, id: string, versionId: number): Promise<StoredVersion | undefined> {
    const row = await historyRows(db)
      .where({ 'h.resource_type': resourceType, 'h.id': id, 'h.version_id': versionId })
      .first();
    return row ? fromRow(row) : undefined;
  }

  /**
   * Appends versions to the history and makes them current, in multi-row statements.
   * Resolves to each version's resource key (`rid`, db/keys.ts), in the order given: the
   * key the resource got when first stored, or a new one.
   */
  async write(trx: Knex.Transaction, versions: readonly NewVersion[]): Promise<number[]> {
    // Versions superseded by these, then the new ones; a version superseded within
    // `versions` itself keeps its content, as it is never current.
    const superseded = versions.flatMap((v) => (v.versionId > 1 ? [v.resourceType, v.id, v.versionId - 1] : []));
    await runRows(trx, superseded, 3, WRITE_ROWS, moveToHistorySql);
    const last = new Map<string, number>();
    versions.forEach((v, i) => last.set(`${v.resourceType}/${v.id}`, i));
    const history = versions.flatMap((v, i) => {
      const content = last.get(`${v.resourceType}/${v.id}`) === i ? CURRENT : v.content;
      return [v.resourceType, v.id, v.versionId, v.lastUpdated, v.deleted, content, v.method];
    });
    await runRows(trx, history, HISTORY_COLUMNS.length, WRITE_ROWS, (rows) => insertSql('resource_history', HISTORY_COLUMNS, rows));
    const current = await runRows(trx, versions.flatMap(versionValues), COLUMNS.length, WRITE_ROWS, (rows) => insertSql('resources', COLUMNS, rows, UPSERT));
    const keys = new Map<string, number>();
    for (const r of current as { resource_type: string; id: string; rid: number | string }[]) keys.set(`${r.resource_type}/${r.id}`, Number(r.rid));
    return versions.map((v) => keys.get(`${v.resourceType}/${v.id}`) as number);
  }

  /**
   * Versions newest first, for the history interactions (instance, type, system).
   * See: https://hl7.org/fhir/R4/http.html#history
   */
  async history(db: Executor, q: HistoryQuery): Promise<HistoryVersion[]> {
    const query = historyRows(db)
      .select('h.seq', 'h.method')
      .orderBy('h.seq', 'desc')
      .limit(q.count);
    if (q.resourceType) query.where('h.resource_type', q.resourceType);
    if (q.id) query.where('h.id', q.id);
    if (q.since) query.where('h.last_updated', '>=', q.since);
    if (q.beforeSeq !== undefined) query.where('h.seq', '<', q.beforeSeq);
    if (q.restrict) query.where((w) => q.restrict?.(w));
    if (q.at) {
      const { start, end } = q.at;
      query.where('h.last_updated', '<=', end).whereNotExists(function superseded() {
        this.select(db.raw('1'))
          .from('resource_history as n')
          .whereRaw('n.resource_type = h.resource_type and n.id = h.id and n.version_id = h.version_id + 1')
          .where('n.last_updated', '<=', start);
      });
    }
    const rows: Row[] = await query;
    return rows.map((r) => ({ ...fromRow(r), seq: Number(r.seq), method: r.method ?? 'PUT' }));
  }
}

/** History rows (alias `h`) with the columns of `StoredVersion`, the content of current versions read from `resources`. */
function historyRows(db: Executor): Knex.QueryBuilder {
  return db('resource_history as h')
    .leftJoin('resources as r', function current() {
      this.on('r.resource_type', 'h.resource_type').andOn('r.id', 'h.id').andOn('r.version_id', 'h.version_id');
    })
    .select([...COLUMNS.filter((c) => c !== 'content').map((c) => `h.${c}`), db.raw(`${HISTORY_CONTENT} as "content"`)]);
}
