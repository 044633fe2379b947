import { availableParallelism } from 'node:os';

/**
 * Configuration: every setting, its environment variable and its default in one table,
 * checked eagerly at start-up so a bad value stops the process with an error that names
 * the key, instead of failing on the first request that needs it.
 */

export interface Config {
  port: number;
  host: string;
  /** Public FHIR base URL, as clients see it (used in Location headers and links). */
  baseUrl: string;
  /** Path part of `baseUrl`, where the FHIR API is mounted (e.g. `/fhir/r4`). */
  basePath: string;
  databaseUrl: string;
  maxBodyBytes: number;
  autoProvenance: boolean;
  sampleData: boolean;
  samplePatients: number;
  logLevel: string;
  /** Largest `_count` a client may ask for on history and search pages. */
  maxPageSize: number;
  defaultPageSize: number;
  /**
   * Most resources the response to one batch or transaction may hold: one per entry,
   * plus the matches and includes of its GET entries (a response is held whole in memory).
   */
  maxBundleResults: number;
  /** `single`: a conditional delete matching several resources is a 412; `multiple`: all are deleted. */
  conditionalDelete: 'single' | 'multiple';
  /** The OpenID Provider's issuer: `[origin of baseUrl]/oauth`. */
  issuer: string;
  /**
   * Key material that encrypts secrets at rest (signing keys, client secrets). Unset on
   * SQLite: a key file is made beside the database on first start.
   */
  secretKey: string | undefined;
  /** Access token lifetime in seconds (SMART: short-lived; default 1 hour). */
  accessTokenTtl: number;
  /** `offline_access` refresh token lifetime in seconds (default 92 days). */
  refreshTokenTtl: number;
  /** `all`: PKCE S256 for every client (SMART 2); `public`: only for public clients. */
  pkceRequired: 'all' | 'public';
  /** Allow `patient/*.rs`-style wildcard resource scopes in patient and user context. */
  allowWildcardScopes: boolean;
  /** PEM files to serve HTTPS directly (TLS 1.2 and later). */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Behind a TLS-terminating proxy: trust its X-Forwarded-* headers (false, true or a hop count). */
  trustProxy: boolean | number;
  /** `NODE_ENV=production`: refuse an insecure public base URL. */
  production: boolean;
  /** A JSON file of custom SearchParameters (a Bundle, or one resource), checked at start-up. */
  searchParameters: string | undefined;
  /** `kiln serve` processes sharing the port (`KILN_WORKERS`; `auto`: one per core). 1 serves from the process itself. */
  workers: number;
}

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`Invalid configuration ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, key: string, def: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(key, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(key, `expected a number from ${min} to ${max}, got ${n}`);
  return n;
}

function bool(env: Env, key: string, def: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(key, `expected true or false, got "${raw}"`);
}

function url(key: string, raw: string): URL {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    return u;
  } catch {
    throw new ConfigError(key, `expected an absolute http(s) URL, got "${raw}"`);
  }
}

function databaseUrl(env: Env): string {
  const raw = env.DATABASE_URL || 'sqlite:./data/kiln.sqlite';
  if (raw.startsWith('sqlite:') || /^postgres(ql)?:\/\//.test(raw)) return raw;
  throw new ConfigError('DATABASE_URL', `expected sqlite:PATH or postgres://..., got "${raw.replace(/\/\/[^@]*@/, '//***@')}"`);
}

/** `KILN_TRUST_PROXY`: false (default), true, or how many proxies stand in front. */
function trustProxy(env: Env): boolean | number {
  const raw = env.KILN_TRUST_PROXY?.trim();
  if (raw === undefined || raw === '') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  return bool(env, 'KILN_TRUST_PROXY', false);
}

