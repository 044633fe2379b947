/**
 * The authorization server's pages: plain HTML strings that work without script.
 * See: https://hl7.org/fhir/smart-app-launch/app-launch.html
 */
export { consentPage, type ConsentPageInput, type ConsentScope } from './consent.js';
export { errorPage, type ErrorPageInput } from './error.js';
export { escapeHtml, VIEW_CSP } from './html.js';
export { loginPage, type LoginPageInput } from './login.js';
export { loggedOutPage, logoutPage } from './logout.js';
export { patientPickerPage, type PatientPickerInput, type PickerPatient } from './picker.js';
export { describeScope } from './scopes.js';
