import type { Account, KoaContextWithOIDC } from 'oidc-provider';

/** The parts of a user account the provider needs. */
export interface AccountRecord {
  id: string;
  username: string;
  /** Relative FHIR reference of the user's own resource (`Patient/1`), if any. */
  fhirUser?: string;
  disabled?: boolean;
}

/** Where the provider finds accounts: the user service. */
export type AccountSource = (id: string) => Promise<AccountRecord | undefined>;

/**
 * oidc-provider's `findAccount`: the signed-in user's claims. `fhirUser` is the absolute
 * URL of the user's FHIR resource (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-identity-data).
 * A disabled or deleted user has no account, so nothing more is issued for them.
 */
export function accountFinder(accounts: AccountSource, baseUrl: string) {
  return async (_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
    const user = await accounts(sub);
    if (!user || user.disabled) return undefined;
    return {
      accountId: user.id,
      async claims() {
        return {
          sub: user.id,
          preferred_username: user.username,
          name: user.username,
          ...(user.fhirUser ? { fhirUser: `${baseUrl}/${user.fhirUser}` } : {}),
        };
      },
    };
  };
}
