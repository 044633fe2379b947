import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import { AuthVersionWatch } from './auth-version.js';

/** The two storage engines; one schema and one query builder serve both. */
export type Engine = 'sqlite' | 'postgres';

export interface Database {
  knex: Knex;
  engine: Engine;
  /**
   * SQLite only: a second, read-only connection for single-row reads outside any
   * transaction. In WAL mode it sees every committed write and never waits for the
   * writer; the main connection may be inside another request's transaction.
   */
  reader?: Reader;
  /**
   * PostgreSQL only: the versions of the authorization state that statements of this
   * process saw (db/auth-version.ts), the token check's proof that nothing changed.
   */
  authVersion?: AuthVersionWatch;
  /** How to open the same database from another thread or process; undefined for an in-memory SQLite database. */
  location?: DatabaseLocation;
  close(): Promise<void>;
}

/** What `connect` was given: enough to open another connection to the same database. */
export interface DatabaseLocation {
  url: string;
  schema?: string;
}

/**
 * The location of the database `connect(databaseUrl, { schema })` opens, known before
 * opening it; undefined for an in-memory SQLite database, which no other connection sees.
 */
export function databaseLocation(databaseUrl: string, schema?: string): DatabaseLocation | undefined {
  if (databaseUrl.startsWith('sqlite:')) return sqliteFilename(databaseUrl) === ':memory:' ? undefined : { url: databaseUrl };
  return { url: databaseUrl, schema };
}

function sqliteFilename(url: string): string {
  const path = url.slice('sqlite:'.length);
  return path === ':memory:' || path === '' ? ':memory:' : resolve(path);
}

/**
 * SQLite's read-only connection (see `Database.reader`).
 *
 * It also tracks `PRAGMA data_version`, which changes whenever another connection (of
 * this process or another) commits, so an unchanged value proves that nothing read
 * before has changed since. The value only grows. Besides `version()`, any statement
 * that selects it as a `kiln_data_version` column reports it: a hot query can carry the
 * check instead of paying a statement of its own (see `unchangedSince`).
 */
export interface Reader {
  get(sql: string, params: unknown[]): unknown;
  /** `PRAGMA data_version`, read now. */
  version(): number;
  /** A mark of this moment, for `unchangedSince`. */
  mark(): number;
  /**
   * True when a statement run after `mark` was taken saw `version`: nothing committed
   * between the moment `version` was read and that statement, which ran after the mark.
   * False means unknown: ask `version()`.
   */
  unchangedSince(mark: number, version: number): boolean;
}

/** The column name under which a statement on the reader reports `data_version`. */
export const DATA_VERSION_COLUMN = 'kiln_data_version';

const DATA_VERSION_SQL = `select data_version as ${DATA_VERSION_COLUMN} from pragma_data_version`;

export interface ConnectOptions {
  /** PostgreSQL schema to use (tests give each suite its own). */
  schema?: string;
  /** Largest PostgreSQL pool size. */
  poolMax?: number;
}

/**
 * Opens the database named by `DATABASE_URL`: `sqlite:PATH` (better-sqlite3, WAL mode)
 * or `postgres://...`.
 *
 * SQLite runs in WAL mode so readers never block the writer and another process
 * (`kiln import` next to `kiln serve`) sees each commit at once. `synchronous=NORMAL`
 * in WAL mode loses no committed transaction when the process dies; only a power cut
 * may lose the last commits (see docs/operations.md). One connection per process:
 * better-sqlite3 is synchronous, so more connections would only let two writers in
 * the same process wait on each other while blocking the event loop.
 */
export function connect(databaseUrl: string, opts: ConnectOptions = {}): Database {
  if (databaseUrl.startsWith('sqlite:')) return connectSqlite(databaseUrl);
  return connectPostgres(databaseUrl, opts);
}

function connectSqlite(url: string): Database {
  const filename = sqliteFilename(url);
  if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      idleTimeoutMillis: 2 ** 31 - 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) {
        cacheStatements(conn);
        conn.pragma('journal_mode = WAL');
        conn.pragma('synchronous = NORMAL');
        conn.pragma('busy_timeout = 10000');
        conn.pragma('foreign_keys = OFF');
        conn.pragma('cache_size = -65536');
        // Savepoints (one per batch entry; per imported file once a file of the group has
        // failed) and multi-row statements keep the original of each page they change in a
        // statement journal; in a temporary file that was a system call or two per page.
        // In memory it lives as long as the savepoint or statement.
        conn.pragma('temp_store = MEMORY');
        done(null, conn);
      },
    },
  });
  const reader = filename === ':memory:' ? undefined : openReader(filename);
  return {
    knex,
    engine: 'sqlite',
    reader,
    location: databaseLocation(url),
    close: async () => {
      reader?.close();
      await knex.destroy();
    },
  };
}

/** Opens the read-only connection once the file exists (knex creates it on first use). */
function openReader(filename: string) {
  const require = createRequire(import.meta.url);
  const BetterSqlite3 = require('better-sqlite3') as new (f: string, o: object) => {
    prepare(sql: string): { get(...p: unknown[]): unknown };
    pragma(s: string): unknown;
    close(): void;
  };
  let db: InstanceType<typeof BetterSqlite3> | undefined;
  const statements = new Map<string, { get(...p: unknown[]): unknown }>();
  // The latest data_version seen, and how many statements had reported one by then.
  let seen = 0;
  let seenVersion = -1;
  const reader: Reader & { close(): void } = {
    get(sql: string, params: unknown[]) {
      if (!db) {
        db = new BetterSqlite3(filename, { readonly: true, fileMustExist: true });
        db.pragma('busy_timeout = 10000');
      }
      let stmt = statements.get(sql);
      if (!stmt) statements.set(sql, (stmt = db.prepare(sql)));
      const row = stmt.get(...params) as Record<string, unknown> | undefined;
      const v = row?.[DATA_VERSION_COLUMN];
      if (typeof v === 'number') {
        seen++;
        seenVersion = v;
      }
      return row;
    },
    version() {
      return (this.get(DATA_VERSION_SQL, []) as Record<string, number>)[DATA_VERSION_COLUMN];
    },
    mark() {
      return seen;
    },
    unchangedSince(mark: number, version: number) {
      return seen > mark && seenVersion === version;
    },
    close() {
      db?.close();
    },
  };
  return reader;
}

interface SqliteConnection {
  pragma(s: string): unknown;
  prepare(sql: string): unknown;
}

/** Prepared statements kept per connection; the server runs a few dozen distinct ones. */
const STATEMENT_CACHE = 256;

/**
 * knex prepares every statement anew; better-sqlite3 statements can be reused, and
 * preparing costs more than running a primary-key read. Caching them by SQL text on
 * the connection makes repeated queries (reads, inserts of full chunks) skip the parse.
 * knex runs each statement to completion before the next, so sharing one is safe.
 */
function cacheStatements(conn: SqliteConnection): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    let stmt = cache.get(sql);
    if (stmt === undefined) {
      stmt = prepare(sql);
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value as string);
      cache.set(sql, stmt);
    }
    return stmt;
  };
}

function connectPostgres(url: string, opts: ConnectOptions): Database {
  const knex = knexFactory({
    client: 'pg',
    // A runaway query is cancelled rather than left to hold a connection and a core.
    connection: { connectionString: url, statement_timeout: 120_000 },
    searchPath: opts.schema ? [opts.schema] : undefined,
    pool: { min: 0, max: opts.poolMax ?? 10 },
  });
  return { knex, engine: 'postgres', authVersion: new AuthVersionWatch(), location: databaseLocation(url, opts.schema), close: () => knex.destroy() };
}
