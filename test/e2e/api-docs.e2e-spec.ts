import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { ModulesContainer } from '@nestjs/core';
import request from 'supertest';
import { API_DOCS_PATH, ASYNCAPI_PATH, OPENAPI_PATH } from '../../src/api-docs/api-docs.js';
import {
  GENERATED_FILES,
  generateApiDocuments,
  PROJECT_ROOT,
  REGENERATE_COMMAND,
  staleFiles,
} from '../../src/api-docs/api-docs.generator.js';
import { GATEWAY_NAMESPACE_KEY } from '../../src/auth/auth.metadata.js';
import * as contracts from '../../src/contracts/index.js';
import { EventsFrame } from '../../src/notifications/events-websocket.frames.js';
import { startApp, type RunningApp } from '../support/app.js';
import { startAppProcess } from '../support/app-process.js';

/** Generating parses the whole project with the TypeScript compiler. */
const GENERATION_TIMEOUT_MS = 180_000;

interface OpenApiOperation {
  operationId: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: JsonSchema }> }>;
  tags?: string[];
}

interface JsonSchema {
  $ref?: string;
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
  security: Record<string, string[]>[];
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, Record<string, string>>;
    responses: Record<string, unknown>;
  };
}

interface AsyncApiDocument {
  asyncapi: string;
  channels: Record<string, { address: string; messages: Record<string, { name: string }> }>;
  operations: Record<string, { action: string; reply?: unknown }>;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** The routes the API documents themselves are served at. */
const isDocumentRoute = (path: string) =>
  path === OPENAPI_PATH ||
  path === ASYNCAPI_PATH ||
  path === API_DOCS_PATH ||
  path.startsWith(`${API_DOCS_PATH}/`);

/** `GET /api/chats/:id`, from the Express router: every route the app serves. */
function servedRoutes(app: RunningApp): string[] {
  const router = (
    app.app.getHttpAdapter().getInstance() as {
      router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
    }
  ).router;
  return router.stack.flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods).map((method) => `${method.toUpperCase()} ${layer.route?.path}`)
      : [],
  );
}

/** `GET /api/chats/:id`, from the OpenAPI document's paths. */
function documentedRoutes(document: OpenApiDocument): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((method) => HTTP_METHODS.includes(method))
      .map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
}

function operations(document: OpenApiDocument): [string, OpenApiOperation][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(
        ([method, operation]) => [`${method.toUpperCase()} ${path}`, operation] as [string, OpenApiOperation],
      ),
  );
}

/** The namespaces of the gateways the app runs (`@RealtimeGateway(namespace)`). */
function servedNamespaces(app: RunningApp): string[] {
  const namespaces = new Set<string>();
  for (const module of app.app.get(ModulesContainer).values()) {
    for (const wrapper of module.providers.values()) {
      const namespace: unknown = wrapper.metatype
        ? Reflect.getMetadata(GATEWAY_NAMESPACE_KEY, wrapper.metatype)
        : undefined;
      if (typeof namespace === 'string') namespaces.add(namespace);
    }
  }
  return [...namespaces].sort();
}

/** Every `*Event` object of event names the contracts export, by constant. */
function contractEventNames(): [string, string[]][] {
  return (Object.entries(contracts) as [string, unknown][])
    .filter(
      (entry): entry is [string, Record<string, string>] =>
        /Event$/.test(entry[0]) &&
        typeof entry[1] === 'object' &&
        entry[1] !== null &&
        Object.values(entry[1]).every((value) => typeof value === 'string'),
    )
    .map(([constant, names]) => [constant, Object.values(names)]);
}

const committedAsyncApi = () =>
  JSON.parse(readFileSync(GENERATED_FILES.asyncApi, 'utf8')) as AsyncApiDocument;

