/** The caller as every transport sees it. `sessionId` is absent on HTTP calls with no `sid` claim. */
export interface Principal {
  readonly userId: string;
  readonly sessionId?: string;
  readonly roles: readonly string[];
  readonly expiresAt: number;
  /** HTTP only: the token's fingerprint, which a logout without a `sid` revokes. */
  readonly tokenFingerprint?: string;
  /** HTTP only: the verified claims the server used. */
  readonly claims?: Readonly<Record<string, unknown>>;
}
