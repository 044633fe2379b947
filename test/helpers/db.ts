import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory from 'knex';
import { connect, type Database, type Engine } from '../../server/db/connect.js';

/** The engines a storage suite runs on: SQLite always, PostgreSQL when KILN_TEST_DATABASE_URL is set. */
export function engines(): Engine[] {
  if (process.env.KILN_TEST_DATABASE_URL) return ['sqlite', 'postgres'];
  if (!announced) {
    announced = true;
    console.log('PostgreSQL suites skipped: set KILN_TEST_DATABASE_URL=postgres://... to run them');
  }
  return ['sqlite'];
}
let announced = false;

export interface TestDatabase {
  db: Database;
  /** The DATABASE_URL a child process uses to open the same database. */
  url: string;
  schema?: string;
  drop(): Promise<void>;
}

/** A fresh, empty database: a temporary SQLite file, or a new PostgreSQL schema. */
export async function freshDatabase(engine: Engine): Promise<TestDatabase> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-test-'));
    const url = `sqlite:${join(dir, 'kiln.sqlite')}`;
    const db = connect(url);
    return { db, url, drop: async () => { await db.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const base = process.env.KILN_TEST_DATABASE_URL as string;
  const schema = `kiln_test_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: base });
  await admin.raw(`create schema "${schema}"`);
  await admin.destroy();
  const db = connect(base, { schema });
  const url = withSchema(base, schema);
  return {
    db,
    url,
    schema,
    drop: async () => {
      await db.close();
      const cleanup = knexFactory({ client: 'pg', connection: base });
      await cleanup.raw(`drop schema if exists "${schema}" cascade`);
      await cleanup.destroy();
    },
  };
}

/** A PostgreSQL URL whose connections use `schema` (libpq `options=-c search_path=...`). */
function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.href;
}
