/**
 * Characters no FHIR string may hold: "Strings SHALL NOT contain Unicode character points
 * below 32, except for u0009 (horizontal tab), u0010 (carriage return) and u0013 (line
 * feed)" (https://hl7.org/fhir/R4/datatypes.html#string).
 */
export const CONTROL_CHARACTERS = /[\x00-\x08\x0B\x0C\x0E-\x1F]/;

const EVERY_CONTROL_CHARACTER = new RegExp(CONTROL_CHARACTERS.source, 'g');

/** `text` with each character a FHIR string may not hold replaced by U+FFFD. */
export function withoutControlCharacters(text: string): string {
  return text.replace(EVERY_CONTROL_CHARACTER, '\uFFFD');
}
