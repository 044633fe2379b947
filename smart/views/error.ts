import { escapeHtml, layout } from './html.js';

export interface ErrorPageInput {
  title: string;
  message: string;
}

/**
 * A page for a failed authorization step the user can do nothing about in the app
 * (unknown client, bad redirect, expired interaction).
 * See: https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code
 */
export function errorPage({ title, message }: ErrorPageInput): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>\n<p role="alert">${escapeHtml(message)}</p>`);
}
