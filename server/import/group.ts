import type { Knex } from 'knex';
import type { Database } from '../db/connect.js';
import { takeWriteLock } from '../db/transaction.js';

/**
 * Group commit for `kiln import`: consecutive files (and NDJSON chunks) share one
 * database transaction, each inside a savepoint of its own.
 *
 * Every commit writes each page the transaction changed to SQLite's WAL (PostgreSQL:
 * its WAL, flushed). The search index B-trees are keyed by random ids, so one Synthea
 * file dirties thousands of pages and a commit per file writes the same hot pages over
 * and over: committing every ~13 files instead cut the write volume, and the import
 * time, by about half (docs/benchmarks.md).
 *
 * The promises of one transaction per file still hold, because each file runs in a
 * savepoint (https://sqlite.org/lang_savepoint.html,
 * https://www.postgresql.org/docs/current/sql-savepoint.html): a failing file is rolled
 * back to its savepoint and leaves nothing of itself, the files before it stay. Files are
 * reported as committed only once the group's transaction has committed, so a process
 * killed at any moment loses nothing it reported.
 *
 * A group closes after `maxResources` resources or `maxMs` milliseconds, whichever comes
 * first: on SQLite the open transaction holds the write lock, so a `kiln serve` on the
 * same database waits at most about that long to write.
 */
export class CommitGroup<P> {
  private trx?: Knex.Transaction;
  private resources = 0;
  private openedAt = 0;
  private pending: P[] = [];

  constructor(
    private readonly db: Database,
    private readonly maxResources: number,
    private readonly maxMs = 1000,
  ) {}

  /**
   * Runs `fn` in a savepoint of the group's transaction (opened on first use), counting
   * `resources` towards the group's size; `done` is kept until the group commits. If
   * `fn` throws, its savepoint is rolled back and the error goes to the caller.
   */
  async run<T>(resources: number, fn: (trx: Knex.Transaction) => Promise<T>, done: (result: T) => P): Promise<T> {
    const trx = await this.open();
    const result = await trx.transaction((sp) => fn(sp));
    this.resources += resources;
    this.pending.push(done(result));
    return result;
  }

  /** True once the group is big or old enough to commit. */
  get due(): boolean {
    return this.trx !== undefined && (this.resources >= this.maxResources || Date.now() - this.openedAt >= this.maxMs);
  }

  /**
   * Commits the group's transaction. Resolves to what each `run` of the group left to
   * report; if the commit fails, nothing of the group is stored and the error is thrown
   * with the pending entries attached (`CommitFailed`).
   */
  async commit(): Promise<P[]> {
    const { trx, pending } = this.take();
    if (!trx) return pending;
    try {
      await trx.commit();
    } catch (err) {
      await trx.rollback().catch(() => undefined);
      throw new CommitFailed(err, pending);
    }
    return pending;
  }

  /** Rolls back an open group (after an unexpected error). */
  async abandon(): Promise<void> {
    const { trx } = this.take();
    if (trx && !trx.isCompleted()) await trx.rollback().catch(() => undefined);
  }

  /** The open transaction and what waits on it; the group is empty afterwards. */
  private take(): { trx?: Knex.Transaction; pending: P[] } {
    const taken = { trx: this.trx, pending: this.pending };
    this.trx = undefined;
    this.pending = [];
    this.resources = 0;
    return taken;
  }

  private async open(): Promise<Knex.Transaction> {
    if (this.trx) return this.trx;
    // Errors of a manually finished transaction are reported by commit() and abandon().
    const trx = await this.db.knex.transaction(null, { doNotRejectOnRollback: true });
    await takeWriteLock(this.db, trx);
    this.trx = trx;
    this.openedAt = Date.now();
    return trx;
  }
}

/** A group's commit failed: none of `pending` was stored. */
export class CommitFailed<P> extends Error {
  constructor(
    override readonly cause: unknown,
    readonly pending: P[],
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}
