/** The caller as every transport sees it. `sessionId` is absent on HTTP calls with no `sid` claim. */
export interface Principal {
  readonly userId: string;
  readonly sessionId?: string;
  readonly roles: readonly string[];
  readonly expiresAt: number;
}
