import { loadConfig, type Config } from '../../server/config.js';
import { connect, type Database } from '../../server/db/connect.js';
import { migrate } from '../../server/db/migrations.js';

/**
 * What every authorization command does around its work: read the configuration, open
 * and migrate the database the server uses (so the command may run first), and close it
 * whatever happens.
 */
export async function withDatabase<T>(fn: (config: Config, db: Database) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = connect(config.databaseUrl);
  try {
    await migrate(db.knex);
    return await fn(config, db);
  } finally {
    await db.close();
  }
}
