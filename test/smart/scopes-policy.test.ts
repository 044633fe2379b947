import { describe, expect, it } from '@jest/globals';
import {
  GrantedScopes,
  ScopeError,
  checkRegistrationScopes,
  grantableScopes,
  needsApproval,
} from '../../smart/scopes/index.js';
import { scopeError } from '../helpers/scopes.js';


const WILDCARD_MESSAGE =
  'Scope "patient/*.read" is refused: wildcard resource scopes are not allowed in patient or user context (an operator may allow them with KILN_ALLOW_WILDCARD_SCOPES=true)';

describe('checkRegistrationScopes', () => {
  const strict = { allowWildcards: false };
  const lax = { allowWildcards: true };

  it('accepts specific resource scopes and known other scopes', () => {
    expect(() =>
      checkRegistrationScopes(
        ['openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'online_access', 'patient/Observation.rs', 'user/Patient.read', 'system/Group.rs?_id=x'],
        strict,
      ),
    ).not.toThrow();
    expect(() => checkRegistrationScopes([], strict)).not.toThrow();
  });

  it('refuses patient and user wildcards when wildcards are off, with a clear message', () => {
    expect(scopeError(() => checkRegistrationScopes(['openid', 'patient/*.read'], strict)).message).toBe(WILDCARD_MESSAGE);
    for (const scope of ['patient/*.rs', 'user/*.read', 'user/*.cruds', 'patient/*.*', 'user/*.r?category=x']) {
      const e = scopeError(() => checkRegistrationScopes([scope], strict));
      expect(e.scope).toBe(scope);
      expect(e.message).toContain('KILN_ALLOW_WILDCARD_SCOPES');
      expect(e.message).toContain('patient or user context');
    }
  });

  it('accepts patient and user wildcards when wildcards are on', () => {
    expect(() => checkRegistrationScopes(['patient/*.rs', 'user/*.read', 'user/*.*'], lax)).not.toThrow();
  });

  it('always accepts system wildcards', () => {
    expect(() => checkRegistrationScopes(['system/*.rs', 'system/*.read', 'system/*.cruds'], strict)).not.toThrow();
  });

  it('names the first malformed scope', () => {
    const e = scopeError(() => checkRegistrationScopes(['openid', 'patient/Observation.rx', 'patient/Nope.read'], lax));
    expect(e.scope).toBe('patient/Observation.rx');
  });

  it('refuses unknown scopes', () => {
    const e = scopeError(() => checkRegistrationScopes(['openid', 'email'], lax));
    expect(e.scope).toBe('email');
    expect(e.message).toContain('not supported');
    expect(e.message).toContain('launch/patient');
  });

  it('refuses malformed scopes before the wildcard check reaches later ones', () => {
    expect(scopeError(() => checkRegistrationScopes(['foo/Observation.read', 'patient/*.rs'], strict)).scope).toBe('foo/Observation.read');
  });
});

describe('needsApproval', () => {
  it('is false for patient-context and self-service scopes', () => {
    expect(needsApproval([])).toBe(false);
    expect(
      needsApproval(['openid', 'fhirUser', 'profile', 'launch/patient', 'offline_access', 'online_access', 'patient/Observation.rs', 'patient/*.read', 'patient/Condition.rs?category=x']),
    ).toBe(false);
  });

  it('is true for any user/ or system/ resource scope', () => {
    expect(needsApproval(['patient/Observation.rs', 'user/Observation.r'])).toBe(true);
    expect(needsApproval(['system/*.rs'])).toBe(true);
    expect(needsApproval(['openid', 'system/Patient.read'])).toBe(true);
  });

  it('is true for the EHR launch scope', () => {
    expect(needsApproval(['openid', 'launch'])).toBe(true);
    expect(needsApproval(['launch/patient'])).toBe(false);
  });

  it('fails closed on scopes that do not parse or are unknown', () => {
    expect(needsApproval(['patient/Nope.rs'])).toBe(true);
    expect(needsApproval(['email'])).toBe(true);
  });
});

describe('grantableScopes', () => {
  const code = { allowWildcards: false, grant: 'authorization_code' } as const;
  const codeLax = { allowWildcards: true, grant: 'authorization_code' } as const;
  const cc = { allowWildcards: false, grant: 'client_credentials' } as const;

  it('grants exactly what was registered', () => {
    const registered = ['openid', 'fhirUser', 'launch/patient', 'patient/Observation.rs', 'offline_access'];
    expect(grantableScopes(registered, registered, code)).toEqual(registered);
  });

  it('keeps request order and drops duplicates', () => {
    const registered = ['patient/Observation.rs', 'openid', 'fhirUser'];
    expect(grantableScopes(['fhirUser', 'patient/Observation.r', 'openid', 'fhirUser', 'patient/Observation.r'], registered, code)).toEqual([
      'fhirUser',
      'patient/Observation.r',
      'openid',
    ]);
  });

  it('returns an empty list for an empty request', () => {
    expect(grantableScopes([], ['openid'], code)).toEqual([]);
  });

  it('allows narrowing: fewer permissions, a filter, v1 to v2 and back, a type under a wildcard', () => {
    expect(
      grantableScopes(
        ['patient/Observation.r', 'patient/Observation.s?category=lab', 'patient/Condition.rs', 'patient/Condition.read'],
        ['patient/Observation.read', 'patient/Condition.rs'],
        code,
      ),
    ).toEqual(['patient/Observation.r', 'patient/Observation.s?category=lab', 'patient/Condition.rs', 'patient/Condition.read']);
    expect(grantableScopes(['patient/Observation.rs'], ['patient/*.read'], code)).toEqual(['patient/Observation.rs']);
    expect(grantableScopes(['user/Encounter.u'], ['user/Encounter.write'], code)).toEqual(['user/Encounter.u']);
  });

  it('refuses broadening with a clear message', () => {
    const registered = ['openid', 'patient/Observation.rs'];
    const e = scopeError(() => grantableScopes(['openid', 'patient/Condition.rs'], registered, code));
    expect(e.scope).toBe('patient/Condition.rs');
    expect(e.message).toBe('Scope "patient/Condition.rs" was not registered for this client (registered: openid, patient/Observation.rs)');
    for (const wanted of ['patient/Observation.cruds', 'patient/Observation.read?', 'patient/Observation.write', 'user/Observation.rs', 'patient/Observation.*']) {
      expect(() => grantableScopes([wanted], registered, code)).toThrow(ScopeError);
    }
  });

  it('refuses dropping or changing a registered filter', () => {
    const registered = ['patient/Observation.rs?category=lab'];
    expect(grantableScopes(['patient/Observation.r?category=lab'], registered, code)).toEqual(['patient/Observation.r?category=lab']);
    expect(scopeError(() => grantableScopes(['patient/Observation.rs'], registered, code)).message).toContain('was not registered');
    expect(() => grantableScopes(['patient/Observation.rs?category=vital-signs'], registered, code)).toThrow(ScopeError);
  });

  it('keeps the registered list in messages short', () => {
    const registered = Array.from({ length: 25 }, (_, i) => `patient/${['Observation', 'Condition', 'Encounter', 'Procedure', 'Immunization'][i % 5]}.${['r', 's', 'rs', 'c', 'u'][Math.floor(i / 5)]}`);
    const e = scopeError(() => grantableScopes(['patient/Patient.rs'], registered, code));
    expect(e.message).toContain('and 15 more');
    expect(e.message).toContain(registered[9]);
    expect(e.message).not.toContain(registered[10]);
  });

  it('says so when nothing was registered', () => {
    expect(scopeError(() => grantableScopes(['openid'], [], code)).message).toContain('(registered: none)');
  });

  it.each([['openid'], ['fhirUser'], ['profile'], ['launch'], ['launch/patient'], ['offline_access']])(
    'refuses the non-resource scope %s unless registered',
    (scope) => {
      const e = scopeError(() => grantableScopes([scope], ['patient/Observation.rs'], code));
      expect(e.scope).toBe(scope);
      expect(e.message).toContain('was not registered');
      expect(grantableScopes([scope], [scope], code)).toEqual([scope]);
    },
  );

  it('refuses unknown and malformed scopes even when "registered"', () => {
    expect(scopeError(() => grantableScopes(['email'], ['email'], code)).message).toContain('not supported');
    expect(scopeError(() => grantableScopes(['patient/Observation.sr'], ['patient/Observation.sr', 'patient/*.rs'], codeLax)).scope).toBe(
      'patient/Observation.sr',
    );
  });

  it('names the first offending scope', () => {
    const e = scopeError(() => grantableScopes(['openid', 'patient/Condition.rs', 'email'], ['openid'], code));
    expect(e.scope).toBe('patient/Condition.rs');
  });

  it('refuses a wildcard in patient context when wildcards are off, even if registered', () => {
    const e = scopeError(() => grantableScopes(['patient/*.read'], ['patient/*.read'], code));
    expect(e.message).toBe(WILDCARD_MESSAGE);
    expect(() => grantableScopes(['user/*.rs'], ['user/*.cruds'], code)).toThrow(/KILN_ALLOW_WILDCARD_SCOPES/);
  });

  it('grants a registered wildcard when wildcards are on', () => {
    expect(grantableScopes(['patient/*.rs', 'user/*.r'], ['patient/*.read', 'user/*.*'], codeLax)).toEqual(['patient/*.rs', 'user/*.r']);
  });

  it('refuses system/ scopes for authorization_code', () => {
    const e = scopeError(() => grantableScopes(['openid', 'system/Patient.rs'], ['openid', 'system/Patient.rs'], code));
    expect(e.scope).toBe('system/Patient.rs');
    expect(e.message).toContain('system/ scopes are for backend services (client_credentials)');
  });

  it('grants only system/ resource scopes for client_credentials', () => {
    const registered = ['system/*.rs', 'system/Patient.read', 'openid', 'offline_access', 'patient/Observation.rs', 'user/Observation.rs'];
    expect(grantableScopes(['system/*.rs', 'system/Patient.r', 'system/Observation.s'], registered, cc)).toEqual([
      'system/*.rs',
      'system/Patient.r',
      'system/Observation.s',
    ]);
    for (const scope of ['openid', 'offline_access', 'patient/Observation.rs', 'user/Observation.rs', 'launch']) {
      const e = scopeError(() => grantableScopes(['system/*.rs', scope], registered, cc));
      expect(e.scope).toBe(scope);
      expect(e.message).toContain('client_credentials grants only system/ scopes');
    }
  });

  it('still refuses unregistered system/ scopes for client_credentials', () => {
    expect(scopeError(() => grantableScopes(['system/*.rs'], ['system/Patient.rs'], cc)).message).toContain('was not registered');
    expect(scopeError(() => grantableScopes(['system/Patient.cruds'], ['system/Patient.read'], cc)).scope).toBe('system/Patient.cruds');
  });

  it('ignores registered scopes that no longer parse', () => {
    expect(grantableScopes(['patient/Observation.rs'], ['patient/Nope.rs', 'patient/Observation.rs'], code)).toEqual(['patient/Observation.rs']);
    expect(() => grantableScopes(['patient/Observation.rs'], ['patient/Nope.rs'], code)).toThrow(ScopeError);
  });
});

describe('GrantedScopes', () => {
  const granted = new GrantedScopes([
    'openid',
    'fhirUser',
    'launch/patient',
    'patient/Observation.rs?category=laboratory',
    'patient/Observation.r?category=vital-signs',
    'patient/Condition.read',
    'user/*.s',
    'user/Encounter.write',
    'patient/Condition.read',
    'patient/Nope.rs',
    'bad"scope',
    'email',
  ]);

  it('separates resource scopes from the others and skips what does not parse', () => {
    expect(granted.resource.map((s) => s.raw)).toEqual([
      'patient/Observation.rs?category=laboratory',
      'patient/Observation.r?category=vital-signs',
      'patient/Condition.read',
      'user/*.s',
      'user/Encounter.write',
    ]);
    expect([...granted.others]).toEqual(['openid', 'fhirUser', 'launch/patient', 'email']);
  });

  it('never throws on strings that do not parse', () => {
    expect(() => new GrantedScopes(['', 'patient/Observation.sr', 'x y', '\u0000'])).not.toThrow();
    expect(new GrantedScopes(['patient/Observation.sr']).resource).toHaveLength(0);
  });

  it('lists the contexts present', () => {
    expect([...granted.contexts].sort()).toEqual(['patient', 'user']);
    expect(new GrantedScopes(['system/*.rs']).contexts).toEqual(new Set(['system']));
    expect(new GrantedScopes(['openid']).contexts.size).toBe(0);
  });

  it('has() checks exact non-resource scopes', () => {
    expect(granted.has('openid')).toBe(true);
    expect(granted.has('launch/patient')).toBe(true);
    expect(granted.has('profile')).toBe(false);
    expect(granted.has('patient/Condition.read')).toBe(false);
  });

  it('allowing() returns every scope that allows the permission, with its filter', () => {
    const reads = granted.allowing('patient', 'Observation', 'r');
    expect(reads.map((s) => s.query?.raw)).toEqual(['category=laboratory', 'category=vital-signs']);
    expect(granted.allowing('patient', 'Observation', 's').map((s) => s.raw)).toEqual(['patient/Observation.rs?category=laboratory']);
    expect(granted.allowing('patient', 'Condition', 's').map((s) => s.raw)).toEqual(['patient/Condition.read']);
    expect(granted.allowing('patient', 'Condition', 's')[0].query).toBeUndefined();
  });

  it('allowing() is empty when nothing allows it', () => {
    expect(granted.allowing('patient', 'Observation', 'c')).toEqual([]);
    expect(granted.allowing('patient', 'Patient', 'r')).toEqual([]);
    expect(granted.allowing('user', 'Observation', 'r')).toEqual([]);
    expect(granted.allowing('system', 'Observation', 's')).toEqual([]);
  });

  it('allowing() matches wildcard types', () => {
    expect(granted.allowing('user', 'Observation', 's').map((s) => s.raw)).toEqual(['user/*.s']);
    expect(granted.allowing('user', 'Encounter', 's').map((s) => s.raw)).toEqual(['user/*.s']);
    expect(granted.allowing('user', 'Encounter', 'u').map((s) => s.raw)).toEqual(['user/Encounter.write']);
  });

  it('allows() answers whatever the filter', () => {
    expect(granted.allows('patient', 'Observation', 'r')).toBe(true);
    expect(granted.allows('patient', 'Observation', 'u')).toBe(false);
    expect(granted.allows('user', 'Patient', 's')).toBe(true);
    expect(granted.allows('user', 'Patient', 'r')).toBe(false);
    expect(granted.allows('user', 'Encounter', 'c')).toBe(true);
    expect(granted.allows('user', 'Encounter', 'd')).toBe(true);
    expect(granted.allows('user', 'Encounter', 'r')).toBe(false);
    expect(granted.allows('system', 'Encounter', 's')).toBe(false);
  });

  it('v1 * grants every permission', () => {
    const all = new GrantedScopes(['system/*.*']);
    for (const p of ['c', 'r', 'u', 'd', 's'] as const) expect(all.allows('system', 'Patient', p)).toBe(true);
    expect(all.allows('patient', 'Patient', 'r')).toBe(false);
  });
});
