import express, { type NextFunction, type Request, type Response } from 'express';

/**
 * SMART apps ask for `offline_access` without `prompt=consent`, which OpenID Connect
 * (https://openid.net/specs/openid-connect-core-1_0.html#OfflineAccess) and so
 * oidc-provider require, dropping the scope otherwise. Every authorization here shows
 * the consent page anyway, so the request is given `prompt=consent` on its way in (added
 * to a `prompt=login` too; `prompt=none` is left alone, as it cannot show a page).
 * Mounted at `/oauth/auth`, before the provider.
 */
export function offlineAccessConsent(): express.Router {
  const router = express.Router();
  const wantsOffline = (scope: unknown) => typeof scope === 'string' && scope.split(' ').includes('offline_access');
  /** The prompt to send on, or undefined to leave it as it is. */
  const withConsent = (prompt: unknown): string | undefined => {
    if (prompt === undefined || prompt === null || prompt === '') return 'consent';
    if (typeof prompt !== 'string') return undefined;
    const values = prompt.split(' ').filter(Boolean);
    return values.includes('none') || values.includes('consent') ? undefined : [...values, 'consent'].join(' ');
  };
  router.get('/', (req: Request, _res: Response, next: NextFunction) => {
    const url = new URL(req.url, 'http://x');
    const prompt = wantsOffline(url.searchParams.get('scope')) ? withConsent(url.searchParams.get('prompt') ?? undefined) : undefined;
    if (prompt !== undefined && url.searchParams.getAll('prompt').length <= 1) {
      url.searchParams.set('prompt', prompt);
      req.url = `${url.pathname}${url.search}`;
    }
    next();
  });
  // A POSTed request is parsed here; oidc-provider then reads the parsed body.
  router.post('/', express.urlencoded({ extended: false, limit: '56kb' }), (req: Request, _res: Response, next: NextFunction) => {
    const body = req.body as Record<string, unknown> | undefined;
    const prompt = body && wantsOffline(body.scope) ? withConsent(body.prompt) : undefined;
    if (body && prompt !== undefined) body.prompt = prompt;
    next();
  });
  return router;
}
