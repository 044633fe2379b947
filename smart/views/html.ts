import { createHash } from 'node:crypto';

/**
 * Escapes text for HTML element content and quoted attribute values. Every value a view
 * interpolates goes through this, whatever its origin: client names and patient names
 * come from registrations and records that anyone with write access controls.
 * See: https://html.spec.whatwg.org/multipage/syntax.html#character-references
 */
export function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A value for an `href`: only http(s) URLs, so a registered `javascript:` URI never becomes a link. */
export function safeHref(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const u = new URL(value);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/** The hidden anti-forgery field every POST form carries. */
export function csrfField(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;
}

// System fonts, no external assets; sized for thumbs (44px targets) and narrow screens.
const STYLE = `
:root{color-scheme:light dark;--accent:#0b5cad;--muted:#5b6470;--line:#c9ced6;--bad:#a4161a;--bad-bg:#fdecec}
@media (prefers-color-scheme:dark){:root{--accent:#7db4ff;--muted:#a7afba;--line:#4a515c;--bad:#ffb3b3;--bad-bg:#3a1d1f}}
*{box-sizing:border-box}
body{margin:0;font:1.0625rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;background:Canvas;color:CanvasText}
main{max-width:34rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 .75rem}
p{margin:.5rem 0 1rem}
.muted{color:var(--muted)}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=text],input[type=password],input[type=search]{display:block;width:100%;min-height:2.75rem;padding:.5rem .75rem;font:inherit;color:inherit;background:Canvas;border:1px solid var(--line);border-radius:.375rem}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
button{display:block;width:100%;min-height:2.75rem;margin-top:1rem;padding:.625rem 1rem;font:inherit;font-weight:600;border-radius:.375rem;border:1px solid var(--accent);background:var(--accent);color:Canvas;cursor:pointer}
button.secondary{background:transparent;color:var(--accent)}
fieldset{border:0;padding:0;margin:1rem 0}
legend{font-weight:600;padding:0;margin-bottom:.25rem}
.choice{display:flex;gap:.75rem;align-items:flex-start;margin:0;padding:.75rem;border:1px solid var(--line);border-top-width:0;font-weight:400}
.choice:first-of-type{border-top-width:1px;border-radius:.375rem .375rem 0 0}
.choice:last-of-type{border-radius:0 0 .375rem .375rem}
.choice:only-of-type{border-radius:.375rem}
.choice input{flex:none;width:1.375rem;height:1.375rem;margin:.125rem 0 0}
.choice small,.banner small{display:block;color:var(--muted)}
.error{padding:.75rem;border-left:4px solid var(--bad);background:var(--bad-bg);color:var(--bad)}
.banner{padding:.75rem;border:1px solid var(--line);border-radius:.375rem;margin:1rem 0}
code{font-size:.875em;word-break:break-all}
.search{display:flex;gap:.5rem;align-items:flex-end}
.search div{flex:1}
.search button{width:auto;margin-top:0}
`;

/**
 * A Content-Security-Policy for these pages: nothing may load, only this inline style
 * runs, and no other site may frame them (clickjacking of the consent buttons).
 * `form-action` is left out on purpose: browsers apply it to the redirect back to the
 * app that follows a form post, which would break the authorization flow.
 * See: https://www.w3.org/TR/CSP3/#directive-style-src
 */
export const VIEW_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; frame-ancestors 'none'; base-uri 'none'`;

/** The page shell: language, viewport, title and the shared style; `body` is trusted HTML built by a view. */
export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}
