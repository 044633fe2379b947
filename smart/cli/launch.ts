import { parseArgs } from 'node:util';
import { UserService } from '../accounts/index.js';
import { ClientService } from '../clients/index.js';
import { LaunchError, makeLaunch } from '../launch-route.js';
import { loadSecretBox } from '../secrets.js';
import { withDatabase } from './database.js';

const USAGE = `Usage: kiln launch --client ID --user USERNAME [--patient ID] [--encounter ID]

Makes an EHR launch of an app for a user and a patient (and an encounter), and prints
it as JSON: the single-use "launch" id (valid 5 minutes), "iss" (the FHIR base URL) and,
when the app registered an initiate_login_uri, the "launch_url" to open.`;

/** `kiln launch`: the EHR side of an EHR launch, from the command line. */
export async function runLaunch(args: string[]): Promise<number> {
  let values: { client?: string; user?: string; patient?: string; encounter?: string; help?: boolean };
  try {
    values = parseArgs({
      args,
      options: { client: { type: 'string' }, user: { type: 'string' }, patient: { type: 'string' }, encounter: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    console.error(`kiln: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.client || !values.user) {
    console.error(`kiln: launch needs --client and --user\n\n${USAGE}`);
    return 2;
  }
  const { client, user: username, patient, encounter } = values;
  try {
    const out = await withDatabase(async (config, db) => {
      const users = new UserService(db.knex);
      const user = await users.findByUsername(username);
      if (!user) throw new LaunchError(`no user "${username}"`);
      const clients = new ClientService(db.knex, loadSecretBox(config), { allowWildcardScopes: config.allowWildcardScopes });
      return makeLaunch({ config, db, clients, users }, { clientId: client, userId: user.id, patient, encounter });
    });
    console.log(JSON.stringify(out, null, 2));
    return 0;
  } catch (err) {
    if (!(err instanceof LaunchError)) throw err;
    console.error(`kiln: ${err.message}`);
    return 2;
  }
}
