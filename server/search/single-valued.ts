import { typeModel } from '../validate/model.js';
import type { SearchParamDef } from './registry.js';

/**
 * Whether a search parameter has at most one value per resource of a type, read from
 * the official definitions: its expression for that type is one plain path
 * (`Observation.effective`, `Encounter.period`) and every element along it has a
 * maximum cardinality of 1 (https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.max).
 * Anything else (a union, a function, `as`, `where`, a repeating element) counts as
 * possibly several.
 *
 * For such a parameter, conditions that each need "some value" may be checked on one
 * and the same index row: there is only one.
 */
export function singleValued(def: SearchParamDef, resourceType: string): boolean {
  if (def.expressionParts.length !== 1) return false;
  const steps = def.expressionParts[0].split('.');
  if (steps[0] !== resourceType || steps.length < 2 || !steps.slice(1).every((s) => /^[a-z][A-Za-z0-9]*$/.test(s))) return false;
  let model = typeModel(resourceType);
  for (let i = 1; i < steps.length; i++) {
    if (!model) return false;
    const element = [...model.elements.values()].find((e) => e.name === steps[i] || e.choice === steps[i]);
    if (!element || element.max !== 1) return false;
    if (i < steps.length - 1) {
      // Only the last step may be a choice or a primitive: a path through them is not plain.
      if (element.choice !== undefined || !element.type) return false;
      model = element.type;
    }
  }
  return true;
}
