import { csrfField, escapeHtml, layout } from './html.js';

export interface LoginPageInput {
  action: string;
  csrf: string;
  clientName: string;
  /** Shown above the form, e.g. "Wrong username or password" or a lockout notice. */
  error?: string;
  /** Refilled after a failed attempt so only the password needs typing again. */
  username?: string;
}

/**
 * The sign-in step of the authorization flow: posts `username`, `password` and `csrf`
 * to `action`.
 * See: https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
 */
export function loginPage({ action, csrf, clientName, error, username }: LoginPageInput): string {
  // Ties the message to both fields so a screen reader announces it on focus.
  const described = error ? ' aria-describedby="login-error" aria-invalid="true"' : '';
  const body = `<h1>Sign in</h1>
<p>Sign in to continue to <strong>${escapeHtml(clientName)}</strong></p>
${error ? `<p class="error" id="login-error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
${csrfField(csrf)}
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${escapeHtml(username ?? '')}" autocomplete="username" autocapitalize="none" spellcheck="false" required${described}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${described}>
<button type="submit">Sign in</button>
</form>`;
  return layout(`Sign in – ${clientName}`, body);
}
