import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { connect, type Database } from '../db/connect.js';
import { migrate } from '../db/migrations.js';
import { ProgressLine } from '../import/progress.js';
import { stopOnSignals } from '../stop-signals.js';
import { isResourceType } from '../validate/index.js';
import { applySearchParameterConfig } from './custom-params.js';
import { syncSearchParamStatus } from './readiness-sync.js';
import { readStatusRows } from './readiness-table.js';
import { reindex, type ReindexOptions, type ReindexSummary } from './reindex.js';
import { ReindexBusyError } from './reindex-lease.js';

const USAGE = `Usage: kiln reindex [--type T]... [--all] [--batch-size N] [--max-batches N] [--status]

Rebuilds the search index of stored resources. Without options it completes the search
parameters that wait for their index (new or changed definitions; see --status):
searches using them are refused until then. A stopped run (Ctrl-C, --max-batches, or a
killed process) goes on where it stopped when run again. Servers may keep serving the
database meanwhile. The database comes from DATABASE_URL, custom search parameters from
KILN_SEARCH_PARAMETERS (give it the same value as the servers).

  --type T          only resources of type T (repeatable)
  --all             rebuild every parameter, not only those waiting (of the --type types,
                    else of every type); searches using them are refused until it is done
  --batch-size N    resources per transaction (default 500)
  --max-batches N   stop after N batches
  --status          list the parameters that wait, and change nothing else
  -h, --help        show this help`;

interface Parsed {
  opts: ReindexOptions;
  status: boolean;
}

function whole(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9]\d{0,6}$/.test(raw)) throw new Error(`--${name} takes a whole number from 1, got "${raw}"`);
  return Number(raw);
}

function parse(args: string[]): Parsed | 'help' {
  const { values } = parseArgs({
    args,
    options: {
      type: { type: 'string', multiple: true },
      all: { type: 'boolean' },
      'batch-size': { type: 'string' },
      'max-batches': { type: 'string' },
      status: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  for (const t of values.type ?? []) if (!isResourceType(t)) throw new Error(`--type: "${t}" is not a resource type`);
  const opts: ReindexOptions = { types: values.type, all: values.all, batchSize: whole('batch-size', values['batch-size']), maxBatches: whole('max-batches', values['max-batches']) };
  return { opts, status: values.status === true };
}

/**
 * `kiln reindex`: exit code 0 when done (or stopped by `--max-batches`), 1 when another
 * reindex runs, 2 for a usage error, 130 or 143 when SIGINT or SIGTERM stopped it with
 * work left (run it again to go on). A progress line on stderr when it is a terminal; the
 * summary on stdout.
 */
export async function runReindex(args: string[]): Promise<number> {
  let parsed: Parsed | 'help';
  try {
    parsed = parse(args);
  } catch (err) {
    console.error(`kiln reindex: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  const config = loadConfig();
  applySearchParameterConfig(config);
  const db = connect(config.databaseUrl);
  try {
    await migrate(db.knex);
    return parsed.status ? await status(db) : await run(db, parsed.opts);
  } finally {
    await db.close();
  }
}

async function status(db: Database): Promise<number> {
  await syncSearchParamStatus(db);
  const waiting = (await readStatusRows(db.knex)).filter((r) => r.state !== 'ready');
  if (waiting.length === 0) console.log('every search parameter is ready');
  for (const r of waiting) console.log(`${r.resource_type}.${r.code} waits since ${r.updated_at}${r.cursor_id ? ` (done up to id ${r.cursor_id})` : ''}`);
  return 0;
}

async function run(db: Database, opts: ReindexOptions): Promise<number> {
  const progress = process.stderr.isTTY ? new ProgressLine(process.stderr) : undefined;
  // Ctrl-C or SIGTERM stops after the batch in flight (exit 130 or 143); a second one at once.
  const stopping = stopOnSignals('reindex', 'stopping after the batch being written', () => progress?.clear());
  try {
    const summary = await reindex(db, { ...opts, stopRequested: () => stopping.signal.aborted, onProgress: progress && ((p) => progress.count(p.type, p.done, p.total, p.startedAt)) });
    progress?.finish();
    console.log(summaryLine(summary));
    return stopping.signal.aborted && summary.pending.length > 0 ? stopping.exitCode() : 0;
  } catch (err) {
    progress?.finish();
    if (!(err instanceof ReindexBusyError)) throw err;
    console.error(`kiln reindex: ${err.message}`);
    return 1;
  } finally {
    stopping.remove();
  }
}

/** `reindexed N resources of T types in S s (R/s); K search parameters ready[; P still waiting …]` */
export function summaryLine(s: ReindexSummary): string {
  if (s.resources === 0 && s.ready.length === 0 && s.pending.length === 0) return 'nothing to reindex: every search parameter is ready';
  const rate = s.seconds > 0 ? Math.round(s.resources / s.seconds) : s.resources;
  let line = `reindexed ${s.resources} resources of ${s.types.length} types in ${s.seconds.toFixed(1)} s (${rate}/s); ${s.ready.length} search parameters ready`;
  if (s.pending.length > 0) line += `; ${s.pending.length} still waiting (run kiln reindex again to go on)`;
  return line;
}