/** `KILN_WORKERS`: a count (1 by default) or `auto`, one per core the process may use. */
function workers(env: Env): number {
  const raw = env.KILN_WORKERS?.trim();
  if (raw === 'auto') return availableParallelism();
  if (raw && !/^\d+$/.test(raw)) throw new ConfigError('KILN_WORKERS', `expected a whole number or "auto", got "${raw}"`);
  return int(env, 'KILN_WORKERS', 1, 1, 256);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads the configuration from environment variables (see the table in README.md).
 * Throws `ConfigError` naming the first bad key.
 */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const port = int(env, 'PORT', 8080, 0, 65535);
  const base = url('KILN_BASE_URL', env.KILN_BASE_URL || `http://localhost:${port}/fhir/r4`);
  const logLevel = env.KILN_LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('KILN_LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}`);
  const defaultPageSize = int(env, 'KILN_DEFAULT_PAGE_SIZE', 20, 1, 1000);
  const conditionalDelete = env.KILN_CONDITIONAL_DELETE || 'single';
  if (conditionalDelete !== 'single' && conditionalDelete !== 'multiple') {
    throw new ConfigError('KILN_CONDITIONAL_DELETE', `expected single or multiple, got "${conditionalDelete}"`);
  }
  const pkceRequired = env.KILN_PKCE_REQUIRED || 'all';
  if (pkceRequired !== 'all' && pkceRequired !== 'public') throw new ConfigError('KILN_PKCE_REQUIRED', `expected all or public, got "${pkceRequired}"`);
  const tlsCert = env.KILN_TLS_CERT || undefined;
  const tlsKey = env.KILN_TLS_KEY || undefined;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(tlsCert ? 'KILN_TLS_KEY' : 'KILN_TLS_CERT', 'KILN_TLS_CERT and KILN_TLS_KEY must be set together');
  }
  const secretKey = env.KILN_SECRET_KEY || undefined;
  if (secretKey !== undefined && secretKey.length < 32) throw new ConfigError('KILN_SECRET_KEY', 'must be at least 32 characters (for example `openssl rand -base64 32`)');
  const config: Config = {
    port,
    host: env.HOST || '0.0.0.0',
    baseUrl: base.href.replace(/\/+$/, ''),
    basePath: base.pathname.replace(/\/+$/, '') || '',
    databaseUrl: databaseUrl(env),
    maxBodyBytes: int(env, 'KILN_MAX_BODY_BYTES', 32 * 1024 * 1024, 1024, 2 ** 31),
    autoProvenance: bool(env, 'KILN_AUTO_PROVENANCE', true),
    sampleData: bool(env, 'KILN_SAMPLE_DATA', true),
    samplePatients: int(env, 'KILN_SAMPLE_PATIENTS', 20, 0, 100000),
    logLevel,
    maxPageSize: int(env, 'KILN_MAX_PAGE_SIZE', 1000, 1, 100000),
    defaultPageSize,
    maxBundleResults: int(env, 'KILN_MAX_BUNDLE_RESULTS', 20000, 1, 1000000),
    conditionalDelete,
    issuer: `${base.origin}/oauth`,
    secretKey,
    accessTokenTtl: int(env, 'KILN_ACCESS_TOKEN_TTL', 3600, 60, 86400),
    refreshTokenTtl: int(env, 'KILN_REFRESH_TOKEN_TTL', 92 * 86400, 3600, 10 * 365 * 86400),
    pkceRequired,
    allowWildcardScopes: bool(env, 'KILN_ALLOW_WILDCARD_SCOPES', false),
    tlsCert,
    tlsKey,
    trustProxy: trustProxy(env),
    production: env.NODE_ENV === 'production',
    searchParameters: env.KILN_SEARCH_PARAMETERS || undefined,
    workers: workers(env),
    ...overrides,
  };
  if (config.defaultPageSize > config.maxPageSize) {
    throw new ConfigError('KILN_DEFAULT_PAGE_SIZE', `must not exceed KILN_MAX_PAGE_SIZE (${config.maxPageSize})`);
  }
  if (config.production && config.tlsCert === undefined && base.protocol === 'http:' && !isLoopback(base.hostname)) {
    throw new ConfigError('KILN_BASE_URL', `NODE_ENV=production needs an https base URL (or a loopback host), got ${config.baseUrl}`);
  }
  return config;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
