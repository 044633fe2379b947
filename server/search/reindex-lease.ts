import { randomUUID } from 'node:crypto';
import type { Database } from '../db/connect.js';
import { EPOCH_TABLE } from './readiness-table.js';

/**
 * One `kiln reindex` at a time per database: a lease on the `search_param_epoch` row,
 * renewed after every batch. A reindex that was killed holds it until it lapses
 * ({@link LEASE_MS}); one stopped with Ctrl-C gives it back at once.
 */

/** How long a lease lasts without renewal. */
export const LEASE_MS = 30_000;

/** Thrown when another reindex holds the lease. */
export class ReindexBusyError extends Error {
  constructor(readonly until: string) {
    super(`another kiln reindex is running on this database (its lease lasts until ${until}; a reindex that was killed gives it up then)`);
    this.name = 'ReindexBusyError';
  }
}

export class ReindexLease {
  private readonly owner = randomUUID();

  constructor(private readonly db: Database) {}

  /** Takes the lease, or throws {@link ReindexBusyError}. */
  async claim(): Promise<void> {
    const now = new Date();
    const taken = await this.db
      .knex(EPOCH_TABLE)
      .where('id', 1)
      .where((w) => w.whereNull('lease_owner').orWhere('lease_until', '<', now.toISOString()))
      .update({ lease_owner: this.owner, lease_until: until(now) });
    if (taken === 1) return;
    const row = (await this.db.knex(EPOCH_TABLE).select('lease_until').where('id', 1).first()) as { lease_until: string | null } | undefined;
    throw new ReindexBusyError(row?.lease_until ?? 'unknown');
  }

  /** Extends the lease; throws when another reindex took it over after it lapsed. */
  async renew(): Promise<void> {
    const kept = await this.db.knex(EPOCH_TABLE).where({ id: 1, lease_owner: this.owner }).update({ lease_until: until(new Date()) });
    if (kept !== 1) throw new Error('kiln reindex: the lease on the search index was lost to another reindex; stopping');
  }

  async release(): Promise<void> {
    await this.db.knex(EPOCH_TABLE).where({ id: 1, lease_owner: this.owner }).update({ lease_owner: null, lease_until: null });
  }
}

function until(now: Date): string {
  return new Date(now.getTime() + LEASE_MS).toISOString();
}
