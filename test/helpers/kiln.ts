import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** What a `kiln` command run by `runKiln` did. */
export interface KilnRun {
  /** Exit code; null when a signal ended it (`signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** Standard error, without oidc-provider's warning about a Node.js older than 22. */
  stderr: string;
}

export interface KilnRunOptions {
  /** Added to this process's environment (`KILN_LOG_LEVEL` is `silent` unless given). */
  env?: Record<string, string>;
  /** Written to the command's standard input, which is then closed (closed at once by default). */
  input?: string;
  /** Sees each line of standard output as it comes, and may send the command a signal (SIGKILL unless named). */
  onLine?: (line: string, kill: (signal?: NodeJS.Signals) => void) => void;
  /** Called once the command has started, with a way to send it a signal (SIGKILL unless named). */
  started?: (kill: (signal?: NodeJS.Signals) => void) => void;
  /** How long the command may take before it is stopped and the run fails (default 60 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Runs `kiln ARGS` from the TypeScript sources in a process of its own, as an operator
 * would, and resolves once it has exited and its output has all been read.
 *
 * Never blocks this process (unlike `spawnSync`): a command run beside a server of this
 * process, on the same database, needs that server to go on answering and finishing its
 * transactions while the command waits for them.
 *
 * A command still running after `timeoutMs` is asked for a Node.js diagnostic report
 * (https://nodejs.org/api/report.html), then killed; the run rejects with the JavaScript
 * it was running and the handles it was waiting on, so that a hang says where it was.
 */
export function runKiln(args: string[], opts: KilnRunOptions = {}): Promise<KilnRun> {
  const reports = mkdtempSync(join(tmpdir(), 'kiln-report-'));
  const child = spawn(process.execPath, ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reports}`, '--import', 'tsx', 'server/bin.ts', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, KILN_LOG_LEVEL: 'silent', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const kill = (signal: NodeJS.Signals = 'SIGKILL') => void child.kill(signal);
  opts.started?.(kill);
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
    stdout += `${line}\n`;
    opts.onLine?.(line, kill);
  });
  child.stdin.on('error', () => undefined); // a command that exits before reading its input
  child.stdin.end(opts.input ?? '');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGUSR2');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return new Promise<KilnRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const report = timedOut ? readReport(reports) : '';
      rmSync(reports, { recursive: true, force: true });
      const run = { code, signal, stdout, stderr: withoutRuntimeWarning(stderr) };
      if (!timedOut) return resolve(run);
      reject(new Error(`kiln ${args.join(' ')} was still running after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms.\n${report}\nstderr: ${run.stderr.slice(-2000)}`));
    });
  });
}

/** The JavaScript stack and waiting handles of the report a stopped command wrote, if it could. */
function readReport(dir: string): string {
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  if (!file) return 'It wrote no diagnostic report in 3 s (blocked outside JavaScript, or not yet started).';
  const report = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    javascriptStack?: { message?: string; stack?: string[] };
    libuv?: { type: string; is_active: boolean; is_referenced: boolean }[];
  };
  const stack = (report.javascriptStack?.stack ?? []).filter((l) => !l.includes('(internal') && !l.includes('node:internal'));
  const handles = (report.libuv ?? []).filter((h) => h.is_active && h.is_referenced && h.type !== 'loop').map((h) => h.type);
  return `running: ${report.javascriptStack?.message || 'no JavaScript'}\n${stack.join('\n')}\nwaiting on: ${handles.join(', ') || 'nothing'}`;
}

/** Drops the warning oidc-provider prints on load when Node.js is older than it prefers. */
export function withoutRuntimeWarning(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !/^oidc-provider WARNING: Unsupported runtime/.test(line))
    .join('\n');
}
