import { parseArgs } from 'node:util';
import type { App } from './app.js';
import { loadConfig, ConfigError } from './config.js';

const USAGE = `Usage: kiln <command> [options]

Commands:
  serve                         run the FHIR server (configuration from the environment)
  import PATH...                load FHIR Bundles (.json, .json.gz) and NDJSON (.ndjson, .ndjson.gz)
  seed [--patients N] [--seed S] write deterministic synthetic sample data
  reindex [--type T]... [--all] rebuild the search index after a change of search parameters
                                (kiln reindex --help)
  users add --username U ...    add a user of the authorization server (kiln users --help)
  launch --client ID --user U [--patient P] [--encounter E]
                                make an EHR launch of an app (kiln launch --help)
  clients add|list|approve|disable|enable
                                manage API clients (kiln clients --help)
  patients opt-out|opt-in ID    a patient's opt-out of access through apps (kiln patients --help)
  token --scope S [--client ID] issue a backend access token as the operator (kiln token --help)

See README.md for the configuration table.`;

/** The `kiln` command line. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': {
        const config = loadConfig();
        // Loaded here so the other commands do not load the web stack.
        const { serve, stopOnSignals } = await import('./main.js');
        const { seedIfEmpty } = await import('./seed/load.js');
        const { isWorker, runWorkers } = await import('./workers.js');
        const prepare = (app: App) => seedIfEmpty(app, config);
        // Several workers: this process prepares the database and supervises them (KILN_WORKERS).
        if (config.workers > 1 && !isWorker) return await runWorkers(config, prepare);
        const running = await serve(config, isWorker ? undefined : prepare);
        stopOnSignals(running);
        return -1;
      }
      case 'import': {
        const { runImport } = await import('./import/cli.js');
        return await runImport(rest);
      }
      case 'reindex': {
        const { runReindex } = await import('./search/reindex-cli.js');
        return await runReindex(rest);
      }
      case 'users': {
        const { runUsers } = await import('../smart/cli/users.js');
        return await runUsers(rest);
      }
      case 'launch': {
        const { runLaunch } = await import('../smart/cli/launch.js');
        return await runLaunch(rest);
      }
      case 'patients': {
        const { runPatients } = await import('../smart/cli/patients.js');
        return await runPatients(rest);
      }
      case 'token': {
        const { runToken } = await import('../smart/cli/token.js');
        return await runToken(rest);
      }
      case 'clients': {
        const { runClients } = await import('../smart/cli/clients.js');
        return await runClients(rest);
      }
      case 'seed': {
        const { values } = parseArgs({ args: rest, options: { patients: { type: 'string' }, seed: { type: 'string' } } });
        const { runSeed } = await import('./seed/load.js');
        return await runSeed(loadConfig(), { patients: Number(values.patients ?? 20), seed: Number(values.seed ?? 1) });
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return command === undefined ? 1 : 0;
      default:
        console.error(`kiln: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`kiln: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
