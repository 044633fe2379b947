/**
 * User accounts: scrypt password hashes (RFC 7914, https://www.rfc-editor.org/rfc/rfc7914),
 * failed-login throttling, and the user store.
 */
export { dummyVerify, hashPassword, SCRYPT_DEFAULTS, verifyPassword, type ScryptParams } from './passwords.js';
export {
  ACCOUNT_LOCK_MS, ACCOUNT_MAX_FAILURES, accountKey, ADDRESS_LOCK_MS, ADDRESS_MAX_FAILURES, addressKey,
  FAILURE_WINDOW_MS, LoginThrottle, type Lock,
} from './throttle.js';
export {
  AccountError, canonicalUsername, PASSWORD_MIN, ROLES, USERNAME_MAX, USERNAME_MIN, UserService,
  type AccountErrorCode, type AuthResult, type NewUser, type Role, type User, type UserServiceOptions,
} from './users.js';
