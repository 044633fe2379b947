import { parseArgs } from 'node:util';
import { AccountError, ROLES, UserService, type NewUser } from '../accounts/users.js';
import { withDatabase } from './database.js';

const USAGE = `Usage: kiln users add --username NAME (--password PASSWORD | --password-stdin)
                      --role ${ROLES.join('|')} [--fhir-user Type/id]

Adds a user who can sign in at the authorization server. --password-stdin reads the
password from standard input (one line), so it stays out of shell history and process
lists. A patient user needs --fhir-user Patient/id; practitioners and administrators
may name their Practitioner, RelatedPerson or Person resource. Prints the user as JSON.
The database comes from DATABASE_URL.`;

const OPTIONS = {
  username: { type: 'string' },
  password: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  role: { type: 'string' },
  'fhir-user': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A mistake in the command line: reported on stderr with exit code 2. */
class UsageError extends Error {}

/** Reads all of standard input, without the line break that ends it. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function newUser(args: string[]): Promise<NewUser> {
  // parseArgs messages name options, never their values, so they are safe to print.
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true });
  // Not echoed: a stray argument may be a password given without its option.
  if (positionals.length > 0) throw new UsageError('unexpected argument after the options');
  if (values.username === undefined) throw new UsageError('--username is required');
  if (values.role === undefined) throw new UsageError('--role is required');
  if ((values.password === undefined) === (values['password-stdin'] !== true)) {
    throw new UsageError('give the password with exactly one of --password or --password-stdin');
  }
  const password = values.password ?? (await readStdin());
  return { username: values.username, password, role: values.role, fhirUser: values['fhir-user'] };
}

async function addUser(input: NewUser): Promise<void> {
  const user = await withDatabase((_config, db) => new UserService(db.knex).add(input));
  console.log(JSON.stringify(user, null, 2));
}

/**
 * `kiln users add ...`. Exit code 0 when the user was added, 2 for bad input (a message
 * on stderr that never repeats the password).
 *
 * See: https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#fhiruser
 */
export async function runUsers(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    if (sub === undefined) {
      console.error(USAGE);
      return 2;
    }
    console.log(USAGE);
    return 0;
  }
  try {
    if (sub !== 'add') throw new UsageError(`unknown users command "${sub}" (expected add)`);
    await addUser(await newUser(rest));
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof AccountError) {
      console.error(`kiln: ${err.message}${err instanceof UsageError ? `\n\n${USAGE}` : ''}`);
      return 2;
    }
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`kiln: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}
