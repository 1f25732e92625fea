import { STATUS_CODES } from 'node:http';
import type { INestApplication, Type } from '@nestjs/common';
import { METHOD_METADATA } from '@nestjs/common/constants.js';
import { ModulesContainer, Reflector } from '@nestjs/core';
import {
  DocumentBuilder,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type PathItemObject,
  type ResponseObject,
  type SchemaObject,
} from '@nestjs/swagger';
import { PUBLIC_KEY, ROLES_KEY } from '../auth/auth.metadata.js';
import { Role } from '../auth/roles.js';
import { AUTH_FAILURE_CODES, ERROR_CODES, HTTP_STATUS_BY_CODE, type ErrorCode } from '../common/errors.js';
import { RESPONSE_SCHEMAS } from './generated/openapi-responses.js';

/** What `generated/openapi-responses.ts` holds (see `api-docs.generator.ts`). */
export interface ResponseSchemas {
  /** What each route answers on success, by operation id (`<Controller>_<method>`). */
  operations: Record<string, Record<string, unknown>>;
  /** The named types those answers use, for `components.schemas`. */
  schemas: Record<string, Record<string, unknown>>;
}

/** The alternative ways to send the token, in the order the server looks for them. */
const SECURITY_SCHEMES = ['bearer', 'token', 'authToken'] as const;

const ERROR_MEANINGS: Record<ErrorCode, string> = {
  VALIDATION_FAILED: 'The input does not fit: `details` lists `{ field, problems }`.',
  UNAUTHORIZED: 'No usable token: `details.code` says why (' + AUTH_FAILURE_CODES.join(', ') + ').',
  FORBIDDEN: 'A role is missing, or the action is not the caller’s to take.',
  NOT_FOUND: 'Unknown id, or one the caller may not see.',
  CONFLICT: 'The change conflicts with stored state.',
  RATE_LIMITED: 'Over a rate limit; `Retry-After` says when to try again (seconds).',
  PAYLOAD_TOO_LARGE: 'The body is over `MAX_PAYLOAD_BYTES`.',
  INTERNAL: 'An unexpected failure; logged, never detailed.',
  SERVICE_UNAVAILABLE: 'A dependency (e.g. the database) is unreachable; retry later.',
};

const ERROR_RESPONSE: SchemaObject = {
  type: 'object',
  description:
    'Every REST failure. `code` is what a socket’s failed ack says for the same failure (docs/protocol.md, Envelopes and errors).',
  properties: {
    statusCode: { type: 'integer', description: 'The HTTP status.' },
    error: { type: 'string', description: 'The status’s text, e.g. `Not Found`.' },
    code: { type: 'string', enum: [...ERROR_CODES] },
    message: { type: 'string' },
    details: {
      description:
        '`VALIDATION_FAILED`: `[{ field, problems }]`; `UNAUTHORIZED`: `{ code }`, the handshake code of the refused token.',
    },
  },
  required: ['statusCode', 'error', 'code', 'message'],
};

/** The route metadata the guard reads, by operation id. */
interface RouteAccess {
  tag: string;
  isPublic: boolean;
  roles: readonly string[];
}

const operationId = (controller: string, method: string) => `${controller}_${method}`;

function routeAccess(app: INestApplication): Map<string, RouteAccess> {
  const reflector = new Reflector();
  const access = new Map<string, RouteAccess>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type | null;
      if (!controller) continue;
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function' || Reflect.getMetadata(METHOD_METADATA, handler) === undefined)
          continue;
        const targets = [handler, controller];
        access.set(operationId(controller.name, name), {
          tag: controller.name.replace(/Controller$/, ''),
          isPublic: reflector.getAllAndOverride<boolean | undefined>(PUBLIC_KEY, targets) === true,
          roles: reflector.getAllAndOverride<string[] | undefined>(ROLES_KEY, targets) ?? [],
        });
      }
    }
  }
  return access;
}

/** `components.responses`: one per error code, named by it. */
function errorResponses(): Record<string, ResponseObject> {
  return Object.fromEntries(
    ERROR_CODES.map((code) => [
      code,
      {
        description: `\`${code}\`: ${ERROR_MEANINGS[code]}`,
        content: {
          'application/json': {
            schema: {
              allOf: [
                { $ref: '#/components/schemas/ErrorResponse' },
                { properties: { code: { type: 'string', enum: [code] } } },
              ],
            },
          },
        },
      },
    ]),
  );
}

