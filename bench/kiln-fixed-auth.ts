/**
 * The baseline server of bench/auth.ts: `kiln serve` built by the same `createApp`, with
 * the same configuration and database, in which only the token check answers a
 * constant system-scope authorization instead of looking the token up. Everything
 * else a request goes through (logging, parsing, scope enforcement, the read) is the
 * real server's, so the difference between the two is what the token check costs.
 * Never for use outside benchmarks: it lets any request in.
 *
 *   DATABASE_URL=... PORT=... KILN_BASE_URL=... BENCH_CLIENT_ID=... BENCH_SCOPE='system/*.rs' \
 *     node --import tsx bench/kiln-fixed-auth.ts
 *
 * Does not seed sample data: it serves the database the real server made.
 */
import type { Authorization } from '../server/context.js';
import { loadConfig } from '../server/config.js';
import { serve, stopOnSignals } from '../server/main.js';

const fixed: Authorization = {
  clientId: process.env.BENCH_CLIENT_ID ?? 'kiln-bench',
  scopes: (process.env.BENCH_SCOPE ?? 'system/*.rs').split(' ').filter(Boolean),
};

// Replaced before the server listens, so that no request ever meets the real check.
const running = await serve(loadConfig(), async (app) => {
  app.smart.bearer.authenticate = async () => ({ ...fixed });
  app.smart.bearer.provisional = async () => ({ auth: { ...fixed } });
});
stopOnSignals(running);
