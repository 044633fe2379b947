import express, { type Request, type Response } from 'express';
import type { Config } from '../server/config.js';
import type { Database } from '../server/db/connect.js';
import { FhirError } from '../server/errors.js';
import type { UserService } from './accounts/index.js';
import type { BearerCheck } from './bearer.js';
import type { ClientService } from './clients/index.js';
import { findPatient } from './interactions/patients.js';
import { createLaunch, LAUNCH_TTL_SECONDS, type Launch } from './launch.js';
import { isResourceId } from '../server/fhir/ids.js';

/**
 * Making EHR launches (https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch):
 * the EHR side asks for a launch of an app for its signed-in practitioner and a patient,
 * then sends the user to the app's launch URL with `iss` and `launch`. Shared by
 * `POST /oauth/launch` and `kiln launch`.
 */

export interface LaunchRequest {
  clientId: string;
  userId: string;
  patient?: string;
  encounter?: string;
}

/** What the EHR needs to start the app. */
export interface LaunchResult {
  launch: string;
  iss: string;
  expires_in: number;
  /** The app's launch URL (its registered `initiate_login_uri`) with `iss` and `launch`, when it has one. */
  launch_url?: string;
}

/** Thrown for a launch that cannot be made; the message says why. */
export class LaunchError extends Error {}

/** Checks the app, the user and the context, then stores the launch. */
export async function makeLaunch(deps: { config: Config; db: Database; clients: ClientService; users: UserService }, req: LaunchRequest): Promise<LaunchResult> {
  const client = await deps.clients.get(req.clientId);
  if (!client || client.status !== 'enabled') throw new LaunchError(`no enabled client "${req.clientId}"`);
  if (!client.scope.includes('launch')) throw new LaunchError(`client "${req.clientId}" is not registered for EHR launch (its scopes lack "launch")`);
  const user = await deps.users.findById(req.userId);
  if (!user || user.disabled) throw new LaunchError('no such active user');
  if (req.patient !== undefined && !(await findPatient(deps.db, req.patient))) throw new LaunchError(`no Patient "${req.patient}"`);
  if (req.encounter !== undefined && !isResourceId(req.encounter)) throw new LaunchError(`"${req.encounter}" is not an Encounter id`);
  const launch: Launch = await createLaunch(deps.db.knex, req);
  const iss = deps.config.baseUrl;
  const target = typeof client.metadata.initiate_login_uri === 'string' ? client.metadata.initiate_login_uri : undefined;
  const url = target ? new URL(target) : undefined;
  url?.searchParams.set('iss', iss);
  url?.searchParams.set('launch', launch.id);
  return { launch: launch.id, iss, expires_in: LAUNCH_TTL_SECONDS, ...(url ? { launch_url: url.href } : {}) };
}

/**
 * `POST /oauth/launch` with JSON `{ client_id, patient?, encounter? }`, authorized by
 * the practitioner's own access token (an EHR front end acting for its signed-in user).
 */
export function launchRoute(deps: { config: Config; db: Database; clients: ClientService; users: UserService; bearer: BearerCheck }): express.Router {
  const router = express.Router();
  router.post('/', express.json({ limit: '16kb' }), async (req: Request, res: Response) => {
    res.set('Cache-Control', 'no-store');
    let userId: string | undefined;
    try {
      userId = (await deps.bearer.authenticate(req.headers.authorization)).userId;
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
      res.status(401).set(err.headers).json({ error: 'invalid_token', error_description: err.message });
      return;
    }
    const user = userId ? await deps.users.findById(userId) : undefined;
    if (!user || (user.role !== 'practitioner' && user.role !== 'admin')) {
      res.status(403).json({ error: 'insufficient_scope', error_description: 'Only a signed-in practitioner or administrator can make EHR launches' });
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    try {
      const clientId = str(body.client_id);
      if (!clientId) throw new LaunchError('client_id is required');
      res.status(201).json(await makeLaunch(deps, { clientId, userId: user.id, patient: str(body.patient), encounter: str(body.encounter) }));
    } catch (err) {
      if (!(err instanceof LaunchError)) throw err;
      res.status(400).json({ error: 'invalid_request', error_description: err.message });
    }
  });
  return router;
}
