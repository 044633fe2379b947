import type { Database } from '../../server/db/connect.js';
import { findLaunch } from '../launch.js';
import { hasOptedOut } from '../optout.js';
import type { GrantContext, InteractionState } from '../provider/state.js';

/** A signed-in user as the sign-in pages see them. */
export interface InteractionUser {
  id: string;
  role: string;
  fhirUser?: string;
}

/** Where the launch context of an authorization comes from, or why it cannot be had. */
export type ContextDecision =
  | { kind: 'ready'; context: GrantContext }
  | { kind: 'pick-patient' }
  | { kind: 'refuse'; reason: string };

/** The Patient id of a patient user (`fhirUser` Patient/…), if they are one. */
export function ownPatient(user: InteractionUser): string | undefined {
  return user.fhirUser?.startsWith('Patient/') ? user.fhirUser.slice('Patient/'.length) : undefined;
}

/**
 * The launch context of this authorization (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#requesting-context-with-scopes):
 * an EHR launch brings its own (and must be used by the user it was made for); a
 * patient user is always in their own context; a practitioner asking for
 * `launch/patient` picks a patient first.
 */
export async function decideContext(
  db: Database,
  user: InteractionUser,
  params: { launch?: unknown; scope?: unknown },
  state: InteractionState,
): Promise<ContextDecision> {
  const decision = await contextFor(db, user, params, state);
  if (decision.kind === 'ready' && decision.context.patient !== undefined && (await hasOptedOut(db, decision.context.patient))) {
    return { kind: 'refuse', reason: 'This patient has opted out of access through apps' };
  }
  return decision;
}

async function contextFor(
  db: Database,
  user: InteractionUser,
  params: { launch?: unknown; scope?: unknown },
  state: InteractionState,
): Promise<ContextDecision> {
  const scopes = typeof params.scope === 'string' ? params.scope.split(' ') : [];
  const base = { fhirUser: user.fhirUser };
  if (typeof params.launch === 'string') {
    const launch = await findLaunch(db.knex, params.launch);
    if (!launch) return { kind: 'refuse', reason: 'The EHR launch is unknown' };
    if (launch.userId !== user.id) return { kind: 'refuse', reason: 'The EHR launch was made for another user than the one signed in' };
    return { kind: 'ready', context: { ...base, patient: launch.patient, encounter: launch.encounter, needPatientBanner: false } };
  }
  const own = ownPatient(user);
  if (own) return { kind: 'ready', context: { ...base, patient: own, needPatientBanner: true } };
  if (user.role === 'patient') return { kind: 'refuse', reason: 'This patient account is not linked to a Patient record' };
  if (scopes.includes('launch/patient') && state.patient === undefined) return { kind: 'pick-patient' };
  return { kind: 'ready', context: { ...base, patient: scopes.includes('launch/patient') ? state.patient : undefined, needPatientBanner: true } };
}

/** Scopes a user of this role may grant: a patient account never grants user/ or system/ access. */
export function grantableByUser(user: InteractionUser, scopes: string[]): string[] {
  if (user.role !== 'patient') return scopes.filter((s) => !s.startsWith('system/'));
  return scopes.filter((s) => !s.startsWith('user/') && !s.startsWith('system/'));
}

