import type { Knex } from 'knex';
import { AUTH_TABLES } from '../db/schema.js';

/**
 * Small JSON records kept beside oidc-provider's models in the same table, so they share
 * its lifetime rules: the launch context of a grant (deleted with the grant when it is
 * revoked) and what a sign-in page has collected so far.
 */

/** The SMART launch context a grant was given (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#launch-context-arrives-with-your-access_token). */
export interface GrantContext {
  patient?: string;
  encounter?: string;
  /** The user's FHIR resource, relative (`Practitioner/7`). */
  fhirUser?: string;
  needPatientBanner: boolean;
}

/** What an interaction (sign-in, patient choice) has gathered between pages. */
export interface InteractionState {
  patient?: string;
}

const T = AUTH_TABLES.models;
const GRANT_CONTEXT = 'SmartGrantContext';
const INTERACTION_STATE = 'SmartInteractionState';

async function put(knex: Knex, kind: string, id: string, value: object, ttlSeconds: number, grantId?: string): Promise<void> {
  const row = { kind, id, payload: JSON.stringify(value), grant_id: grantId ?? null, expires_at: Date.now() + ttlSeconds * 1000 };
  await knex(T).insert(row).onConflict(['kind', 'id']).merge();
}

async function get<V>(knex: Knex, kind: string, id: string): Promise<V | undefined> {
  const row = (await knex(T).select('payload', 'expires_at').where({ kind, id }).first()) as { payload: string; expires_at: number | string } | undefined;
  if (!row || Number(row.expires_at) <= Date.now()) return undefined;
  return JSON.parse(row.payload) as V;
}

export function saveGrantContext(knex: Knex, grantId: string, value: GrantContext, ttlSeconds: number): Promise<void> {
  return put(knex, GRANT_CONTEXT, grantId, value, ttlSeconds, grantId);
}

export function loadGrantContext(knex: Knex, grantId: string): Promise<GrantContext | undefined> {
  return get<GrantContext>(knex, GRANT_CONTEXT, grantId);
}

export function saveInteractionState(knex: Knex, uid: string, value: InteractionState, ttlSeconds: number): Promise<void> {
  return put(knex, INTERACTION_STATE, uid, value, ttlSeconds);
}

export async function loadInteractionState(knex: Knex, uid: string): Promise<InteractionState> {
  return (await get<InteractionState>(knex, INTERACTION_STATE, uid)) ?? {};
}
