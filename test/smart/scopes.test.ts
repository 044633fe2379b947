import { describe, expect, it } from '@jest/globals';
import {
  OTHER_SCOPES,
  ScopeError,
  covers,
  isResourceScope,
  parseScope,
  splitScopes,
  type Permission,
  type ResourceScope,
} from '../../smart/scopes/index.js';
import { scopeError } from '../helpers/scopes.js';

/** Parses a scope that must be a resource scope. */
function rs(scope: string): ResourceScope {
  const parsed = parseScope(scope);
  if (!isResourceScope(parsed)) throw new Error(`not a resource scope: ${String(parsed)}`);
  return parsed;
}

/** The permissions as a string in c,r,u,d,s order. */
function perms(scope: ResourceScope): string {
  return (['c', 'r', 'u', 'd', 's'] as Permission[]).filter((p) => scope.permissions.has(p)).join('');
}


describe('parseScope: SMART v2 syntax', () => {
  it('parses a simple v2 scope', () => {
    const s = rs('patient/Observation.rs');
    expect(s).toEqual({
      raw: 'patient/Observation.rs',
      context: 'patient',
      type: 'Observation',
      permissions: new Set(['r', 's']),
      version: 2,
    });
    expect(s.query).toBeUndefined();
  });

  it.each([
    ['c'], ['r'], ['u'], ['d'], ['s'],
    ['cr'], ['cu'], ['rs'], ['ud'], ['ds'], ['cd'],
    ['cru'], ['rud'], ['crs'], ['uds'],
    ['crud'], ['ruds'], ['cuds'],
    ['cruds'],
  ])('accepts the in-order permission subset .%s', (letters) => {
    const s = rs(`user/Patient.${letters}`);
    expect(perms(s)).toBe(letters);
    expect(s.permissions.size).toBe(letters.length);
    expect(s.version).toBe(2);
  });

  it.each([
    ['sr'], ['dc'], ['rc'], ['sdurc'], ['scrud'], ['rsc'], ['cdr'],
  ])('rejects letters out of order: .%s', (letters) => {
    const e = scopeError(() => parseScope(`patient/Observation.${letters}`));
    expect(e.scope).toBe(`patient/Observation.${letters}`);
    expect(e.message).toContain(`"patient/Observation.${letters}"`);
    expect(e.message).toContain('c, r, u, d, s');
  });

  it.each([['rr'], ['rss'], ['cc'], ['crudss'], ['ccruds']])('rejects duplicated letters: .%s', (letters) => {
    expect(() => parseScope(`patient/Observation.${letters}`)).toThrow(ScopeError);
  });

  it.each([['rx'], ['x'], ['R'], ['RS'], ['rs1'], ['ra'], ['READ'], ['Read'], ['reads'], ['all']])(
    'rejects unknown letters or words: .%s',
    (letters) => {
      const e = scopeError(() => parseScope(`patient/Observation.${letters}`));
      expect(e.message).toContain(`invalid permissions ".${letters}"`);
    },
  );

  it('rejects an empty permission part and a missing one', () => {
    expect(scopeError(() => parseScope('patient/Observation.')).message).toContain('invalid permissions');
    expect(scopeError(() => parseScope('patient/Observation')).message).toContain('has no permissions');
    expect(scopeError(() => parseScope('patient/')).message).toContain('has no permissions');
  });

  it('rejects a second dot', () => {
    expect(() => parseScope('patient/Observation.r.s')).toThrow(ScopeError);
  });
});

describe('parseScope: SMART v1 syntax', () => {
  it('maps read to rs', () => {
    const s = rs('patient/Observation.read');
    expect(perms(s)).toBe('rs');
    expect(s.version).toBe(1);
  });

  it('maps write to cud', () => {
    const s = rs('user/Encounter.write');
    expect(perms(s)).toBe('cud');
    expect(s.version).toBe(1);
  });

  it('maps * to cruds', () => {
    const s = rs('system/Patient.*');
    expect(perms(s)).toBe('cruds');
    expect(s.version).toBe(1);
  });

  it('keeps the raw string', () => {
    expect(rs('user/*.*').raw).toBe('user/*.*');
  });
});