/** What a route may answer besides success, from what it takes and who may call it. */
function errorCodesOf(operation: OperationObject, access: RouteAccess | undefined): ErrorCode[] {
  const parameters = (operation.parameters ?? []) as { in?: string }[];
  const codes: ErrorCode[] = [];
  if (parameters.length > 0 || operation.requestBody) codes.push('VALIDATION_FAILED');
  if (!access?.isPublic) codes.push('UNAUTHORIZED', 'FORBIDDEN');
  if (parameters.some((parameter) => parameter.in === 'path')) codes.push('NOT_FOUND');
  if (operation.requestBody) codes.push('PAYLOAD_TOO_LARGE');
  codes.push('RATE_LIMITED', 'INTERNAL', 'SERVICE_UNAVAILABLE');
  return codes;
}

function describeRoles(roles: readonly string[]): string {
  const admin =
    roles.includes(Role.Service) && !roles.includes(Role.Admin) ? ' (`admin` may do what `service` may)' : '';
  return `Requires role ${roles.map((role) => `\`${role}\``).join(' or ')}${admin}.`;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * What the controllers say with `@Public`, `@Roles` and their return types, written into each
 * operation: its tag, how it authenticates, its answer's schema and its error answers.
 */
function applyRouteRules(
  document: OpenAPIObject,
  access: Map<string, RouteAccess>,
  responses: ResponseSchemas,
): void {
  document.components ??= {};
  document.components.schemas = {
    ...(responses.schemas as Record<string, SchemaObject>),
    ...document.components.schemas,
    ErrorResponse: ERROR_RESPONSE,
  };
  document.components.responses = { ...document.components.responses, ...errorResponses() };
  for (const item of Object.values<PathItemObject>(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation?.operationId) continue;
      const route = access.get(operation.operationId);
      if (route) {
        operation.tags = operation.tags?.length ? operation.tags : [route.tag];
        if (route.isPublic) operation.security = [];
        if (route.roles.length > 0) {
          operation.description = [operation.description, describeRoles(route.roles)]
            .filter(Boolean)
            .join('\n\n');
        }
      }
      const answer = responses.operations[operation.operationId];
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!/^2\d\d$/.test(status) || !answer || !response || '$ref' in response) continue;
        // The plugin reads classes only: for an interface it says `Object`, which this replaces;
        // a schema given with `@ApiResponse({ type })` (a `$ref`) stays.
        if (Object.values(response.content ?? {}).some(({ schema }) => schema && '$ref' in schema)) continue;
        const text = (answer as SchemaObject).type === 'string';
        response.description ||= STATUS_CODES[Number(status)] ?? 'Success';
        response.content = { [text ? 'text/plain' : 'application/json']: { schema: answer } };
      }
      for (const code of errorCodesOf(operation, route)) {
        operation.responses[String(HTTP_STATUS_BY_CODE[code])] ??= { $ref: `#/components/responses/${code}` };
      }
    }
  }
  document.tags = [...new Set([...access.values()].map((route) => route.tag))]
    .sort()
    .map((name) => ({ name }));
}

/** The OpenAPI document of every route the app serves, built when first asked for. */
export function openApiDocument(app: INestApplication, version: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('Switchboard REST API')
    .setVersion(version)
    .setDescription(
      [
        'The REST routes of a Switchboard server. Success is `{ message, data }` (health probes and',
        'metrics answer their own shapes); failure is `{ statusCode, error, code, message, details? }`',
        'with the codes sockets use. Every route but the public ones needs a token, sent any of the',
        'ways below. The Socket.IO namespaces and `/ws/events` are in the AsyncAPI document,',
        '`/api/asyncapi.json`; docs/protocol.md has the rules behind both.',
      ].join(' '),
    )
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: '`Authorization: Bearer <token>`' },
      'bearer',
    )
    .addApiKey({ type: 'apiKey', in: 'query', name: 'token', description: 'The token as `?token=`' }, 'token')
    .addCookieAuth(
      'authToken',
      { type: 'apiKey', in: 'cookie', description: 'The token as the `authToken` cookie' },
      'authToken',
    )
    .build();
  config.security = SECURITY_SCHEMES.map((scheme) => ({ [scheme]: [] }));
  const document = SwaggerModule.createDocument(app, config, { operationIdFactory: operationId });
  applyRouteRules(document, routeAccess(app), RESPONSE_SCHEMAS);
  return document;
}
