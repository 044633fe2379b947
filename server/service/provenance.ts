import type { Reference } from 'fhir/r4';
import { validateResource } from '../validate/index.js';
import type { ResourceService } from './resources.js';
import type { Actor, AnyResource, ProvenanceRequest, WriteSession } from './types.js';

/** The server itself, the Provenance agent of writes made without an authenticated user. */
export const SERVER_DEVICE: Reference = { reference: 'Device/kiln-server', display: 'Kiln FHIR server' };
export const SERVER_ACTOR: Actor = { who: SERVER_DEVICE };

/** Writes of these types are records about writes: they get no Provenance of their own. */
const UNTRACKED = new Set(['Provenance', 'AuditEvent']);

/**
 * Records one Provenance for everything a write interaction stored, in its transaction.
 * A Provenance sent in `X-Provenance` is stored with its `target` set to the new
 * versions; otherwise, unless turned off, the server records one naming the actor.
 *
 * See: https://hl7.org/fhir/R4/http.html#provenance and https://hl7.org/fhir/R4/provenance.html
 */
export async function recordProvenance(
  service: ResourceService,
  s: WriteSession,
  req: ProvenanceRequest,
  auto: boolean,
): Promise<void> {
  const targets = s.targets.filter((t) => !UNTRACKED.has(t.slice(0, t.indexOf('/'))));
  if (targets.length === 0) return;
  let provenance: AnyResource;
  const given = req.header ?? req.own;
  if (given) {
    provenance = { ...given, target: targets.map((reference) => ({ reference })) };
    if (provenance.recorded === undefined) provenance.recorded = s.now;
    delete provenance.id;
    if (req.header) validateResource(provenance, { expectedType: 'Provenance', forbidId: true });
  } else if (auto) {
    provenance = autoProvenance(targets, s.now, req.actor, req.activity);
  } else {
    return;
  }
  await service.create(s, provenance);
}

function autoProvenance(targets: string[], now: string, actor: Actor, activity?: string): AnyResource {
  const p: AnyResource = {
    resourceType: 'Provenance',
    target: targets.map((reference) => ({ reference })),
    recorded: now,
    agent: [
      {
        type: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author', display: 'Author' },
          ],
        },
        who: actor.who,
      },
    ],
  };
  if (activity) {
    p.activity = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: activity }] };
  }
  return p;
}

/** The server's own Device resource, created once so that Provenance agents resolve. */
export const SERVER_DEVICE_RESOURCE: AnyResource = {
  resourceType: 'Device',
  id: 'kiln-server',
  status: 'active',
  deviceName: [{ name: 'Kiln FHIR server', type: 'manufacturer-name' }],
  type: { text: 'FHIR server' },
};