describe('parseScope: contexts and types', () => {
  it.each([['patient'], ['user'], ['system']] as const)('accepts the %s context', (context) => {
    const s = rs(`${context}/Condition.rs`);
    expect(s.context).toBe(context);
    expect(s.type).toBe('Condition');
  });

  it.each([['foo/Observation.read'], ['Patient/Observation.rs'], ['USER/*.read'], ['practitioner/Observation.rs?code=x']])(
    'rejects an unknown context: %s',
    (scope) => {
      const e = scopeError(() => parseScope(scope));
      expect(e.scope).toBe(scope);
      expect(e.message).toContain('patient/, user/ or system/');
    },
  );

  it('accepts the wildcard type in every context', () => {
    expect(rs('patient/*.rs').type).toBe('*');
    expect(rs('user/*.cruds').type).toBe('*');
    expect(rs('system/*.read').type).toBe('*');
  });

  it('rejects an unknown resource type and names it', () => {
    const e = scopeError(() => parseScope('patient/Nope.read'));
    expect(e.scope).toBe('patient/Nope.read');
    expect(e.message).toContain('"Nope"');
    expect(e.message).toContain('not an R4 resource type');
  });

  it('rejects resource types in the wrong case, abstract types, data types and an empty type', () => {
    for (const scope of ['patient/observation.rs', 'patient/Resource.rs', 'patient/DomainResource.rs', 'patient/HumanName.rs', 'patient/.rs', 'patient/**.rs']) {
      expect(() => parseScope(scope)).toThrow(ScopeError);
    }
  });

  it('accepts R4 resource types beyond the common ones', () => {
    expect(rs('user/MedicationKnowledge.rs').type).toBe('MedicationKnowledge');
    expect(rs('system/Group.read').type).toBe('Group');
  });
});

describe('parseScope: other scopes', () => {
  it.each(OTHER_SCOPES.map((s) => [s]))('returns the known scope %s as a string', (scope) => {
    expect(parseScope(scope)).toBe(scope);
  });

  it('lists exactly the supported non-resource scopes', () => {
    expect([...OTHER_SCOPES].sort()).toEqual(
      ['fhirUser', 'launch', 'launch/encounter', 'launch/patient', 'offline_access', 'online_access', 'openid', 'profile'].sort(),
    );
  });

  it.each([['email'], ['launch/location'], ['OPENID'], ['https://example.org/scope.read'], ['api:read'], ['launch/']])(
    'returns undefined for a scope it does not understand: %s',
    (scope) => {
      expect(parseScope(scope)).toBeUndefined();
    },
  );
});

describe('parseScope: charset (RFC 6749 section 3.3)', () => {
  it.each([
    ['a space', 'patient/Observation.rs openid'],
    ['a double quote', 'patient/Observation.rs?code="x"'],
    ['a backslash', 'patient/Observation.rs?code=a\\b'],
    ['a tab', 'openid\t'],
    ['a control character', 'open\u0000id'],
    ['DEL', 'openid\u007f'],
    ['non-ASCII', 'patient/Observatión.rs'],
    ['an emoji', 'openid\u{1F600}'],
  ])('rejects %s', (_what, scope) => {
    const e = scopeError(() => parseScope(scope));
    expect(e.message).toContain('not allowed in a scope');
    // The message itself stays within printable ASCII, whatever the scope held.
    expect(e.message).toMatch(/^[\x20-\x7e]+$/);
  });

  it('names the offending code point', () => {
    expect(scopeError(() => parseScope('open"id')).message).toContain('U+0022');
    expect(scopeError(() => parseScope('openid\u{1F600}')).message).toContain('U+1F600');
  });

  it('rejects the empty string', () => {
    expect(() => parseScope('')).toThrow(ScopeError);
  });

  it('cuts very long scopes in messages', () => {
    const long = `patient/${'X'.repeat(5000)}.rs`;
    const e = scopeError(() => parseScope(long));
    expect(e.scope).toBe(long);
    expect(e.message.length).toBeLessThan(400);
  });
});

