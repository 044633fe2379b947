import { csrfField, escapeHtml, layout } from './html.js';

export interface PickerPatient {
  /** The Patient resource id, posted as the value of `patient`. */
  id: string;
  name: string;
  birthDate?: string;
  gender?: string;
  /** A human identifier (e.g. an MRN) to tell apart patients of the same name. */
  identifier?: string;
}

export interface PatientPickerInput {
  action: string;
  csrf: string;
  clientName: string;
  patients: PickerPatient[];
  /** The current name filter, shown back in the search field. */
  query?: string;
  /** Where the GET search form goes (field `q`). */
  searchAction: string;
}

/**
 * The standalone-launch patient picker: a GET name search (`q` to `searchAction`) and a
 * POST form with one `patient` radio per match, so the user chooses the patient context.
 * See: https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#launchpatient
 */
export function patientPickerPage({ action, csrf, clientName, patients, query, searchAction }: PatientPickerInput): string {
  const search = `<form method="get" action="${escapeHtml(searchAction)}" class="search" role="search">
<div><label for="q">Search by name</label>
<input type="search" id="q" name="q" value="${escapeHtml(query ?? '')}" autocomplete="off"></div>
<button type="submit" class="secondary">Search</button>
</form>`;
  const choose =
    patients.length === 0
      ? `<p role="status">No patients match${query ? ` “${escapeHtml(query)}”` : ''}. Try another name.</p>`
      : `<form method="post" action="${escapeHtml(action)}">
${csrfField(csrf)}
<fieldset>
<legend>Patients</legend>
${patients.map(patientChoice).join('\n')}
</fieldset>
<button type="submit">Continue</button>
</form>`;
  const body = `<h1>Choose a patient</h1>
<p>Choose the patient whose records <strong>${escapeHtml(clientName)}</strong> will use.</p>
${search}
${choose}`;
  return layout(`Choose a patient – ${clientName}`, body);
}

function patientChoice(p: PickerPatient, i: number): string {
  const details = [p.birthDate && `Born ${p.birthDate}`, p.gender, p.identifier && `ID ${p.identifier}`].filter((d): d is string => Boolean(d));
  // `required` on the radios makes the browser ask for a choice without any script.
  return `<label class="choice" for="patient-${i}"><input type="radio" id="patient-${i}" name="patient" value="${escapeHtml(p.id)}" required>
<span>${escapeHtml(p.name)}${details.length ? `<small>${escapeHtml(details.join(' · '))}</small>` : ''}</span></label>`;
}
