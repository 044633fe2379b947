import express, { type NextFunction, type Request, type Response } from 'express';
import { ClientMetadataError, type ClientService } from './clients/index.js';

/**
 * Dynamic client registration (RFC 7591, https://www.rfc-editor.org/rfc/rfc7591#section-3):
 * `POST /oauth/reg` with client metadata and the SMART scopes the app needs. An app that
 * asks only for patient-context scopes is enabled at once; one asking for `user/`,
 * `system/` or `launch` scopes waits for an administrator (its status says so).
 */
export function registrationRoute(clients: ClientService): express.Router {
  const router = express.Router();
  router.post('/', express.json({ limit: '64kb', type: ['application/json', 'application/*+json'] }), async (req: Request, res: Response) => {
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    if (!req.is('application/json') || typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
      res.status(400).json({ error: 'invalid_client_metadata', error_description: 'The request body must be a JSON object of client metadata' });
      return;
    }
    try {
      const { client, clientSecret } = await clients.add(req.body, { by: 'dynamic' });
      res.status(201).json({
        ...client.metadata,
        client_id: client.clientId,
        client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
        ...(clientSecret ? { client_secret: clientSecret, client_secret_expires_at: 0 } : {}),
        scope: client.scope.join(' '),
        // Not RFC 7591: tells the app whether it can be used yet.
        kiln_status: client.status,
      });
    } catch (err) {
      if (!(err instanceof ClientMetadataError)) throw err;
      res.status(400).json({ error: err.code, error_description: err.message.replace(/"/g, "'") });
    }
  });
  // The JSON parser's own refusals (malformed, too large, bad charset) answer in RFC 7591's
  // form too, rather than as express's HTML error page.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const status = (err as { status?: unknown } | null)?.status;
    if (typeof status !== 'number' || status < 400 || status >= 500) return next(err);
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    res.status(status === 413 ? 413 : 400).json({ error: 'invalid_client_metadata', error_description: status === 413 ? 'The client metadata is too large' : 'The request body is not valid JSON' });
  });
  return router;
}
