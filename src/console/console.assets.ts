import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ServerResponse } from 'node:http';

/** Where the admin console is served (the page, then its assets below it). */
export const CONSOLE_PATH = '/console';

/**
 * The page's own files: `src/console/public`, which `nest build` copies to `dist/console/public`
 * (nest-cli.json `assets`), so both sit beside this module. Plain HTML, CSS and ES modules: no
 * build step.
 */
const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');

/** socket.io-client's browser bundles: a runtime dependency, so the production image has them. */
function socketIoClientBundles(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('socket.io-client/package.json')), 'dist');
}

/** File names are not fingerprinted: a browser revalidates (ETag) each time, so an upgrade shows at once. */
function revalidate(response: ServerResponse): void {
  response.setHeader('Cache-Control', 'no-cache');
}

/**
 * Serves the console at `/console/` (and its Socket.IO client at `/console/vendor/socket.io/`),
 * ahead of Nest's routes and without a token: the page is public, every call it makes carries the
 * admin token pasted into it (a development server's own machine may ask `POST /api/auth/dev-token`
 * for the demo one). Anything not a file falls through to Nest, a 404.
 */
export function serveConsole(app: NestExpressApplication): void {
  app.useStaticAssets(socketIoClientBundles(), {
    prefix: `${CONSOLE_PATH}/vendor/socket.io/`,
    index: false,
    redirect: false,
    setHeaders: revalidate,
  });
  app.useStaticAssets(PUBLIC_DIR, {
    prefix: `${CONSOLE_PATH}/`,
    index: 'index.html',
    setHeaders: revalidate,
  });
}
