import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4';
import { capabilitySecurity } from '../../smart/discovery.js';
import type { Config } from '../config.js';
import type { Route } from '../http/routes.js';
import { projectRoot } from '../paths.js';
import { searchCapabilities, searchCapabilitiesKey } from '../search/query/capabilities.js';
import { resourceTypes } from '../validate/index.js';

type Template = CapabilityStatement & { rest: (CapabilityStatement['rest'] & object)[number] & { resourceDefaults?: Record<string, unknown> }[] };

const SYSTEM_INTERACTIONS = new Set(['transaction', 'batch', 'search-system', 'history-system']);

let cached: { key: string; statement: CapabilityStatement } | undefined;

/**
 * The CapabilityStatement: the static facts of `capability.json` plus, for every
 * resource type, exactly the interactions the route table serves, and the SMART
 * security element pointing at the authorization server.
 * See: https://hl7.org/fhir/R4/capabilitystatement.html
 */
export function capabilityStatement(routes: Route[], config: Config): CapabilityStatement {
  const key = `${config.baseUrl} ${config.issuer} ${config.conditionalDelete} ${searchCapabilitiesKey()}`;
  if (cached?.key === key) return cached.statement;
  const template = JSON.parse(readFileSync(join(projectRoot(), 'capability.json'), 'utf8')) as Template;
  const [rest] = template.rest;
  const { resourceDefaults: defaults = {}, ...restFacts } = rest;
  const resourceDefaults = { ...defaults, conditionalDelete: config.conditionalDelete };
  const typeInteractions = routes.filter((r) => r.path.startsWith(':type')).flatMap((r) => r.interaction);
  const systemInteractions = routes.flatMap((r) => r.interaction).filter((i) => SYSTEM_INTERACTIONS.has(i));
  const statement: CapabilityStatement = {
    ...template,
    implementation: { ...template.implementation, description: template.implementation?.description ?? 'Kiln', url: config.baseUrl },
    rest: [
      {
        ...restFacts,
        security: capabilitySecurity(config),
        resource: resourceTypes().map(
          (type: string) =>
            ({
              type,
              ...resourceDefaults,
              interaction: [...new Set(typeInteractions)].map((code) => ({ code })),
              ...(typeInteractions.includes('search-type') ? searchCapabilities(type) : {}),
            }) as CapabilityStatementRestResource,
        ),
        interaction: [...new Set(systemInteractions)].map((code) => ({ code: code as 'batch' })),
      },
    ],
  };
  cached = { key, statement };
  return statement;
}
