import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { AUTH_TABLES } from './db/schema.js';

/**
 * EHR launch contexts (https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch):
 * the EHR makes one for a user, an app and a patient (and an encounter), and hands the
 * app its opaque id as `launch`. The id is single-use and short-lived.
 */

/** How long an app has to start its authorization after the EHR made the launch. */
export const LAUNCH_TTL_SECONDS = 300;

export interface Launch {
  id: string;
  clientId: string;
  userId: string;
  patient?: string;
  encounter?: string;
}

interface LaunchRow {
  id: string;
  client_id: string;
  user_id: string;
  patient: string | null;
  encounter: string | null;
  expires_at: number | string;
  used_at: number | string | null;
}

function toLaunch(row: LaunchRow): Launch {
  return { id: row.id, clientId: row.client_id, userId: row.user_id, patient: row.patient ?? undefined, encounter: row.encounter ?? undefined };
}

/** Stores a new launch context and returns it with its id. */
export async function createLaunch(knex: Knex, launch: Omit<Launch, 'id'>): Promise<Launch> {
  const id = randomBytes(24).toString('base64url');
  const now = Date.now();
  await knex(AUTH_TABLES.launches).insert({
    id,
    client_id: launch.clientId,
    user_id: launch.userId,
    patient: launch.patient ?? null,
    encounter: launch.encounter ?? null,
    created_at: now,
    expires_at: now + LAUNCH_TTL_SECONDS * 1000,
  });
  return { id, ...launch };
}

/**
 * Uses a launch for `clientId`: returns it the first time, and a reason it cannot be
 * used otherwise (unknown, another app's, expired, or used already). The update is
 * conditional, so two requests racing with one id cannot both win.
 */
export async function useLaunch(knex: Knex, id: string, clientId: string): Promise<Launch | string> {
  const row = (await knex(AUTH_TABLES.launches).where({ id }).first()) as LaunchRow | undefined;
  if (!row || row.client_id !== clientId) return 'the launch parameter is not a launch of this app';
  if (Number(row.expires_at) <= Date.now()) return 'the launch has expired; start the app from the EHR again';
  const taken = await knex(AUTH_TABLES.launches).where({ id }).whereNull('used_at').update({ used_at: Date.now() });
  if (taken !== 1) return 'the launch was used already; start the app from the EHR again';
  return toLaunch(row);
}

/** A launch that was used, for the rest of its authorization (the consent step reads its context). */
export async function findLaunch(knex: Knex, id: string): Promise<Launch | undefined> {
  const row = (await knex(AUTH_TABLES.launches).where({ id }).first()) as LaunchRow | undefined;
  return row ? toLaunch(row) : undefined;
}
