import type { Logger } from 'pino';
import type { Config } from './config.js';
import { connect, type Database } from './db/connect.js';
import { migrate } from './db/migrations.js';
import { ResourceStore } from './db/store.js';
import { inTransaction } from './db/transaction.js';
import { createLogger } from './log.js';
import { restoreAtStart } from './search/deferred-indexes.js';
import { startSearchReadiness } from './search/readiness-sync.js';
import { SERVER_DEVICE_RESOURCE } from './service/provenance.js';
import { ResourceService } from './service/resources.js';
import { WriteSession } from './service/types.js';

/**
 * What every command that reads or writes resources needs: the database (migrated),
 * the resource service and the search readiness, without the HTTP server and the
 * SMART authorization server that `createApp` adds on top. `kiln import` and `kiln seed`
 * open only this, so they neither load the server's modules nor make its signing keys.
 */
export interface Core {
  db: Database;
  resources: ResourceService;
  log: Logger;
  close(): Promise<void>;
}

export interface CoreOptions {
  /** An open database to use instead of connecting to `config.databaseUrl`; `close()` leaves it open. */
  db?: Database;
  log?: Logger;
}

export async function openCore(config: Config, opts: CoreOptions = {}): Promise<Core> {
  const log = opts.log ?? createLogger(config.logLevel);
  const db = opts.db ?? connect(config.databaseUrl);
  await migrate(db.knex);
  // Query indexes an import killed meanwhile left out (search/deferred-indexes.ts).
  const indexes = await restoreAtStart(db, log);
  const searchReadiness = await startSearchReadiness(config, db, log);
  const resources = new ResourceService(db, new ResourceStore(db), { autoProvenance: config.autoProvenance });
  await ensureServerDevice(resources);
  return {
    db,
    resources,
    log,
    close: async () => {
      indexes.stop();
      searchReadiness.stop();
      if (!opts.db) await db.close();
    },
  };
}

/** Creates the server's own Device (the Provenance agent of unauthenticated writes) once. */
async function ensureServerDevice(resources: ResourceService): Promise<void> {
  const id = SERVER_DEVICE_RESOURCE.id as string;
  if (await resources.store.read(resources.db.knex, 'Device', id)) return;
  try {
    await inTransaction(resources.db, (trx) => resources.create(new WriteSession(trx, new Date().toISOString()), SERVER_DEVICE_RESOURCE, id));
  } catch (err) {
    // Another process starting at the same moment created it first.
    if (!(await resources.store.read(resources.db.knex, 'Device', id))) throw err;
  }
}
