/**
 * A minimal headless user agent for the sign-in pages: a cookie jar, redirects
 * followed by hand (so each hop's cookies are kept), and HTML forms filled and sent
 * the way a browser would. Enough to drive the authorization flow over real HTTP.
 */

export interface Page {
  url: string;
  status: number;
  text: string;
  headers: Headers;
}

/** One HTML form: where it posts and the fields it carries (hidden ones included). */
export interface Form {
  action: string;
  fields: Record<string, string>;
}

function decode(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The POST forms of a page, each with its hidden inputs (the caller adds what a user types). */
export function forms(page: Page): Form[] {
  const out: Form[] = [];
  for (const m of page.text.matchAll(/<form[^>]*method="post"[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const fields: Record<string, string> = {};
    for (const input of m[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\s*\/?>/g)) fields[decode(input[1])] = decode(input[2]);
    out.push({ action: new URL(decode(m[1]), page.url).href, fields });
  }
  return out;
}

/** The values of every input named `name` (checkboxes and radios). */
export function inputValues(page: Page, name: string): string[] {
  return [...page.text.matchAll(new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`, 'g'))].map((m) => decode(m[1]));
}

export class Browser {
  private readonly jar = new Map<string, string>();

  private store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()));
      if (expired || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  private cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Sends a request and follows redirects; stops early at a URL `stopAt` accepts (its page is not fetched). */
  async request(url: string, init: { method?: string; form?: URLSearchParams } = {}, stopAt?: (url: string) => boolean): Promise<Page> {
    let next = url;
    let method = init.method ?? 'GET';
    let body: URLSearchParams | undefined = init.form;
    for (let hop = 0; hop < 20; hop++) {
      if (stopAt?.(next)) return { url: next, status: 0, text: '', headers: new Headers() };
      const headers: Record<string, string> = { cookie: this.cookieHeader() };
      if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
      const res = await fetch(next, { method, headers, body, redirect: 'manual' });
      this.store(res);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        next = new URL(location, next).href;
        method = 'GET';
        body = undefined;
        await res.arrayBuffer();
        continue;
      }
      return { url: next, status: res.status, text: await res.text(), headers: res.headers };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  get(url: string, stopAt?: (url: string) => boolean): Promise<Page> {
    return this.request(url, {}, stopAt);
  }

  /** Submits `form` with extra fields (repeated names as arrays), as a browser would. */
  submit(form: Form, extra: Record<string, string | string[]>, stopAt?: (url: string) => boolean): Promise<Page> {
    const data = new URLSearchParams(form.fields);
    for (const [k, v] of Object.entries(extra)) for (const x of Array.isArray(v) ? v : [v]) data.append(k, x);
    return this.request(form.action, { method: 'POST', form: data }, stopAt);
  }
}
