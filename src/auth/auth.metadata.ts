import { SetMetadata } from '@nestjs/common';
import type { Role } from './roles.js';

export const ROLES_KEY = 'switchboard:roles';
export const PUBLIC_KEY = 'switchboard:public';
export const GATEWAY_NAMESPACE_KEY = 'switchboard:gateway-namespace';

/**
 * The roles a route, an event handler or a whole gateway needs (any of them). On a gateway
 * class the check also runs at the handshake: a socket without the role is refused with
 * `FORBIDDEN` before it connects.
 */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);

/** An HTTP route that needs no token (health, docs). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);
