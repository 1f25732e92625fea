import { accessSync, constants, copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Socket } from 'socket.io-client';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected, disconnected, nextEvent } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

/**
 * Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs it), driven by
 * playwright-core, which downloads no browser of its own.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
/** `UPDATE_DOCS_SCREENSHOT=1` also refreshes the README's picture of the console. */
const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/console.png', import.meta.url));
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const UI_TIMEOUT_MS = 10_000;

/** Fails the suite, saying what to do, rather than skipping it when there is no browser. */
function requireChromium(): void {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    const message =
      `Chromium is missing: no executable at ${CHROMIUM}. The browser tests drive Debian's Chromium ` +
      "through playwright-core: install it with 'apt-get install -y chromium' (.ci/run does), or set " +
      'CHROMIUM_PATH to a Chromium binary.';
    console.error(message);
    throw new Error(message);
  }
}

async function launch(): Promise<Browser> {
  requireChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/**
 * Everything the page logged as an error (a CSP violation, a failed module, an exception), but the
 * answers the tests ask for: a refused token (401, 403), no demo token (404).
 */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      errors.push(message.text());
    }
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('response', (response) => {
    const { pathname } = new URL(response.url());
    const expected = pathname === '/api/auth/dev-token' || pathname === '/api/admin/stats';
    if (response.status() >= 400 && !expected) errors.push(`${response.status()} ${pathname}`);
  });
  return errors;
}

const text = (page: Page, selector: string) => page.locator(selector).innerText();

async function waitForText(page: Page, selector: string, expected: string | RegExp): Promise<void> {
  await page.locator(selector, { hasText: expected }).first().waitFor({ timeout: UI_TIMEOUT_MS });
}

