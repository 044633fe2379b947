import { csrfField, escapeHtml, layout, safeHref } from './html.js';

export interface ConsentScope {
  scope: string;
  description: string;
}

export interface ConsentPageInput {
  action: string;
  csrf: string;
  clientName: string;
  clientUri?: string;
  /** The patient in context, so the user sees whose records are being shared. */
  patientBanner?: { name: string; birthDate?: string; id: string };
  scopes: ConsentScope[];
}

/**
 * The consent step: one `scope` checkbox per requested scope (all checked, so unchecking
 * narrows the grant) and `decision` buttons `allow` and `deny`.
 * See: https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
 */
export function consentPage({ action, csrf, clientName, clientUri, patientBanner, scopes }: ConsentPageInput): string {
  const href = safeHref(clientUri);
  const app = href ? `<a href="${escapeHtml(href)}" rel="noopener noreferrer">${escapeHtml(clientName)}</a>` : escapeHtml(clientName);
  const banner = patientBanner
    ? `<div class="banner" aria-label="Patient"><strong>${escapeHtml(patientBanner.name)}</strong>
<small>${escapeHtml([patientBanner.birthDate && `Born ${patientBanner.birthDate}`, `Patient ID ${patientBanner.id}`].filter(Boolean).join(' · '))}</small></div>`
    : '';
  const body = `<h1>Allow access?</h1>
<p><strong>${app}</strong> is asking for permission to:</p>
${banner}
<form method="post" action="${escapeHtml(action)}">
${csrfField(csrf)}
<fieldset>
<legend>Permissions (uncheck any you do not want to give)</legend>
${scopes.map(scopeChoice).join('\n')}
</fieldset>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`;
  return layout(`Allow access? – ${clientName}`, body);
}

function scopeChoice(s: ConsentScope, i: number): string {
  return `<label class="choice" for="scope-${i}"><input type="checkbox" id="scope-${i}" name="scope" value="${escapeHtml(s.scope)}" checked>
<span>${escapeHtml(s.description)}<small><code>${escapeHtml(s.scope)}</code></small></span></label>`;
}