describe('API documents', () => {
  describe('served by a development or test instance', () => {
    let app: RunningApp;
    let openApi: OpenApiDocument;

    beforeAll(async () => {
      app = await startApp();
      const response = await request(app.url).get(OPENAPI_PATH);
      expect(response.status).toBe(200);
      openApi = response.body as OpenApiDocument;
    });
    afterAll(() => app?.close());

    it(`${OPENAPI_PATH} is a valid OpenAPI 3.1 document`, async () => {
      expect(openApi.openapi).toBe('3.1.0');
      await expect(SwaggerParser.validate(structuredClone(openApi) as never)).resolves.toBeDefined();
    });

    it('documents every route the app serves, and no other', () => {
      const served = servedRoutes(app).filter(
        (route) => !isDocumentRoute(route.slice(route.indexOf(' ') + 1)),
      );
      expect(documentedRoutes(openApi).sort()).toEqual([...new Set(served)].sort());
    });

    it('names the token as a bearer JWT, the token query or the authToken cookie', () => {
      expect(openApi.components.securitySchemes).toEqual({
        bearer: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
        token: expect.objectContaining({ type: 'apiKey', in: 'query', name: 'token' }),
        authToken: expect.objectContaining({ type: 'apiKey', in: 'cookie', name: 'authToken' }),
      });
      expect(openApi.security).toEqual([{ bearer: [] }, { token: [] }, { authToken: [] }]);
    });

    it('marks the public routes public, and gives the others 401 and 403', () => {
      const publicRoutes = operations(openApi)
        .filter(([, operation]) => operation.security?.length === 0)
        .map(([route]) => route)
        .sort();
      expect(publicRoutes).toEqual(
        expect.arrayContaining([
          'GET /api/health',
          'GET /api/health/live',
          'GET /api/health/ready',
          'POST /api/auth/dev-token',
        ]),
      );
      for (const [route, operation] of operations(openApi)) {
        if (publicRoutes.includes(route)) continue;
        expect([route, operation.security]).toEqual([route, undefined]);
        expect([route, operation.responses['401']?.$ref]).toEqual([
          route,
          '#/components/responses/UNAUTHORIZED',
        ]);
        expect([route, operation.responses['403']?.$ref]).toEqual([
          route,
          '#/components/responses/FORBIDDEN',
        ]);
      }
    });

    it('gives every route its error shapes and a tag', () => {
      const errorBody = openApi.components.schemas.ErrorResponse;
      expect(errorBody?.required).toEqual(['statusCode', 'error', 'code', 'message']);
      expect(Object.keys(errorBody?.properties ?? {})).toEqual([
        'statusCode',
        'error',
        'code',
        'message',
        'details',
      ]);
      for (const [route, operation] of operations(openApi)) {
        expect([route, operation.responses['429']?.$ref]).toEqual([
          route,
          '#/components/responses/RATE_LIMITED',
        ]);
        expect([route, operation.responses['500']?.$ref]).toEqual([route, '#/components/responses/INTERNAL']);
        expect([route, operation.tags?.length]).toEqual([route, 1]);
        if (operation.requestBody || operation.parameters?.length) {
          expect([route, operation.responses['400']?.$ref]).toEqual([
            route,
            '#/components/responses/VALIDATION_FAILED',
          ]);
        }
      }
    });

    it('has the DTO schemas of bodies, parameters and queries', () => {
      const create = openApi.paths['/api/chats']?.post;
      expect(create?.requestBody?.content['application/json']?.schema).toEqual({
        $ref: '#/components/schemas/CreateChatDto',
      });
      expect(openApi.components.schemas.CreateChatDto).toEqual(
        expect.objectContaining({
          required: ['participantIds'],
          properties: expect.objectContaining({
            participantIds: expect.objectContaining({ type: 'array' }),
            title: expect.objectContaining({ type: 'string' }),
          }),
        }),
      );
      const messages = openApi.paths['/api/chats/{id}/messages']?.get;
      expect(messages?.parameters?.map(({ name, in: where }) => `${where} ${name}`)).toEqual([
        'path id',
        'query before',
        'query after',
        'query afterSeq',
        'query limit',
      ]);
      // The class-validator bounds the plugin reads.
      expect(openApi.components.schemas.DevTokenDto?.properties?.sub).toEqual(
        expect.objectContaining({ type: 'string', minLength: 1, pattern: '\\S' }),
      );
    });

    it('has the answers: the { message, data } envelope around the contract types', () => {
      const chat =
        openApi.paths['/api/chats/{id}']?.get?.responses['200']?.content?.['application/json']?.schema;
      expect(chat).toEqual(
        expect.objectContaining({
          required: ['message', 'data'],
          properties: { message: { type: 'string' }, data: { $ref: '#/components/schemas/Chat' } },
        }),
      );
      expect(openApi.components.schemas.Chat?.properties).toEqual(
        expect.objectContaining({ id: expect.any(Object), participantIds: expect.any(Object) }),
      );
      const health =
        openApi.paths['/api/health/live']?.get?.responses['200']?.content?.['application/json']?.schema;
      // The probes answer their own shape, without the envelope.
      expect(Object.keys(health?.properties ?? {})).toEqual(expect.arrayContaining(['status', 'serverId']));
    });

    it(`${API_DOCS_PATH} serves Swagger UI, without a token`, async () => {
      const page = await request(app.url).get(API_DOCS_PATH);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('<div id="swagger-ui"></div>');
      const init = await request(app.url).get(`${API_DOCS_PATH}/swagger-ui-init.js`);
      expect(init.status).toBe(200);
      expect(init.text).toContain('"openapi": "3.1.0"');
      for (const asset of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
        expect((await request(app.url).get(`${API_DOCS_PATH}/${asset}`)).status).toBe(200);
      }
      // Helmet's policy allows what the page loads: its own scripts and styles, inline styles.
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    });

    it(`${ASYNCAPI_PATH} serves docs/asyncapi.json, without a token`, async () => {
      const response = await request(app.url).get(ASYNCAPI_PATH);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.body).toEqual(committedAsyncApi());
    });

    it('the AsyncAPI document has a channel for every namespace the app serves, and /ws/events', () => {
      const addresses = Object.values(committedAsyncApi().channels).map((channel) => channel.address);
      expect(addresses.sort()).toEqual([...servedNamespaces(app), contracts.EVENTS_WEBSOCKET_PATH].sort());
    });
  });

  describe('served by the built server (dist/, as `nest build` made it), in production with API_DOCS=true', () => {
    it('serves the same documents as the sources do, from the copy the build ships', async () => {
      expect(readFileSync(join(PROJECT_ROOT, 'dist', 'api-docs', 'asyncapi.json'), 'utf8')).toBe(
        readFileSync(GENERATED_FILES.asyncApi, 'utf8'),
      );
      const [built, sources] = await Promise.all([
        startAppProcess({ serverId: 'api-docs', env: { NODE_ENV: 'production', API_DOCS: 'true' } }),
        startApp(),
      ]);
      try {
        for (const path of [OPENAPI_PATH, ASYNCAPI_PATH]) {
          const [fromBuild, fromSources] = await Promise.all([
            request(built.url).get(path),
            request(sources.url).get(path),
          ]);
          expect([path, fromBuild.status]).toEqual([path, 200]);
          expect(fromBuild.body).toEqual(fromSources.body);
        }
      } finally {
        await Promise.all([built.stop(), sources.close()]);
      }
    });
  });

  describe('docs/asyncapi.json', () => {
    const document = committedAsyncApi();
    const messageNames = (channels: AsyncApiDocument['channels'][string][]) =>
      new Set(channels.flatMap((channel) => Object.values(channel.messages).map((message) => message.name)));

    it('is an AsyncAPI 3 document that @asyncapi/parser reads without an error or a warning', async () => {
      expect(document.asyncapi).toMatch(/^3\./);
      const { document: parsed, diagnostics } = await new Parser().parse(
        readFileSync(GENERATED_FILES.asyncApi, 'utf8'),
      );
      const problems = diagnostics
        .filter((diagnostic) => Number(diagnostic.severity) <= Number(DiagnosticSeverity.Warning))
        .map((diagnostic) => `${diagnostic.code}: ${diagnostic.message} at ${diagnostic.path.join('.')}`);
      expect(problems).toEqual([]);
      expect(parsed?.channels().length).toBe(Object.keys(document.channels).length);
      expect(parsed?.operations().length).toBe(Object.keys(document.operations).length);
    });

    it.each(contractEventNames())('has every event name of %s', (_constant, names) => {
      const documented = messageNames(Object.values(document.channels));
      expect(names.filter((name) => !documented.has(name))).toEqual([]);
    });

    it('has every frame type of /ws/events on its channel', () => {
      const door = Object.values(document.channels).filter(
        (channel) => channel.address === contracts.EVENTS_WEBSOCKET_PATH,
      );
      const documented = messageNames(door);
      expect(Object.values(EventsFrame).filter((type) => !documented.has(type))).toEqual([]);
    });

    it('answers every client → server operation (the Socket.IO ack, the answering frame)', () => {
      const unanswered = Object.entries(document.operations)
        .filter(([, operation]) => operation.action === 'receive' && !operation.reply)
        .map(([id]) => id);
      expect(unanswered).toEqual([]);
    });
  });

  describe('generated from the code', () => {
    it(
      `is up to date: docs/asyncapi.json and src/api-docs/generated/ are what ${REGENERATE_COMMAND} writes`,
      async () => {
        const stale = staleFiles(await generateApiDocuments()).map((file) =>
          relative(PROJECT_ROOT, GENERATED_FILES[file]),
        );
        expect({ stale, fix: REGENERATE_COMMAND }).toEqual({ stale: [], fix: REGENERATE_COMMAND });
      },
      GENERATION_TIMEOUT_MS,
    );
  });

  describe('off in production', () => {
    const DOCUMENT_PATHS = [API_DOCS_PATH, OPENAPI_PATH, ASYNCAPI_PATH];

    async function statuses(env: Record<string, string>): Promise<number[]> {
      const app = await startApp(env);
      try {
        return await Promise.all(
          DOCUMENT_PATHS.map(async (path) => (await request(app.url).get(path)).status),
        );
      } finally {
        await app.close();
      }
    }

    it('unless API_DOCS=true: 404, as any unknown path', async () => {
      expect(await statuses({ NODE_ENV: 'production' })).toEqual([404, 404, 404]);
    });

    it('served with API_DOCS=true', async () => {
      expect(await statuses({ NODE_ENV: 'production', API_DOCS: 'true' })).toEqual([200, 200, 200]);
    });

    it('and anywhere with API_DOCS=false', async () => {
      expect(await statuses({ NODE_ENV: 'development', API_DOCS: 'false' })).toEqual([404, 404, 404]);
    });

    it('API_DOCS takes true or false only', async () => {
      await expect(startApp({ API_DOCS: 'yes' })).rejects.toThrow('API_DOCS must be true or false');
    });
  });
});