describe('admin console in a real browser', () => {
  let app: RunningApp;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    browser = await launch();
    mkdirSync(ARTIFACTS, { recursive: true });
    app = await startApp({
      ADMIN_STATS_MS: '250',
      RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
      RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
    });
    page = await browser.newPage({ viewport: DESKTOP });
    pageErrors = watchErrors(page);
    await page.goto(`${app.url}/console/`);
  });
  afterAll(async () => {
    await closeAll(sockets);
    await browser?.close();
    await app?.close();
  });

  it('asks for a token, and says why a token without the admin role is refused', async () => {
    await page.getByLabel('Admin token').waitFor({ timeout: UI_TIMEOUT_MS });
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    await page.getByLabel('Admin token').fill(signToken({ sub: 'not-an-admin' }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText(page, '#sign-in-error', 'does not carry the admin role');
    await page.getByLabel('Admin token').fill('not.a.token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText(page, '#sign-in-error', 'not valid here');
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}console-sign-in-error.png` });
  });

  it('offers no demo token outside development', async () => {
    expect(await page.getByRole('button', { name: 'Use the demo admin token' }).isHidden()).toBe(true);
  });

  it('signs in with an admin token and goes live over /admin', async () => {
    await page.getByLabel('Admin token').fill(signToken({ sub: 'root', roles: ['admin'] }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText(page, '#link-status', 'Live');
    await waitForText(page, '#who-user', 'root');
    expect(await page.locator('#sign-in').isHidden()).toBe(true);
    // The console's own connection is one.
    await waitForText(page, '#total-connections', /^[1-9]/);
    await waitForText(page, '#instances-body tr td', /\S/);
  });

  let baseline: number;
  let alice: Socket;

  it('shows the connected-users count change when a client connects', async () => {
    baseline = Number(await text(page, '#total-users'));
    expect(Number.isInteger(baseline)).toBe(true);
    alice = client(app.url, '/', { auth: { token: signToken({ sub: 'alice' }) } });
    sockets.push(alice);
    await connected(alice);
    await waitForText(page, '#total-users', new RegExp(`^${baseline + 1}$`));
    await page.locator('#users-body tr[data-user-id="alice"]').waitFor({ timeout: UI_TIMEOUT_MS });
  });

  it('disconnects that client from the page, after asking for a reason', async () => {
    const notice = nextEvent<{ data: { message: string } }>(alice, 'system', UI_TIMEOUT_MS);
    const gone = disconnected(alice, UI_TIMEOUT_MS);
    await page.getByRole('button', { name: 'Disconnect alice' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ timeout: UI_TIMEOUT_MS });
    await dialog.getByLabel('Reason').fill('browser test: maintenance');
    await page.screenshot({ path: `${ARTIFACTS}console-disconnect-dialog.png` });
    await dialog.getByRole('button', { name: 'Disconnect' }).click();

    expect((await notice).data.message).toContain('browser test: maintenance');
    expect(await gone).toBe('io server disconnect');
    await page
      .locator('#users-body tr[data-user-id="alice"]')
      .waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
    await waitForText(page, '#total-users', new RegExp(`^${baseline}$`));
    await waitForText(page, '#audit-body tr[data-action="user.disconnected"]', 'browser test: maintenance');
    await page.locator('#events-list li[data-type^="admin."]').first().waitFor({ timeout: UI_TIMEOUT_MS });
  });

  it('sends a broadcast from the form, and a client receives it as a system event', async () => {
    const bob = client(app.url, '/', { auth: { token: signToken({ sub: 'bob' }) } });
    sockets.push(bob);
    await connected(bob);
    const received = nextEvent<{ type: string; data: unknown }>(bob, 'system', UI_TIMEOUT_MS);
    await page.getByLabel('Level').selectOption('warning');
    await page.getByLabel('Title (optional)').fill('Heads up');
    await page.getByLabel('Message').fill('Deploy in five minutes');
    await page.getByRole('button', { name: 'Send to everyone' }).click();

    expect(await received).toEqual(
      expect.objectContaining({
        type: 'system',
        data: { message: 'Deploy in five minutes', level: 'warning', title: 'Heads up' },
      }),
    );
    await waitForText(page, '#broadcast-result', /^Sent to \d+ connections?/);
    await waitForText(page, '#audit-body tr[data-action="broadcast"]', 'Deploy in five minutes');
  });

  it('filters the live event feed by type', async () => {
    const feed = page.locator('#events-list li');
    await page.getByLabel('Type', { exact: true }).selectOption('admin.');
    await feed.first().waitFor({ timeout: UI_TIMEOUT_MS });
    const types = await Promise.all((await feed.all()).map((item) => item.getAttribute('data-type')));
    expect(types.length).toBeGreaterThan(0);
    expect(types.every((type) => type?.startsWith('admin.'))).toBe(true);

    await page.getByLabel('Type contains').fill('no-such-event-type');
    await waitForText(page, '#events-empty', 'No event matches the filter');
    await page.getByLabel('Type contains').fill('');
    await page.getByLabel('Type', { exact: true }).selectOption('');
  });

  it('fits a desktop and a phone-width screen (screenshots in test-artifacts/)', async () => {
    await page.locator('#toasts .toast').first().waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
    await page.evaluate('document.activeElement?.blur()');
    await page.screenshot({ path: `${ARTIFACTS}console-desktop.png`, fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT) copyFileSync(`${ARTIFACTS}console-desktop.png`, DOCS_SCREENSHOT);

    await page.setViewportSize(PHONE);
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${ARTIFACTS}console-phone.png`, fullPage: true });
    // Wide tables scroll inside their card; the page itself never scrolls sideways.
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize(DESKTOP);
  });

  it('logged no error in the page (CSP violations included)', () => {
    expect(pageErrors).toEqual([]);
  });
});

describe('admin console on a development server, opened from this machine', () => {
  let app: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launch();
    app = await startApp({ NODE_ENV: 'development', RATE_LIMIT_REST_PER_IP_PER_MIN: '0' });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('offers the demo admin token and signs in with it', async () => {
    const page = await browser.newPage({ viewport: DESKTOP });
    const errors = watchErrors(page);
    await page.goto(`${app.url}/console/`);
    await page.getByRole('button', { name: 'Use the demo admin token' }).click({ timeout: UI_TIMEOUT_MS });
    await waitForText(page, '#link-status', 'Live');
    await waitForText(page, '#who-user', 'demo-admin');
    // A reload keeps the session (sessionStorage), without asking again.
    await page.reload();
    await waitForText(page, '#link-status', 'Live');
    expect(await page.locator('#sign-in').isHidden()).toBe(true);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor({ timeout: UI_TIMEOUT_MS });
    expect(errors).toEqual([]);
  });
});
