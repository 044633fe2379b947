import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ClientMetadataError } from '../clients/metadata.js';
import { ClientNotFoundError, ClientService, ClientStatusError, type StoredClient } from '../clients/service.js';
import { loadSecretBox } from '../secrets.js';
import { withDatabase } from './database.js';

const USAGE = `Usage: kiln clients add --json FILE|-    register a client from RFC 7591 metadata plus "scope"
       kiln clients list                  list every client (never their secrets)
       kiln clients approve ID            enable a client whose registration awaits approval
       kiln clients disable ID            stop a client from getting tokens
       kiln clients enable ID             let a disabled client get tokens again

"add" reads the JSON from FILE, or from standard input with "-", and prints the client
with its client_id and, for client_secret_basic/post clients, its client_secret. The
secret is shown this one time only: it is stored encrypted and cannot be read back.
The database comes from DATABASE_URL.`;

/** A mistake in the command line: reported on stderr with exit code 2. */
class UsageError extends Error {}

/** A client as printed: RFC 7591 response field names, the secret only when given. */
function clientJson(client: StoredClient, clientSecret?: string): Record<string, unknown> {
  return {
    client_id: client.clientId,
    ...(clientSecret === undefined ? {} : { client_secret: clientSecret }),
    status: client.status,
    registered_by: client.registeredBy,
    scope: client.scope.join(' '),
    ...client.metadata,
    created_at: client.createdAt.toISOString(),
    updated_at: client.updatedAt.toISOString(),
  };
}

async function readJson(source: string): Promise<unknown> {
  let text: string;
  try {
    text = source === '-' ? await readStream(process.stdin) : await readFile(source, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${source}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${source === '-' ? 'standard input' : source} is not valid JSON: ${(err as Error).message}`);
  }
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs one parsed command against the registry; returns what to print. */
async function execute(clients: ClientService, sub: string, json: unknown, id: string): Promise<unknown> {
  switch (sub) {
    case 'add': {
      const { client, clientSecret } = await clients.add(json, { by: 'operator' });
      return clientJson(client, clientSecret);
    }
    case 'list':
      return (await clients.list()).map((c) => clientJson(c));
    case 'approve':
      return clientJson(await clients.approve(id));
    default:
      return clientJson(await clients.setStatus(id, sub === 'enable' ? 'enabled' : 'disabled'));
  }
}

const COMMANDS = ['add', 'list', 'approve', 'disable', 'enable'];

/** Checks the arguments and reads the metadata before the database is opened. */
async function parse(args: string[]): Promise<{ sub: string; json: unknown; id: string }> {
  const [sub, ...rest] = args;
  if (!COMMANDS.includes(sub)) throw new UsageError(`unknown clients command "${sub}" (expected ${COMMANDS.join(', ')})`);
  const { values, positionals } = parseArgs({ args: rest, options: { json: { type: 'string' } }, allowPositionals: true });
  const wantsId = sub !== 'add' && sub !== 'list';
  if (positionals.length !== (wantsId ? 1 : 0)) throw new UsageError(wantsId ? `clients ${sub} needs one client ID` : `clients ${sub} takes no arguments`);
  if ((sub === 'add') !== (values.json !== undefined)) throw new UsageError(sub === 'add' ? 'clients add needs --json FILE or --json -' : `--json is only for clients add`);
  const json = sub === 'add' ? await readJson(values.json as string) : undefined;
  return { sub, json, id: positionals[0] ?? '' };
}

async function withRegistry<T>(fn: (clients: ClientService) => Promise<T>): Promise<T> {
  return withDatabase((config, db) => fn(new ClientService(db.knex, loadSecretBox(config), { allowWildcardScopes: config.allowWildcardScopes })));
}

function isUsageProblem(err: unknown): err is Error {
  if (err instanceof UsageError || err instanceof ClientNotFoundError || err instanceof ClientStatusError) return true;
  return err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS');
}

/**
 * `kiln clients add|list|approve|disable|enable`. Exit code 0 on success, 2 for bad
 * input (message on stderr). Output is JSON on stdout.
 *
 * See: https://www.rfc-editor.org/rfc/rfc7591#section-3.2.1 (the printed fields)
 */
export async function runClients(args: string[]): Promise<number> {
  if (args.length === 0 || ['help', '--help', '-h'].includes(args[0]) || args.includes('--help') || args.includes('-h')) {
    if (args.length === 0) {
      console.error(USAGE);
      return 2;
    }
    console.log(USAGE);
    return 0;
  }
  try {
    const { sub, json, id } = await parse(args);
    const out = await withRegistry((clients) => execute(clients, sub, json, id));
    console.log(JSON.stringify(out, null, 2));
    return 0;
  } catch (err) {
    if (err instanceof ClientMetadataError) {
      console.error(`kiln: ${err.code}: ${err.message}`);
      return 2;
    }
    if (!isUsageProblem(err)) throw err;
    console.error(`kiln: ${err.message}${err instanceof UsageError || err instanceof TypeError ? `\n\n${USAGE}` : ''}`);
    return 2;
  }
}
