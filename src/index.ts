/**
 * The package entry (`import … from 'switchboard'`): Switchboard inside another Nest application.
 * Import `SwitchboardModule.forRoot(…)` in the application's module, call
 * `await setupSwitchboard(app)` in its `main.ts`, and inject the services below anywhere.
 * Event names and payload types for clients are in `switchboard/contracts`.
 */
export {
  SwitchboardModule,
  type SwitchboardModuleAsyncOptions,
  type SwitchboardModuleOptions,
  type SwitchboardStructureOptions,
} from './switchboard.module.js';
export { setupSwitchboard } from './embedding/setup.js';
export type { SwitchboardSettings, ResolveSettingsOptions } from './config/settings.js';
export {
  EnabledFeatures,
  FEATURE_REQUIREMENTS,
  SWITCHBOARD_FEATURES,
  type SwitchboardFeature,
} from './config/features.js';
export { ConfigValidationError } from './config/environment.js';
export { AppConfig } from './config/app-config.js';

// Feature modules (`SwitchboardModule` imports the chosen ones and exports them to the whole app).
export { SessionsModule } from './sessions/sessions.module.js';
export { ChatModule } from './chat/chat.module.js';
export { PresenceModule } from './presence/presence.module.js';
export { NotificationsModule } from './notifications/notifications.module.js';
export { AdminModule } from './admin/admin.module.js';

// Services for in-process use.
export { NotificationsService, type PublishOptions } from './notifications/notifications.service.js';
export { ChatService, type ChatActor } from './chat/chat.service.js';
export { PresenceService, type PresenceViewer } from './presence/presence.service.js';
export { SessionsService } from './sessions/sessions.service.js';
export { ConnectionRegistry } from './connections/connection-registry.js';
export { RealtimeServer } from './realtime/realtime-server.js';

// Auth for the application's own routes and gateways.
export { AccessGuard } from './auth/access.guard.js';
export { Public, Roles } from './auth/auth.metadata.js';
export { CurrentUser } from './auth/current-user.decorator.js';
export { Role } from './auth/roles.js';
export type { Principal } from './auth/principal.js';
export { RealtimeGateway } from './realtime/realtime-gateway.decorator.js';
export { AppError } from './common/errors.js';
export { Clock, SystemClock } from './common/clock.js';

export type {
  NotificationLevel,
  NotifyRequest,
  PublishResult,
  Recipients,
  SendMessageToUsersRequest,
} from './notifications/notifications.events.js';
export type { PresenceState, PresenceStatus } from './presence/presence.events.js';
