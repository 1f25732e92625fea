import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { AppConfig } from '../config/app-config.js';
import pluginMetadata from './generated/openapi-plugin-metadata.js';
import { openApiDocument } from './openapi.js';

/** Swagger UI. */
export const API_DOCS_PATH = '/api/docs';
/** The OpenAPI 3.1 document of the REST routes. */
export const OPENAPI_PATH = '/api/docs-json';
/** The AsyncAPI 3 document of the Socket.IO namespaces and `/ws/events`. */
export const ASYNCAPI_PATH = '/api/asyncapi.json';

const HERE = dirname(fileURLToPath(import.meta.url));
/**
 * docs/asyncapi.json: the copy `nest build` puts beside this module (nest-cli.json `assets`), or,
 * running from the sources (tests, `nest start`), the committed file itself.
 */
const ASYNCAPI_FILES = [join(HERE, 'asyncapi.json'), join(HERE, '..', '..', 'docs', 'asyncapi.json')];

/**
 * Serves the API documents, unless `API_DOCS` turned them off (the default in production):
 * Swagger UI at `/api/docs`, the OpenAPI document at `/api/docs-json` (built at the first request,
 * once every controller is known) and the AsyncAPI document at `/api/asyncapi.json`. Registered
 * on the HTTP adapter as SwaggerModule does it, outside Nest's routing: they need no token and
 * pass no guard. Nothing here runs the TypeScript compiler: the generated parts are files.
 */
export async function serveApiDocs(app: NestExpressApplication): Promise<void> {
  if (!app.get(AppConfig).server.apiDocs) return;
  const file = ASYNCAPI_FILES.find((candidate) => existsSync(candidate));
  if (!file) throw new Error(`The AsyncAPI document is missing: none of ${ASYNCAPI_FILES.join(', ')}`);
  const asyncApi = readFileSync(file, 'utf8');
  const { version } = (JSON.parse(asyncApi) as { info: { version: string } }).info;
  await SwaggerModule.loadPluginMetadata(pluginMetadata);
  SwaggerModule.setup(API_DOCS_PATH, app, () => openApiDocument(app, version), {
    raw: ['json'],
    jsonDocumentUrl: OPENAPI_PATH,
    customSiteTitle: 'Switchboard API',
  });
  const adapter = app.getHttpAdapter();
  adapter.get(ASYNCAPI_PATH, (_request: unknown, response: unknown) => {
    adapter.setHeader(response, 'Content-Type', 'application/json; charset=utf-8');
    adapter.reply(response, asyncApi, 200);
  });
}