describe('parseScope: granular queries', () => {
  const lab = 'category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';

  it('parses a granular v2 scope', () => {
    const s = rs(`patient/Observation.rs?${lab}`);
    expect(s.type).toBe('Observation');
    expect(perms(s)).toBe('rs');
    expect(s.query).toEqual({
      raw: lab,
      params: [['category', 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory']],
    });
  });

  it('parses several parameters in order, splitting each on its first =', () => {
    const s = rs('user/Observation.r?category=vital-signs&code=http://loinc.org|8867-4&x=a=b');
    expect(s.query?.params).toEqual([
      ['category', 'vital-signs'],
      ['code', 'http://loinc.org|8867-4'],
      ['x', 'a=b'],
    ]);
  });

  it('accepts modifiers and chains in names', () => {
    expect(rs('patient/Observation.rs?code:in=http://example.org/vs').query?.params).toEqual([['code:in', 'http://example.org/vs']]);
    expect(rs('user/Observation.rs?subject.name=x&_tag=y&a-b=z').query?.params.map((p) => p[0])).toEqual(['subject.name', '_tag', 'a-b']);
  });

  it('percent-decodes names and values, keeping + literally', () => {
    const s = rs('patient/Observation.rs?category=http%3A%2F%2Fexample.org%7Clab%20work&code=a+b&na%6De=v');
    expect(s.query?.params).toEqual([
      ['category', 'http://example.org|lab work'],
      ['code', 'a+b'],
      ['name', 'v'],
    ]);
    expect(s.query?.raw).toBe('category=http%3A%2F%2Fexample.org%7Clab%20work&code=a+b&na%6De=v');
  });

  it('rejects a bad percent escape', () => {
    for (const scope of ['patient/Observation.rs?code=%', 'patient/Observation.rs?code=%zz', 'patient/Observation.rs?code=%E0%A4%A']) {
      expect(scopeError(() => parseScope(scope)).message).toContain('percent-encoding');
    }
  });

  it('rejects an empty query', () => {
    const e = scopeError(() => parseScope('patient/Observation.rs?'));
    expect(e.message).toContain('empty search filter');
    expect(e.scope).toBe('patient/Observation.rs?');
  });

  it.each([
    ['a part without =', 'patient/Observation.rs?category'],
    ['an empty name', 'patient/Observation.rs?=x'],
    ['an empty value', 'patient/Observation.rs?category='],
    ['an empty part', 'patient/Observation.rs?a=1&&b=2'],
    ['a trailing &', 'patient/Observation.rs?a=1&'],
    ['a leading &', 'patient/Observation.rs?&a=1'],
  ])('rejects %s', (_what, scope) => {
    expect(scopeError(() => parseScope(scope)).message).toContain('malformed search filter');
  });

  it.each([['1abc'], ['-x'], ['a%20b'], ['a/b'], ['%5Fok%21']])('rejects the parameter name %s', (name) => {
    expect(scopeError(() => parseScope(`patient/Observation.rs?${name}=v`)).message).toContain('invalid search parameter name');
  });

  it('accepts a name whose decoded form is valid', () => {
    expect(rs('patient/Observation.rs?%5Ftag=x').query?.params).toEqual([['_tag', 'x']]);
  });

  it.each([['read'], ['write'], ['*']])('rejects a query on the v1 permission .%s', (word) => {
    const e = scopeError(() => parseScope(`patient/Observation.${word}?category=x`));
    expect(e.scope).toBe(`patient/Observation.${word}?category=x`);
    expect(e.message).toContain('SMART v1');
  });

  it('allows a query on a wildcard type and in every context', () => {
    expect(rs('patient/*.rs?_security=R').query?.params).toEqual([['_security', 'R']]);
    expect(rs('system/Observation.s?code=x').context).toBe('system');
  });
});

describe('splitScopes', () => {
  it('returns an empty list for undefined and blank input', () => {
    expect(splitScopes(undefined)).toEqual([]);
    expect(splitScopes('')).toEqual([]);
    expect(splitScopes('   \t\n ')).toEqual([]);
  });

  it('collapses whitespace, drops duplicates and keeps order', () => {
    expect(splitScopes('  openid  patient/Observation.rs\tfhirUser\n\nopenid launch/patient patient/Observation.rs ')).toEqual([
      'openid',
      'patient/Observation.rs',
      'fhirUser',
      'launch/patient',
    ]);
  });

  it('does not split on non-ASCII spaces, so the charset check can report them', () => {
    expect(splitScopes('openid\u00a0fhirUser')).toEqual(['openid\u00a0fhirUser']);
    expect(() => parseScope('openid\u00a0fhirUser')).toThrow(ScopeError);
  });
});

describe('covers', () => {
  const c = (held: string, wanted: string): boolean => covers(rs(held), rs(wanted));

  it('covers itself', () => {
    for (const s of ['patient/Observation.rs', 'user/*.cruds', 'system/Patient.read', 'patient/Observation.rs?category=lab']) {
      expect(c(s, s)).toBe(true);
    }
  });

  it('requires the same context', () => {
    expect(c('patient/Observation.rs', 'user/Observation.rs')).toBe(false);
    expect(c('user/Observation.rs', 'patient/Observation.rs')).toBe(false);
    expect(c('system/*.cruds', 'user/Observation.r')).toBe(false);
  });

  it('requires the same type unless held is a wildcard', () => {
    expect(c('patient/Observation.rs', 'patient/Condition.rs')).toBe(false);
    expect(c('patient/*.rs', 'patient/Condition.rs')).toBe(true);
    expect(c('patient/*.rs', 'patient/*.r')).toBe(true);
    expect(c('patient/Observation.rs', 'patient/*.rs')).toBe(false);
  });

  it('requires a subset of permissions', () => {
    expect(c('patient/Observation.rs', 'patient/Observation.r')).toBe(true);
    expect(c('patient/Observation.rs', 'patient/Observation.s')).toBe(true);
    expect(c('patient/Observation.r', 'patient/Observation.rs')).toBe(false);
    expect(c('patient/Observation.rs', 'patient/Observation.c')).toBe(false);
    expect(c('user/Observation.cruds', 'user/Observation.cd')).toBe(true);
  });

  it('mixes v1 and v2', () => {
    expect(c('patient/Observation.read', 'patient/Observation.rs')).toBe(true);
    expect(c('patient/Observation.read', 'patient/Observation.r')).toBe(true);
    expect(c('patient/Observation.read', 'patient/Observation.cruds')).toBe(false);
    expect(c('patient/Observation.rs', 'patient/Observation.read')).toBe(true);
    expect(c('patient/Observation.r', 'patient/Observation.read')).toBe(false);
    expect(c('user/Observation.write', 'user/Observation.cud')).toBe(true);
    expect(c('user/Observation.write', 'user/Observation.u')).toBe(true);
    expect(c('user/Observation.write', 'user/Observation.r')).toBe(false);
    expect(c('user/Observation.cud', 'user/Observation.write')).toBe(true);
    expect(c('user/Observation.cu', 'user/Observation.write')).toBe(false);
    expect(c('user/*.*', 'user/Observation.cruds')).toBe(true);
    expect(c('user/Observation.cruds', 'user/Observation.*')).toBe(true);
    expect(c('user/Observation.crud', 'user/Observation.*')).toBe(false);
    expect(c('user/Observation.read', 'user/Observation.write')).toBe(false);
  });

  it('lets an unfiltered scope cover a filtered one', () => {
    expect(c('patient/Observation.read', 'patient/Observation.r?category=http://example.org|lab')).toBe(true);
    expect(c('patient/*.rs', 'patient/Observation.rs?category=lab')).toBe(true);
  });

  it('does not let a filtered scope cover an unfiltered one', () => {
    expect(c('patient/Observation.rs?category=lab', 'patient/Observation.rs')).toBe(false);
    expect(c('patient/Observation.rs?category=lab', 'patient/Observation.r')).toBe(false);
  });

  it('lets a filtered scope cover the same filter, in any order and encoding', () => {
    expect(c('patient/Observation.rs?category=lab&code=x', 'patient/Observation.r?code=x&category=lab')).toBe(true);
    expect(c('patient/Observation.rs?category=a%7Cb', 'patient/Observation.rs?category=a|b')).toBe(true);
    expect(c('patient/Observation.rs?category=lab', 'patient/Observation.rs?category=lab&category=lab')).toBe(true);
  });

  it('refuses a different filter, even one that looks narrower', () => {
    expect(c('patient/Observation.rs?category=lab', 'patient/Observation.rs?category=vital-signs')).toBe(false);
    expect(c('patient/Observation.rs?category=lab', 'patient/Observation.rs?category=lab&code=x')).toBe(false);
    expect(c('patient/Observation.rs?category=lab&code=x', 'patient/Observation.rs?category=lab')).toBe(false);
    expect(c('patient/Observation.rs?category=lab', 'patient/Observation.rs?code=lab')).toBe(false);
  });

  it('still checks permissions and type when the filters match', () => {
    expect(c('patient/Observation.r?category=lab', 'patient/Observation.rs?category=lab')).toBe(false);
    expect(c('patient/Observation.rs?category=lab', 'patient/Condition.rs?category=lab')).toBe(false);
    expect(c('patient/*.rs?category=lab', 'patient/Condition.r?category=lab')).toBe(true);
  });
});
