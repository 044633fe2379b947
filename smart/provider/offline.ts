import express, { type NextFunction, type Request, type Response } from 'express';

/**
 * SMART apps ask for `offline_access` without `prompt=consent`, which OpenID Connect
 * (https://openid.net/specs/openid-connect-core-1_0.html#OfflineAccess) and so
 * oidc-provider require, dropping the scope otherwise. Every authorization here shows
 * the consent page anyway, so the request is given `prompt=consent` on its way in.
 * Mounted at `/oauth/auth`, before the provider.
 */
export function offlineAccessConsent(): express.Router {
  const router = express.Router();
  const wantsOffline = (scope: unknown) => typeof scope === 'string' && scope.split(' ').includes('offline_access');
  router.get('/', (req: Request, _res: Response, next: NextFunction) => {
    const url = new URL(req.url, 'http://x');
    if (wantsOffline(url.searchParams.get('scope')) && !url.searchParams.has('prompt')) {
      url.searchParams.set('prompt', 'consent');
      req.url = `${url.pathname}${url.search}`;
    }
    next();
  });
  // A POSTed request is parsed here; oidc-provider then reads the parsed body.
  router.post('/', express.urlencoded({ extended: false, limit: '56kb' }), (req: Request, _res: Response, next: NextFunction) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (body && wantsOffline(body.scope) && body.prompt === undefined) body.prompt = 'consent';
    next();
  });
  return router;
}
