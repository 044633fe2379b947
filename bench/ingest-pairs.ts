/**
 * Ingest, this build against another: `kiln import` of the shared Synthea set into a
 * fresh SQLite database, alternately by this checkout's compiled command and by another
 * checkout's (an earlier commit, built), pair after pair.
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci)
 *   node --import tsx bench/ingest-pairs.ts --against /tmp/before [--pairs 8] [--data DIR]
 *
 * On a shared 2-core machine one run can be a tenth off the next for no reason of its
 * own, and the speed drifts over minutes, so single runs and even medians of separate
 * series mislead. Each pair runs back to back; the report gives, per measure, the
 * median of this build's value divided by the other's over the pairs, and in how many
 * pairs this build was lower. Measures: time from start to exit, the seconds the
 * import's own summary line reports, and CPU time (user + system) of the whole process,
 * of its main thread (which writes, the import's critical path) and of V8's helper
 * threads (garbage collection), read by `bench/thread-cpu.cjs`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { compiledServer, median, threadCpu, THREAD_CPU_PRELOAD, type ThreadCpu } from './lib.js';

const { values } = parseArgs({
  options: {
    against: { type: 'string' },
    pairs: { type: 'string', default: '8' },
    data: { type: 'string', default: resolve('../shared/data/synthea-r4') },
  },
});
if (!values.against) throw new Error('--against DIR: a checkout of another commit, built (npm ci)');
const pairs = Number(values.pairs);

interface Run extends ThreadCpu {
  wall: number;
  summary: number;
}

/** One import by the checkout at `dir` into a fresh SQLite file. */
async function run(dir: string): Promise<Run> {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-pairs-'));
  try {
    const env = { ...process.env, DATABASE_URL: `sqlite:${join(tmp, 'kiln.sqlite')}`, KILN_SAMPLE_DATA: 'false', KILN_LOG_LEVEL: 'warn' };
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--require', THREAD_CPU_PRELOAD, join(dir, 'bin/kiln.js'), 'import', values.data as string], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    if (code !== 0) throw new Error(`${dir}: kiln import exited with ${code}: ${out.slice(-500)}`);
    const summary = /imported \d+ resources from \d+ files in ([\d.]+) s/.exec(out);
    const cpu = threadCpu(out);
    if (!summary || !cpu) throw new Error(`${dir}: no summary line or CPU times in: ${out.slice(-500)}`);
    return { wall, summary: Number(summary[1]), ...cpu };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

compiledServer();
const here = process.cwd();
const other = resolve(values.against);
const results: { mine: Run; theirs: Run }[] = [];
for (let i = 0; i < pairs; i++) {
  // Alternate which goes first, so that neither always meets the machine as the other left it.
  const [a, b] = i % 2 === 0 ? [here, other] : [other, here];
  const first = await run(a);
  const second = await run(b);
  const pair = a === here ? { mine: first, theirs: second } : { mine: second, theirs: first };
  results.push(pair);
  console.log(`pair ${i + 1}: this ${pair.mine.wall.toFixed(2)} s, other ${pair.theirs.wall.toFixed(2)} s`);
}
console.log(`\n${pairs} pairs, this build (${here}) against ${other}:`);
console.log('measure             this (median)  other (median)  ratio (median of pairs)  this lower in');
for (const [key, label] of [
  ['wall', 'start to exit, s'],
  ['summary', 'summary line, s'],
  ['all', 'CPU, process, s'],
  ['main', 'CPU, main thread'],
  ['helpers', 'CPU, V8 helpers'],
] as const) {
  const ratios = results.map((r) => r.mine[key] / r.theirs[key]);
  const lower = results.filter((r) => r.mine[key] < r.theirs[key]).length;
  console.log(
    `${label.padEnd(20)}${median(results.map((r) => r.mine[key])).toFixed(2).padStart(13)}${median(results.map((r) => r.theirs[key])).toFixed(2).padStart(16)}${median(ratios).toFixed(3).padStart(25)}${`${lower} of ${pairs}`.padStart(15)}`,
  );
}
