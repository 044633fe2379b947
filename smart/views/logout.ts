import { layout } from './html.js';

/**
 * The sign-out confirmation (OpenID Connect RP-Initiated Logout). `form` is the
 * provider's own hidden form (`op.logoutForm`, carrying its anti-forgery value); the
 * buttons submit it, `logout=yes` ending the session.
 * See: https://openid.net/specs/openid-connect-rpinitiated-1_0.html
 */
export function logoutPage(form: string): string {
  return layout(
    'Sign out',
    `<h1>Sign out?</h1>
<p>Apps that keep access only while you are signed in (online access) will lose it.</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button type="submit" form="op.logoutForm" class="secondary">Stay signed in</button>`,
  );
}

/** After signing out, when no app asked to be returned to. */
export function loggedOutPage(): string {
  return layout('Signed out', '<h1>You are signed out</h1>\n<p>You can close this page.</p>');
}
