import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createApp, type App } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';
import type { Engine } from '../../server/db/connect.js';
import { importPaths, type ImportOptions, type ImportSummary } from '../../server/import/importer.js';
import { TEST_SECRET_KEY } from '../helpers/app.js';
import { freshDatabase, type TestDatabase } from '../helpers/db.js';

/** Hand-made Bundles and NDJSON files for the import tests, and an app over a fresh database. */

export interface Entry {
  fullUrl?: string;
  resource: Record<string, unknown>;
  request?: { method: string; url: string };
}

/** A POST entry with a `urn:uuid:` fullUrl, as Synthea writes them. */
export function uuidEntry(resourceType: string, uuid: string, body: Record<string, unknown>): Entry {
  return { fullUrl: `urn:uuid:${uuid}`, resource: { resourceType, ...body }, request: { method: 'POST', url: resourceType } };
}

export function bundle(entries: Entry[], type = 'transaction'): Record<string, unknown> {
  return { resourceType: 'Bundle', type, entry: entries };
}

export const patient = (family: string) => ({ name: [{ family, given: ['Test'] }], gender: 'female', birthDate: '1970-01-01' });

export const observation = (subject: string, extra: Record<string, unknown> = {}) => ({
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: subject },
  valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  ...extra,
});

export const NPI = 'http://hl7.org/fhir/sid/us-npi';

export const practitioner = (npi: string, family = 'Doc') => ({ identifier: [{ system: NPI, value: npi }], name: [{ family }] });

export const encounter = (subject: string, practitionerRef: string) => ({
  status: 'finished',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  subject: { reference: subject },
  participant: [{ individual: { reference: practitionerRef } }],
});

export const uuid = (): string => randomUUID();

/** A temporary folder of import files. */
export class FileSet {
  readonly dir = mkdtempSync(join(tmpdir(), 'kiln-import-'));

  /** Writes a JSON file (gzip-compressed when the name ends in .gz); returns its path. */
  json(name: string, json: unknown): string {
    const text = JSON.stringify(json, null, 1);
    return this.write(name, text);
  }

  /** Writes an NDJSON file of the resources, one a line. */
  ndjson(name: string, resources: unknown[], extraLines: string[] = []): string {
    return this.write(name, [...resources.map((r) => JSON.stringify(r)), ...extraLines].join('\n') + '\n');
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private write(name: string, text: string): string {
    const path = join(this.dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, name.endsWith('.gz') ? gzipSync(text) : text);
    return path;
  }
}

/** The real application over a fresh database of `engine`, as the CLI builds it. */
export interface ImportHarness {
  app: App;
  database: TestDatabase;
  run(paths: string[], opts?: Partial<ImportOptions>): Promise<ImportSummary>;
  count(resourceType: string): Promise<number>;
  read(resourceType: string, id: string): Promise<Record<string, any> | undefined>;
  versions(): Promise<number>;
  close(): Promise<void>;
}

export async function harness(engine: Engine): Promise<ImportHarness> {
  const database = await freshDatabase(engine);
  const app = await createApp(loadConfig({ KILN_LOG_LEVEL: 'silent', KILN_SECRET_KEY: TEST_SECRET_KEY }), { db: database.db });
  const knex = database.db.knex;
  return {
    app,
    database,
    run: (paths, opts = {}) => importPaths(app, paths, { autoProvenance: true, ...opts }),
    count: async (type) => Number((await knex('resources').where({ resource_type: type, deleted: false }).count({ n: '*' }))[0].n),
    read: async (type, id) => {
      const row = await knex('resources').where({ resource_type: type, id }).first('content');
      return row ? JSON.parse(row.content) : undefined;
    },
    versions: async () => Number((await knex('resource_history').count({ n: '*' }))[0].n),
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}
