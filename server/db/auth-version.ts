/**
 * PostgreSQL's counterpart of SQLite's `PRAGMA data_version` for the token check: a
 * one-row table whose `version` grows, in the same transaction, with every change that
 * can make a checked access token stop working (a revoked token or grant, a disabled
 * client or user, a patient's opt-out; the triggers are in `smart/db/auth-version.ts`,
 * migration `0010_auth_version`). A token's answer read together with `version` stays
 * true for as long as a later snapshot shows the same `version`.
 *
 * The FHIR API's hottest statements (a read by id, a search's page) select `version` as
 * a column of their own, so that a GET whose token was checked before proves the answer
 * still holds with the statement it runs anyway, instead of a round trip for the check
 * (`smart/bearer.ts`).
 */

/** The table; its one row has `id = 1`. */
export const AUTH_VERSION_TABLE = 'kiln_auth_version';

/** The column name under which a statement reports the version. */
export const AUTH_VERSION_COLUMN = 'kiln_auth_version';

/** A scalar subquery for the version, to select as `AUTH_VERSION_COLUMN`. */
export const AUTH_VERSION_SQL = `(select "version" from "${AUTH_VERSION_TABLE}" where "id" = 1)`;

/**
 * The versions statements of this process saw, in the order they were sent.
 *
 * Only statements outside any transaction may report: PostgreSQL takes their snapshot
 * when they start, which is after `rows` was called. A statement of a transaction
 * begun earlier could show an older state (at REPEATABLE READ its snapshot is its
 * transaction's first).
 */
export class AuthVersionWatch {
  /** Statements begun so far. */
  private begun = 0;
  /** The latest-begun statement that reported, and what it saw. */
  private latest = 0;
  private latestVersion: number | undefined;

  /**
   * Sends the statement `run` starts, which selects the version as `AUTH_VERSION_COLUMN`,
   * and records what its first row saw (none, or a null version, records nothing).
   */
  async rows<T>(run: () => PromiseLike<T[]>): Promise<T[]> {
    const ticket = ++this.begun;
    const rows = await run();
    const version = (rows[0] as Record<string, unknown> | undefined)?.[AUTH_VERSION_COLUMN];
    if (ticket > this.latest && version !== undefined && version !== null) {
      this.latest = ticket;
      this.latestVersion = Number(version);
    }
    return rows;
  }

  /** A mark of this moment, for `unchangedSince`. */
  mark(): number {
    return this.begun;
  }

  /**
   * True when the latest statement begun after `mark` that reported saw `version`: the
   * authorization state of that statement's snapshot, taken after the mark, is the one
   * `version` was read with. False means unknown.
   */
  unchangedSince(mark: number, version: number): boolean {
    return this.latest > mark && this.latestVersion === version;
  }
}
