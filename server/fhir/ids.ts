/**
 * A resource id: 1 to 64 of `A-Z a-z 0-9 - .` (https://hl7.org/fhir/R4/datatypes.html#id).
 * One pattern for every place that checks an id before it reaches a query or a URL.
 */
export const RESOURCE_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * True when `value` is a well-formed resource id that a URL can carry: `.` and `..` match
 * the pattern but are dot segments, which clients and proxies resolve away
 * (https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4).
 */
export function isResourceId(value: string): boolean {
  return RESOURCE_ID.test(value) && !isDotSegment(value);
}

/** `.` or `..`: "here" and "up" in a URL path (https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4). */
export function isDotSegment(value: string): boolean {
  return value === '.' || value === '..';
}
