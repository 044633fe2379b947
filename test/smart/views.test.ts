import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { consentPage, describeScope, errorPage, escapeHtml, loginPage, patientPickerPage, VIEW_CSP } from '../../smart/views/index.js';

/** The attributes of every `<tag ...>` in `html`, values un-escaped. */
function tags(html: string, tag: string): Record<string, string>[] {
  return [...html.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'gi'))].map(([, attrs]) => {
    const out: Record<string, string> = {};
    for (const [, name, , value] of attrs.matchAll(/([\w-]+)(="([^"]*)")?/g)) out[name] = unescape(value ?? '');
    return out;
  });
}

function unescape(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

/** The `<form>...</form>` blocks of a page. */
function forms(html: string): string[] {
  return [...html.matchAll(/<form\b[\s\S]*?<\/form>/gi)].map(([f]) => f);
}

/** Checks shared by every page: one h1, a language, a viewport, no external assets or script. */
function expectWellFormedPage(html: string): void {
  expect(html.startsWith('<!doctype html>')).toBe(true);
  expect(html).toMatch(/<html lang="en">/);
  expect(html).toMatch(/<meta name="viewport" content="width=device-width, initial-scale=1">/);
  expect(html.match(/<h1\b/g)).toHaveLength(1);
  expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
}

/** Every POST form carries the csrf token and every visible input has a label tied to it. */
function expectPostFormContract(form: string, action: string, csrf: string): void {
  const [f] = tags(form, 'form');
  expect(f.method).toBe('post');
  expect(f.action).toBe(action);
  expect(tags(form, 'input').filter((i) => i.type === 'hidden' && i.name === 'csrf')).toEqual([{ type: 'hidden', name: 'csrf', value: csrf }]);
  expect(tags(form, 'button').filter((b) => b.type === 'submit').length).toBeGreaterThan(0);
}

function expectLabelled(html: string): void {
  const labelled = new Set(tags(html, 'label').map((l) => l.for));
  for (const input of tags(html, 'input').filter((i) => i.type !== 'hidden')) expect(labelled).toContain(input.id);
}

const EVIL = `<script>alert("x")</script> & 'quoted'`;

describe('escapeHtml', () => {
  it('escapes markup, both quotes and ampersands', () => {
    expect(escapeHtml(EVIL)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;');
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
    expect(escapeHtml(42)).toBe('42');
  });

  it('is applied to every interpolated value on every page', () => {
    const pages = [
      loginPage({ action: EVIL, csrf: EVIL, clientName: EVIL, error: EVIL, username: EVIL }),
      patientPickerPage({ action: EVIL, csrf: EVIL, clientName: EVIL, query: EVIL, searchAction: EVIL, patients: [{ id: EVIL, name: EVIL, birthDate: EVIL, gender: EVIL, identifier: EVIL }] }),
      patientPickerPage({ action: EVIL, csrf: EVIL, clientName: EVIL, query: EVIL, searchAction: EVIL, patients: [] }),
      consentPage({ action: EVIL, csrf: EVIL, clientName: EVIL, clientUri: EVIL, patientBanner: { name: EVIL, birthDate: EVIL, id: EVIL }, scopes: [{ scope: EVIL, description: EVIL }] }),
      errorPage({ title: EVIL, message: EVIL }),
    ];
    for (const html of pages) {
      expect(html).not.toContain('<script');
      expect(html).not.toMatch(/"x"|'quoted'/);
      expect(html).toContain('&lt;script&gt;');
    }
  });

  it('never links a non-http client URI', () => {
    const html = consentPage({ action: '/a', csrf: 't', clientName: 'App', clientUri: 'javascript:alert(1)', scopes: [] });
    expect(html).not.toContain('javascript:');
    expect(tags(html, 'a')).toHaveLength(0);
    const linked = consentPage({ action: '/a', csrf: 't', clientName: 'App', clientUri: 'https://app.example/about', scopes: [] });
    expect(tags(linked, 'a')[0].href).toBe('https://app.example/about');
  });
});

describe('loginPage', () => {
  it('posts username, password and csrf to the action', () => {
    const html = loginPage({ action: '/oauth/interaction/abc/login', csrf: 'tok&1', clientName: 'Growth Chart' });
    expectWellFormedPage(html);
    expect(forms(html)).toHaveLength(1);
    expectPostFormContract(forms(html)[0], '/oauth/interaction/abc/login', 'tok&1');
    expectLabelled(html);
    const inputs = tags(html, 'input');
    expect(inputs.find((i) => i.name === 'username')).toMatchObject({ type: 'text', autocomplete: 'username', value: '' });
    expect(inputs.find((i) => i.name === 'password')).toMatchObject({ type: 'password', autocomplete: 'current-password' });
    expect(html).toContain('Sign in to continue to <strong>Growth Chart</strong>');
    expect(html).not.toContain('role="alert"');
  });

  it('shows an error and keeps the username', () => {
    const html = loginPage({ action: '/x', csrf: 't', clientName: 'App', error: 'Wrong username or password', username: 'alice' });
    expect(html).toMatch(/role="alert">Wrong username or password</);
    expect(tags(html, 'input').find((i) => i.name === 'username')?.value).toBe('alice');
    expect(tags(html, 'input').find((i) => i.name === 'password')?.value).toBeUndefined();
  });
});

describe('patientPickerPage', () => {
  const patients = [
    { id: 'p1', name: 'Amy Shaw', birthDate: '1987-02-20', gender: 'female', identifier: 'MRN 123' },
    { id: 'p-2', name: 'Bo Li' },
  ];

  it('has a GET search form and one radio per patient in the POST form', () => {
    const html = patientPickerPage({ action: '/pick', csrf: 'c1', clientName: 'App', patients, query: 'a', searchAction: '/pick/search' });
    expectWellFormedPage(html);
    expectLabelled(html);
    const [search, pick] = forms(html);
    expect(tags(search, 'form')[0]).toMatchObject({ method: 'get', action: '/pick/search' });
    expect(tags(search, 'input')).toEqual([expect.objectContaining({ type: 'search', name: 'q', value: 'a' })]);
    expect(search).not.toContain('name="csrf"');
    expectPostFormContract(pick, '/pick', 'c1');
    const radios = tags(pick, 'input').filter((i) => i.type === 'radio');
    expect(radios.map((r) => [r.name, r.value])).toEqual([
      ['patient', 'p1'],
      ['patient', 'p-2'],
    ]);
    expect(html).toContain('Amy Shaw');
    expect(html).toContain('1987-02-20');
    expect(html).toContain('MRN 123');
  });

  it('says clearly when no patient matches', () => {
    const html = patientPickerPage({ action: '/pick', csrf: 'c1', clientName: 'App', patients: [], query: 'zz', searchAction: '/s' });
    expectWellFormedPage(html);
    expect(html).toContain('No patients match');
    expect(tags(html, 'input').filter((i) => i.type === 'radio')).toHaveLength(0);
  });
});

describe('consentPage', () => {
  const scopes = ['openid', 'patient/Observation.rs', 'offline_access'].map((scope) => ({ scope, description: describeScope(scope) }));

  it('has a checked scope checkbox per scope and allow/deny decisions', () => {
    const html = consentPage({ action: '/consent', csrf: 'k', clientName: 'App', patientBanner: { name: 'Amy Shaw', birthDate: '1987-02-20', id: 'p1' }, scopes });
    expectWellFormedPage(html);
    expectLabelled(html);
    expect(forms(html)).toHaveLength(1);
    expectPostFormContract(forms(html)[0], '/consent', 'k');
    const boxes = tags(html, 'input').filter((i) => i.type === 'checkbox');
    expect(boxes.map((b) => b.value)).toEqual(['openid', 'patient/Observation.rs', 'offline_access']);
    for (const b of boxes) {
      expect(b.name).toBe('scope');
      expect(b).toHaveProperty('checked');
    }
    expect(html).toContain('Read and search your Observation records');
    const decisions = tags(html, 'button').map((b) => [b.name, b.value]);
    expect(decisions).toEqual([
      ['decision', 'allow'],
      ['decision', 'deny'],
    ]);
    expect(html).toContain('Amy Shaw');
  });
});

describe('errorPage', () => {
  it('shows the title as the only heading and the message', () => {
    const html = errorPage({ title: 'Unknown app', message: 'This app is not registered.' });
    expectWellFormedPage(html);
    expect(html).toContain('<h1>Unknown app</h1>');
    expect(html).toContain('This app is not registered.');
  });
});

describe('VIEW_CSP', () => {
  it('allows exactly the inline style the pages carry', () => {
    const style = /<style>([\s\S]*?)<\/style>/.exec(errorPage({ title: 't', message: 'm' }))?.[1] ?? '';
    expect(VIEW_CSP).toContain(`'sha256-${createHash('sha256').update(style).digest('base64')}'`);
    expect(VIEW_CSP).toContain("default-src 'none'");
  });
});

describe('describeScope', () => {
  it.each([
    ['patient/Observation.rs', 'Read and search your Observation records'],
    ['patient/Observation.read', 'Read and search your Observation records'],
    ['user/*.cruds', 'Create, read, update, delete and search all records you can access'],
    ['user/*.*', 'Create, read, update, delete and search all records you can access'],
    ['patient/*.read', 'Read and search all your records'],
    ['user/Patient.r', 'Read Patient records you can access'],
    ['patient/MedicationRequest.write', 'Create, update and delete your MedicationRequest records'],
    ['system/*.rs', 'Read and search all records'],
    ['openid', 'Know who you are'],
    ['fhirUser', 'Know who you are'],
    ['profile', 'Know who you are'],
    ['launch/patient', 'Know which patient is in context'],
    ['launch/encounter', 'Know which encounter is in context'],
    ['offline_access', 'Keep access when you are not using the app'],
    ['online_access', 'Keep access while you are signed in'],
  ])('%s → %s', (scope, text) => {
    expect(describeScope(scope)).toBe(text);
  });

  it('names the restriction of a granular scope', () => {
    const text = describeScope('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
    expect(text).toBe('Read and search your Observation records where category is laboratory');
    expect(describeScope('patient/Condition.rs?category=problem-list-item&clinical-status=active')).toBe(
      'Read and search your Condition records where category is problem-list-item and clinical-status is active',
    );
  });

  it('gives a generic line for anything it does not recognise', () => {
    expect(describeScope('toString')).toBe('Use the permission “toString”');
    expect(describeScope('patient/Observation.')).toBe('Use the permission “patient/Observation.”');
    expect(describeScope('patient/Observation.sr')).toBe('Use the permission “patient/Observation.sr”');
  });
});
