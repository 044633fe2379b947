/**
 * A conditional reference, `Patient?identifier=http://x|1`: a reference by search, which
 * the server resolves to the one match in a transaction and refuses anywhere else.
 * Groups: the type, and the criteria.
 * See: https://hl7.org/fhir/R4/bundle.html#references and https://hl7.org/fhir/R4/http.html#trules
 */
export const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?(.*)$/;
