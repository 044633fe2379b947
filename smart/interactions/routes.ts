import express, { type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import type { Config } from '../../server/config.js';
import type { Database } from '../../server/db/connect.js';
import { loadInteractionState, saveGrantContext, saveInteractionState } from '../provider/state.js';
import { isResourceScopeText, OTHER_SCOPES, splitScopes } from '../scopes/index.js';
import type { SecretBox } from '../secrets.js';
import { consentPage, describeScope, errorPage, loginPage, patientPickerPage, VIEW_CSP } from '../views/index.js';
import { decideContext, grantableByUser, type InteractionUser } from './context.js';
import { Csrf } from './csrf.js';
import { findPatient, findPatients, patientName } from './patients.js';

/**
 * The sign-in pages of the authorization flow (https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#interactions):
 * login, the patient picker and consent, as plain HTML forms (the form contract is in
 * docs/smart.md). Each step ends by handing oidc-provider its result.
 */

export interface InteractionDeps {
  config: Config;
  db: Database;
  box: SecretBox;
  provider: Provider;
  users: {
    findById(id: string): Promise<(InteractionUser & { disabled?: boolean }) | undefined>;
    authenticate(username: string, password: string, address: string): Promise<{ ok: true; user: InteractionUser } | { ok: false; reason: string; retryAfterSeconds?: number }>;
  };
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

function html(res: Response, status: number, body: string): void {
  res.status(status).set({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Security-Policy': VIEW_CSP, 'X-Frame-Options': 'DENY' }).send(body);
}

function field(body: unknown, name: string): string | undefined {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
}

function list(body: unknown, name: string): string[] {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** Builds the express router mounted at `/oauth/interaction`. */
export function interactionRoutes(deps: InteractionDeps): express.Router {
  const { provider, config, db } = deps;
  const csrf = new Csrf(deps.box);
  const router = express.Router();
  router.use(express.urlencoded({ extended: false, limit: '64kb' }));

  /** Runs a page handler; a lost or expired interaction gets a readable page, not a stack trace. */
  const page = (fn: (req: Request, res: Response, details: Details) => Promise<void>) => async (req: Request, res: Response) => {
    let details: Details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      html(res, 400, errorPage({ title: 'This sign-in has expired', message: 'Go back to the app and start again.' }));
      return;
    }
    if (details.uid !== req.params.uid) {
      html(res, 400, errorPage({ title: 'This sign-in does not match', message: 'Go back to the app and start again.' }));
      return;
    }
    if (req.method === 'POST' && !csrf.valid(details.uid, field(req.body, 'csrf'))) {
      html(res, 403, errorPage({ title: 'The form could not be accepted', message: 'The page was out of date or sent from elsewhere. Go back to the app and start again.' }));
      return;
    }
    await fn(req, res, details);
  };

  const clientName = async (details: Details) => {
    const client = await provider.Client.find(String(details.params.client_id));
    return { name: client?.clientName ?? String(details.params.client_id), uri: client?.clientUri };
  };

  const signedInUser = async (details: Details) => (details.session?.accountId ? deps.users.findById(details.session.accountId) : undefined);

  const action = (uid: string, step: string) => `/oauth/interaction/${encodeURIComponent(uid)}/${step}`;

  const showLogin = async (res: Response, details: Details, status = 200, error?: string, username?: string) => {
    const client = await clientName(details);
    html(res, status, loginPage({ action: action(details.uid, 'login'), csrf: csrf.token(details.uid), clientName: client.name, error, username }));
  };

  /** Consent or, first, the patient picker. */
  const showConsent = async (req: Request, res: Response, details: Details) => {
    const user = await signedInUser(details);
    if (!user || user.disabled) return showLogin(res, details);
    const state = await loadInteractionState(db.knex, details.uid);
    const decision = await decideContext(db, user, details.params, state);
    const client = await clientName(details);
    if (decision.kind === 'refuse') return void html(res, 403, errorPage({ title: 'The app cannot be authorized', message: decision.reason }));
    if (decision.kind === 'pick-patient') {
      const q = typeof req.query.q === 'string' ? req.query.q : undefined;
      const patients = await findPatients(db, config.baseUrl, q);
      html(res, 200, patientPickerPage({ action: action(details.uid, 'patient'), csrf: csrf.token(details.uid), clientName: client.name, patients, query: q, searchAction: `/oauth/interaction/${encodeURIComponent(details.uid)}` }));
      return;
    }
    const requested = grantableByUser(user, splitScopes(String(details.params.scope ?? '')));
    const patient = decision.context.patient ? await findPatient(db, decision.context.patient) : undefined;
    const banner = patient ? { id: patient.id as string, name: patientName(patient), birthDate: patient.birthDate } : undefined;
    html(res, 200, consentPage({ action: action(details.uid, 'consent'), csrf: csrf.token(details.uid), clientName: client.name, clientUri: client.uri, patientBanner: banner, scopes: requested.map((scope) => ({ scope, description: describeScope(scope) })) }));
  };

  router.get('/:uid', page(async (req, res, details) => (details.prompt.name === 'login' ? showLogin(res, details) : showConsent(req, res, details))));

  router.post('/:uid/login', page(async (req, res, details) => {
    const username = field(req.body, 'username') ?? '';
    const result = await deps.users.authenticate(username, field(req.body, 'password') ?? '', req.ip ?? 'unknown');
    if (!result.ok) {
      const locked = result.reason === 'locked';
      const minutes = Math.max(1, Math.ceil((result.retryAfterSeconds ?? 60) / 60));
      const message = locked ? `Too many failed sign-ins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.` : 'Wrong username or password.';
      return showLogin(res, details, locked ? 429 : 401, message, username);
    }
    await provider.interactionFinished(req, res, { login: { accountId: result.user.id } }, { mergeWithLastSubmission: false });
  }));

  router.post('/:uid/patient', page(async (req, res, details) => {
    const user = await signedInUser(details);
    const id = field(req.body, 'patient') ?? '';
    if (!user || user.role === 'patient') return void html(res, 403, errorPage({ title: 'Not allowed', message: 'Only practitioners choose a patient.' }));
    if (!(await findPatient(db, id))) return void html(res, 400, errorPage({ title: 'No such patient', message: 'Choose a patient from the list.' }));
    await saveInteractionState(db.knex, details.uid, { patient: id }, 3600);
    res.redirect(303, `/oauth/interaction/${encodeURIComponent(details.uid)}`);
  }));

  router.post('/:uid/consent', page(async (req, res, details) => {
    if (field(req.body, 'decision') !== 'allow') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user did not allow access' }, { mergeWithLastSubmission: false });
      return;
    }
    const user = await signedInUser(details);
    if (!user || user.disabled) return showLogin(res, details);
    const decision = await decideContext(db, user, details.params, await loadInteractionState(db.knex, details.uid));
    if (decision.kind !== 'ready') return showConsent(req, res, details);
    const requested = grantableByUser(user, splitScopes(String(details.params.scope ?? '')));
    const ticked = new Set(list(req.body, 'scope'));
    const granted = requested.filter((s) => ticked.has(s));
    const grant = new provider.Grant({ accountId: user.id, clientId: String(details.params.client_id) });
    const allowed = bySort(granted);
    if (allowed.oidc) grant.addOIDCScope(allowed.oidc);
    if (allowed.resource) grant.addResourceScope(config.baseUrl, allowed.resource);
    // The provider asks for consent again while any requested scope is neither granted nor
    // rejected: what the user unticked, or could not grant, is recorded as refused.
    const refused = bySort(splitScopes(String(details.params.scope ?? '')).filter((s) => !granted.includes(s)));
    if (refused.oidc) grant.rejectOIDCScope(refused.oidc);
    if (refused.resource) grant.rejectResourceScope(config.baseUrl, refused.resource);
    const grantId = await grant.save();
    // The patient stays in context when asked for, when an EHR launch brought it, or when the user is that patient.
    const keepsPatient = granted.includes('launch/patient') || typeof details.params.launch === 'string' || user.role === 'patient';
    const context = { ...decision.context, patient: keepsPatient ? decision.context.patient : undefined };
    await saveGrantContext(db.knex, grantId, context, config.refreshTokenTtl);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }));

  return router;
}

/** The OpenID and launch scopes (oidc-provider's own) and the FHIR API's resource scopes, each space-separated ('' for none). */
function bySort(scopes: string[]): { oidc: string; resource: string } {
  return { oidc: scopes.filter((s) => OTHER_SCOPES.includes(s)).join(' '), resource: scopes.filter(isResourceScopeText).join(' ') };
}
