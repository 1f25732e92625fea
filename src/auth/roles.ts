export const Role = {
  Admin: 'admin',
  Service: 'service',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** True when `granted` satisfies any of `required`; admin may do what service may. */
export function hasAnyRole(granted: readonly string[], required: readonly string[]): boolean {
  if (required.length === 0) return true;
  return required.some(
    (role) => granted.includes(role) || (role === Role.Service && granted.includes(Role.Admin)),
  );
}
