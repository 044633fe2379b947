import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

/**
 * A SMART app for tests, built on SMART's own JavaScript client (`fhirclient`, its
 * server-side adapter): `/launch` starts the authorization (EHR launch when the EHR
 * passes `iss` and `launch`, standalone otherwise), `/callback` finishes it and answers
 * with what the client learned, as JSON.
 */

const require = createRequire(import.meta.url);
// fhirclient's Node entry point is CommonJS.
const smart = require('fhirclient/lib/entry/node') as (req: unknown, res: unknown, storage: unknown) => {
  authorize(options: Record<string, unknown>): Promise<unknown>;
  ready(): Promise<{ state: { tokenResponse?: Record<string, unknown>; clientSecret?: string }; patient: { id: string | null }; user: { fhirUser: string | null }; request(url: string): Promise<any> }>;
};

export interface AppOptions {
  clientId: string;
  scope: string;
  /** The FHIR base for standalone launch; an EHR launch passes its own `iss`. */
  iss: string;
  clientSecret?: string;
}

export interface TestSmartApp {
  origin: string;
  redirectUri: string;
  /** Changes what the next launch asks for. */
  configure(options: Partial<AppOptions>): void;
  stop(): Promise<void>;
}

export async function startSmartApp(options: AppOptions): Promise<TestSmartApp> {
  const sessions = new Map<string, unknown>();
  const storage = {
    get: async (key: string) => sessions.get(key),
    set: async (key: string, value: unknown) => (sessions.set(key, value), value),
    unset: async (key: string) => sessions.delete(key),
  };
  let current = { ...options };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    const fail = (err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String((err as Error)?.message ?? err) }));
    };
    if (url.pathname === '/launch') {
      smart(req, res, storage)
        .authorize({ clientId: current.clientId, scope: current.scope, redirectUri: '/callback', iss: url.searchParams.get('iss') ?? current.iss, clientSecret: current.clientSecret, pkceMode: 'required' })
        .catch(fail);
    } else if (url.pathname === '/callback') {
      smart(req, res, storage)
        .ready()
        .then((client) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ tokenResponse: client.state.tokenResponse, patient: client.patient.id, fhirUser: client.user.fhirUser }));
        })
        .catch(fail);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    redirectUri: `${origin}/callback`,
    configure: (o) => (current = { ...current, ...o }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
