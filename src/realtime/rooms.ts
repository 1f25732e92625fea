/** Every socket of a user, on every namespace and instance: each joins it at its handshake. */
export function userRoom(userId: string): string {
  return `user:${userId}`;
}
