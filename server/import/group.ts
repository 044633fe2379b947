import type { Knex } from 'knex';
import type { Database } from '../db/connect.js';
import { takeWriteLock } from '../db/transaction.js';

/**
 * Group commit for `kiln import`: consecutive files (and NDJSON chunks) share one
 * database transaction.
 *
 * Every commit writes each page the transaction changed to SQLite's WAL (PostgreSQL:
 * its WAL, flushed). One Synthea file dirties thousands of index pages, and a commit
 * per file wrote the same hot pages over and over: committing every ~13 files instead
 * cut the write volume, and the import time, by about half (docs/benchmarks.md).
 *
 * The promises of one transaction per file still hold:
 * - A unit comes checked (prepare.ts: references resolved, resources validated): a file
 *   that fails its checks never reaches the group.
 * - A unit that fails while writing (`load`) would leave part of itself in the shared
 *   transaction. The group is then rolled back and its earlier units loaded again, each
 *   in a savepoint (https://sqlite.org/lang_savepoint.html,
 *   https://www.postgresql.org/docs/current/sql-savepoint.html), as is every unit after
 *   them until the next commit. So a failing file leaves nothing of itself and the
 *   files before it stay. Savepoints are not the rule because they are not free: SQLite
 *   keeps the original of every page a savepoint changes, which made the whole import
 *   a fifth slower.
 * - Units are reported as committed only once the group's transaction has committed, so
 *   a process killed at any moment loses nothing it reported.
 *
 * A group closes after `maxResources` resources or `maxMs` milliseconds, whichever comes
 * first: on SQLite the open transaction holds the write lock, so a `kiln serve` on the
 * same database waits at most about that long to write.
 */

/** One unit of work of a group: a Bundle file, or a chunk of an NDJSON file. */
export interface GroupUnit<T, P> {
  /** Resources it holds, counted towards the group's size. */
  resources: number;
  /** The writes. Runs again if another unit of the group fails while writing. */
  load: (trx: Knex.Transaction) => Promise<T>;
  /** What to report of it once the group has committed. */
  done: (result: T) => P;
  /** Called if it fails when loaded again (it failed the first time: `run` threw). */
  failed: (err: unknown) => void;
}

export class CommitGroup<P> {
  private trx?: Knex.Transaction;
  private resources = 0;
  private openedAt = 0;
  private units: { unit: GroupUnit<unknown, P>; result: unknown }[] = [];
  /** Each unit in a savepoint, after a failure, until the next commit. */
  private careful = false;

  constructor(
    private readonly db: Database,
    private readonly maxResources: number,
    private readonly maxMs = 1000,
  ) {}

  /**
   * Runs `unit` in the group's transaction (opened on first use). If it fails, nothing of
   * it stays, the group's other units do, and the error goes to the caller.
   */
  async run<T>(unit: GroupUnit<T, P>): Promise<T> {
    const trx = await this.open();
    let result: T;
    try {
      result = this.careful ? await trx.transaction((sp) => unit.load(sp)) : await unit.load(trx);
    } catch (err) {
      if (!this.careful) await this.recover();
      throw err;
    }
    this.resources += unit.resources;
    this.units.push({ unit: unit as GroupUnit<unknown, P>, result });
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
    const { trx, units } = this.take();
    const pending = units.map(({ unit, result }) => unit.done(result));
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

  /**
   * After a unit failed midway: rolls the group back and loads its earlier units again in
   * a new transaction, each in a savepoint (a unit that fails now is dropped and told).
   * The group stays careful until its next commit.
   */
  private async recover(): Promise<void> {
    const { trx, units } = this.take();
    if (trx && !trx.isCompleted()) await trx.rollback().catch(() => undefined);
    const again = await this.open();
    this.careful = true;
    for (const { unit } of units) {
      try {
        const result = await again.transaction((sp) => unit.load(sp));
        this.resources += unit.resources;
        this.units.push({ unit, result });
      } catch (err) {
        unit.failed(err);
      }
    }
  }

  /** The open transaction and what waits on it; the group is empty afterwards. */
  private take(): { trx?: Knex.Transaction; units: { unit: GroupUnit<unknown, P>; result: unknown }[] } {
    const taken = { trx: this.trx, units: this.units };
    this.trx = undefined;
    this.units = [];
    this.resources = 0;
    this.careful = false;
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
