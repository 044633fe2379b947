import { parseArgs } from 'node:util';
import { createSmart, type Smart } from '../index.js';
import { grantableScopes, ScopeError, splitScopes } from '../scopes/index.js';
import { withDatabase } from './database.js';
import { newKeyPair } from '../key-pairs.js';

const USAGE = `Usage: kiln token --scope SCOPES [--client ID] [--quiet]

Issues an access token for the FHIR API from the command line, as the operator: for a
registered backend client (--client), or for the built-in "kiln-cli" client made on first
use (registered with system/*.*). The scopes must be system/ scopes within the client's
registration, e.g. --scope 'system/*.rs'. Prints the token response as JSON, or with
--quiet only the access token. Tokens live as long as client_credentials tokens (at most
5 minutes) and can be revoked like any other.`;

const CLI_CLIENT = 'kiln-cli';

/** The operator's own backend client: it has a public key whose private half was thrown away, so only this command can get it tokens. */
async function cliClient(smart: Smart): Promise<string> {
  const existing = (await smart.clients.list()).find((c) => c.metadata.client_name === CLI_CLIENT && c.registeredBy === 'operator');
  if (existing) return existing.clientId;
  const { publicKey } = newKeyPair({ type: 'ec', namedCurve: 'P-384' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), alg: 'ES384', use: 'sig', kid: 'unusable' };
  const { client } = await smart.clients.add(
    { client_name: CLI_CLIENT, grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, scope: 'system/*.*' },
    { by: 'operator' },
  );
  return client.clientId;
}

/** Mints a client_credentials access token through the provider's own model. */
async function mint(smart: Smart, clientId: string, scope: string[], allowWildcards: boolean): Promise<Record<string, unknown>> {
  const { provider } = smart;
  const client = await provider.Client.find(clientId);
  if (!client) throw new ScopeError(`no enabled client "${clientId}"`);
  const registered = splitScopes(String((client as unknown as { smart_scope?: string }).smart_scope ?? ''));
  const granted = grantableScopes(scope, registered, { allowWildcards, grant: 'client_credentials' }).join(' ');
  const token = new provider.ClientCredentials({ client, scope: granted });
  token.resourceServer = new provider.ResourceServer(smart.audience, { scope: granted, audience: smart.audience, accessTokenFormat: 'opaque', accessTokenTTL: 300 });
  const value = await token.save();
  return { access_token: value, token_type: 'Bearer', expires_in: token.expiration, scope: granted, client_id: clientId };
}

/** `kiln token`: see USAGE. */
export async function runToken(args: string[]): Promise<number> {
  let values: { scope?: string; client?: string; quiet?: boolean; help?: boolean };
  try {
    values = parseArgs({ args, options: { scope: { type: 'string' }, client: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    console.error(`kiln: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) return console.log(USAGE), 0;
  if (!values.scope) return console.error(`kiln: token needs --scope\n\n${USAGE}`), 2;
  const { scope, client } = values;
  try {
    const out = await withDatabase(async (config, db) => {
      const smart = await createSmart(config, db);
      return mint(smart, client ?? (await cliClient(smart)), splitScopes(scope), config.allowWildcardScopes);
    });
    console.log(values.quiet ? out.access_token : JSON.stringify(out, null, 2));
    return 0;
  } catch (err) {
    if (!(err instanceof ScopeError)) throw err;
    console.error(`kiln: ${err.message}`);
    return 2;
  }
}
