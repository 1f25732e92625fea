import { io } from './vendor/socket.io/socket.io.esm.min.js';
import { drawChart } from './chart.js';
import {
  emptyRow,
  formatBytes,
  formatCount,
  formatDateTime,
  formatDuration,
  formatMs,
  formatRate,
  formatTime,
  h,
  summarize,
} from './format.js';

/** Where the pasted token is kept: this tab only, gone when it closes. */
const TOKEN_KEY = 'switchboard.console.token';
const ADMIN_NAMESPACE = '/admin';
const CHART_WINDOW_MS = 5 * 60_000;
const USERS_PAGE_SIZE = 20;
const AUDIT_PAGE_SIZE = 25;
const MAX_FEED_EVENTS = 300;
const ACK_TIMEOUT_MS = 10_000;
const TOAST_MS = 6000;

/** What a refused token means to the person holding it (handshake and REST codes). */
const AUTH_MESSAGES = {
  AUTH_MISSING: 'Paste a token first.',
  AUTH_INVALID: 'This token is not valid here (signature, algorithm, issuer, audience or dates).',
  AUTH_EXPIRED: 'This token has expired. Get a new one.',
  AUTH_REVOKED: 'This token was revoked.',
  FORBIDDEN: 'This token does not carry the admin role.',
  UNAUTHORIZED: 'This token was refused.',
};

const $ = (id) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`The page has no #${id}`);
  return element;
};

const state = {
  token: '',
  /** Who the token names, as the server said on connecting. */
  userId: undefined,
  socket: undefined,
  /** `{ t, connections, users }`, oldest first, for the chart. */
  history: [],
  stats: undefined,
  statsTotals: '',
  usersPage: 1,
  usersTotal: 0,
  events: [],
  eventIds: new Set(),
  auditOldest: undefined,
  devToken: undefined,
};

// ————— Sign-in —————

function showSignIn(error) {
  $('dashboard').hidden = true;
  $('who').hidden = true;
  $('sign-in').hidden = false;
  setLinkStatus('offline', 'Signed out');
  const message = $('sign-in-error');
  message.textContent = error ?? '';
  message.hidden = !error;
  $('token').setAttribute('aria-invalid', error ? 'true' : 'false');
  $('sign-in-submit').disabled = false;
  $('token').focus();
}

function showDashboard() {
  $('sign-in').hidden = true;
  $('dashboard').hidden = false;
  $('who').hidden = false;
}

async function signIn(token) {
  const trimmed = token.trim();
  if (trimmed === '') {
    showSignIn(AUTH_MESSAGES.AUTH_MISSING);
    return;
  }
  $('sign-in-submit').disabled = true;
  setLinkStatus('connecting', 'Checking the token…');
  let stats;
  try {
    stats = await api('/api/admin/stats', {}, trimmed);
  } catch (error) {
    // A refused token is forgotten; one that could not be checked (server down) is kept for a retry.
    if (isAuthFailure(error)) sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(describeError(error));
    if (!isAuthFailure(error)) $('token').value = trimmed;
    return;
  }
  state.token = trimmed;
  sessionStorage.setItem(TOKEN_KEY, trimmed);
  $('token').value = '';
  resetDashboard();
  showDashboard();
  if (stats) onStats(stats);
  connect();
  void loadUsers();
  void loadAudit();
}

function signOut(error) {
  const socket = state.socket;
  state.socket = undefined;
  socket?.disconnect();
  state.token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn(error);
}

/** The demo admin the development banner prints too. */
const DEMO_ADMIN = 'demo-admin';

async function offerDevToken() {
  try {
    // Only a development server, asked from its own machine, answers this; anywhere else it is 404.
    const response = await fetch('/api/auth/dev-token', {
      method: 'POST',
      cache: 'no-store',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sub: DEMO_ADMIN, roles: ['admin'], ttl: '1h' }),
    });
    if (!response.ok) return;
    const body = await response.json();
    if (typeof body?.data?.token !== 'string') return;
    state.devToken = body.data.token;
    $('use-dev-token').hidden = false;
    $('dev-token-hint').hidden = false;
  } catch {
    // Not offered: nothing to show.
  }
}

// ————— REST —————

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A call to the admin API with the token; the `data` of the answer, or an `ApiError`. */
async function api(path, init = {}, token = state.token) {
  let response;
  try {
    response = await fetch(path, {
      ...init,
      cache: 'no-store',
      credentials: 'omit',
      headers: { Accept: 'application/json', Authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server cannot be reached.');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const detail = body?.details?.code;
    const code = typeof detail === 'string' ? detail : (body?.code ?? `HTTP_${response.status}`);
    throw new ApiError(response.status, code, body?.message ?? `HTTP ${response.status}`);
  }
  return body?.data;
}

function describeError(error) {
  if (error instanceof ApiError) {
    if (error.status === 404 && error.code !== 'NOT_FOUND') return `Not found: ${error.message}`;
    if (error.status === 404) return 'This server has no admin API (/api/admin).';
    if (error.status === 401 || error.status === 403) return AUTH_MESSAGES[error.code] ?? error.message;
    if (error.status === 0) return error.message;
    return `${error.message} (${error.code})`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A refused token while signed in: back to the sign-in form, saying why. */
function isAuthFailure(error) {
  return error instanceof ApiError && (error.status === 401 || error.status === 403);
}

// ————— The live connection —————

function connect() {
  state.socket?.disconnect();
  setLinkStatus('connecting', 'Connecting…');
  const socket = io(ADMIN_NAMESPACE, {
    auth: { token: state.token },
    // WebSocket first; long-polling where it cannot open (it needs sticky sessions in a cluster).
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    reconnectionDelayMax: 10_000,
  });
  state.socket = socket;
  socket.on('connect', () => {
    setLinkStatus('live', 'Live');
    void loadUsers();
  });
  socket.on('authenticated', (message) => {
    const userId = message?.data?.userId;
    if (typeof userId === 'string') {
      state.userId = userId;
      $('who-user').textContent = userId;
    }
  });
  socket.on('stats', (message) => onStats(message?.data ?? message));
  socket.on('event', onEvent);
  socket.on('system', (notice) => {
    const data = notice?.data ?? notice;
    toast(`${data?.title ? `${data.title}: ` : ''}${data?.message ?? 'System notice'}`, data?.level);
  });
  socket.on('auth:expired', () => signOut(AUTH_MESSAGES.AUTH_EXPIRED));
  socket.on('connect_error', (error) => {
    if (state.socket !== socket) return;
    const code = error?.data?.code ?? error?.message;
    if (code in AUTH_MESSAGES) {
      signOut(AUTH_MESSAGES[code]);
      return;
    }
    setLinkStatus('error', `Cannot reach the server (${code ?? 'error'}); retrying…`);
  });
  socket.on('disconnect', (reason) => {
    if (state.socket !== socket) return;
    if (reason === 'io server disconnect') {
      signOut(
        'The server closed the admin connection (token revoked, or this admin disconnected). Sign in again.',
      );
      return;
    }
    setLinkStatus('connecting', 'Connection lost; reconnecting…');
  });
}

/** An admin action over the socket: its `data`, or an error saying what the server answered. */
async function adminAction(event, payload) {
  const socket = state.socket;
  if (!socket?.connected) throw new Error('Not connected to the server; wait for “Live” and try again.');
  let reply;
  try {
    reply = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  } catch {
    throw new Error('The server did not answer in time.');
  }
  if (!reply?.ok) {
    const error = reply?.error ?? {};
    const fields = Array.isArray(error.details)
      ? error.details.map((detail) => `${detail.field}: ${(detail.problems ?? []).join(', ')}`).join('; ')
      : '';
    throw new Error(
      `${error.message ?? 'Refused'}${fields ? ` (${fields})` : ''} [${error.code ?? 'ERROR'}]`,
    );
  }
  return reply.data;
}

function setLinkStatus(kind, text) {
  const status = $('link-status');
  status.dataset.state = kind;
  status.textContent = text;
}

// ————— Stats, chart, instances —————

function onStats(stats) {
  if (!stats || typeof stats !== 'object') return;
  state.stats = stats;
  const global = stats.global ?? {};
  const rates = stats.rates ?? {};
  $('total-connections').textContent = formatCount(global.totalConnections);
  $('total-users').textContent = formatCount(global.totalUsers);
  $('total-servers').textContent = formatCount(global.totalServers);
  $('rate-in').textContent = formatRate(rates.eventsInPerS);
  $('rate-out').textContent = formatRate(rates.eventsOutPerS);
  $('rate-handshakes').textContent = formatRate(rates.handshakesPerS);
  $('rate-refused').textContent = formatRate(rates.refusedHandshakesPerS);
  renderNamespaces(global.byNamespace);
  renderInstances(stats.servers, stats.server?.serverId);
  $('stats-age').textContent =
    `Updated ${formatTime(Date.now())}${stats.server?.serverId ? ` by instance ${stats.server.serverId}` : ''}`;

  if (typeof global.totalConnections === 'number') {
    const now = Date.now();
    state.history.push({ t: now, connections: global.totalConnections, users: global.totalUsers ?? 0 });
    while (state.history.length > 0 && state.history[0].t < now - CHART_WINDOW_MS) state.history.shift();
    renderChart();
  }
  // The users table follows the totals without being fetched on every tick.
  const totals = `${global.totalConnections}/${global.totalUsers}`;
  if (totals !== state.statsTotals) {
    state.statsTotals = totals;
    scheduleUsersReload();
  }
}

function renderChart() {
  const minutes = Math.round(drawChart($('chart'), state.history, CHART_WINDOW_MS) / 60_000);
  $('chart-window').textContent = minutes === 1 ? 'minute' : `${minutes} minutes`;
}

/** Names each cell after its column, for the stacked rows of a phone-width screen. */
function labelCells(body) {
  const head = body.closest('table')?.tHead?.rows[0];
  if (!head) return;
  const names = [...head.cells].map((cell) => cell.textContent.trim());
  for (const row of body.rows) {
    if (row.classList.contains('empty')) continue;
    [...row.cells].forEach((cell, index) => cell.setAttribute('data-label', names[index] ?? ''));
  }
}

function renderNamespaces(byNamespace) {
  const target = $('by-namespace');
  const entries = byNamespace && typeof byNamespace === 'object' ? Object.entries(byNamespace) : [];
  if (entries.length === 0) {
    target.replaceChildren('none');
    return;
  }
  target.replaceChildren(
    ...entries
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([namespace, count]) => h('span', { class: 'chip' }, `${namespace} ${formatCount(count)}`)),
  );
}

function renderInstances(servers, ownId) {
  const body = $('instances-body');
  const list = Array.isArray(servers) ? servers : [];
  if (list.length === 0) {
    body.replaceChildren(emptyRow(8, 'No instance has reported yet.'));
    return;
  }
  body.replaceChildren(
    ...list.map((server) =>
      h(
        'tr',
        {},
        h(
          'td',
          { class: 'id' },
          h(
            'span',
            {},
            server.serverId ?? '?',
            server.serverId === ownId ? h('span', { class: 'tag' }, 'this') : null,
          ),
        ),
        h('td', { class: 'num' }, formatCount(server.connections)),
        h('td', { class: 'num' }, formatCount(server.users)),
        h(
          'td',
          { class: 'num' },
          `${formatRate(server.rates?.eventsInPerS)} / ${formatRate(server.rates?.eventsOutPerS)}`,
        ),
        h('td', { class: 'num' }, formatDuration(server.uptimeS)),
        h('td', { class: 'num' }, formatBytes(server.rssBytes)),
        h('td', { class: 'num' }, formatBytes(server.heapUsedBytes)),
        h('td', { class: 'num' }, formatMs(server.eventLoopLagMs)),
      ),
    ),
  );
  labelCells(body);
}

// ————— Connected users —————

let usersReload;
function scheduleUsersReload() {
  clearTimeout(usersReload);
  usersReload = setTimeout(() => void loadUsers(), 250);
}

/** `GET /api/admin/users` (src/admin/admin.events.ts `UsersPage`). */
function readUsersPage(data) {
  const users = Array.isArray(data?.users) ? data.users : [];
  return { users, total: typeof data?.totalCount === 'number' ? data.totalCount : users.length };
}

async function loadUsers() {
  if (!state.token) return;
  const error = $('users-error');
  let page;
  try {
    page = readUsersPage(await api(`/api/admin/users?page=${state.usersPage}&limit=${USERS_PAGE_SIZE}`));
  } catch (failure) {
    if (isAuthFailure(failure)) return signOut(describeError(failure));
    error.textContent = `Could not load the users: ${describeError(failure)}`;
    error.hidden = false;
    return;
  }
  error.hidden = true;
  const pages = Math.max(1, Math.ceil(page.total / USERS_PAGE_SIZE));
  if (state.usersPage > pages) {
    state.usersPage = pages;
    return loadUsers();
  }
  state.usersTotal = page.total;
  $('users-count').textContent = `(${formatCount(page.total)})`;
  $('users-page').textContent = `Page ${state.usersPage} of ${pages}`;
  $('users-prev').disabled = state.usersPage <= 1;
  $('users-next').disabled = state.usersPage >= pages;
  const body = $('users-body');
  if (page.users.length === 0) {
    body.replaceChildren(emptyRow(5, 'Nobody is connected.'));
    return;
  }
  body.replaceChildren(
    ...page.users.map((user) =>
      h(
        'tr',
        { 'data-user-id': user.userId },
        h(
          'td',
          { class: 'id' },
          user.userId,
          user.userId === state.userId ? h('span', { class: 'tag' }, 'you') : null,
        ),
        h('td', { class: 'num' }, formatCount(user.connections)),
        h('td', { class: 'namespaces-cell' }, (user.namespaces ?? []).join(' ')),
        h('td', { class: 'nowrap since' }, formatTime(user.connectedSince)),
        h(
          'td',
          { class: 'action' },
          h(
            'button',
            {
              type: 'button',
              class: 'small link-danger',
              'aria-label': `Disconnect ${user.userId}`,
              onclick: () => askDisconnect(user.userId),
            },
            'Disconnect',
          ),
        ),
      ),
    ),
  );
}

function askDisconnect(userId) {
  const dialog = $('disconnect-dialog');
  $('disconnect-user').textContent = userId;
  $('disconnect-reason').value = '';
  $('disconnect-revoke').checked = false;
  dialog.returnValue = '';
  dialog.dataset.userId = userId;
  dialog.showModal();
  $('disconnect-reason').focus();
}

async function onDisconnectDialogClosed() {
  const dialog = $('disconnect-dialog');
  const userId = dialog.dataset.userId;
  if (dialog.returnValue !== 'confirm' || !userId) return;
  const reason = $('disconnect-reason').value.trim();
  const payload = { userId, revoke: $('disconnect-revoke').checked, ...(reason ? { reason } : {}) };
  try {
    const result = await adminAction('admin:disconnect-user', payload);
    const count = result?.disconnected;
    const revoked = result?.revokedSessions?.length ?? 0;
    toast(
      `Disconnected ${userId}${typeof count === 'number' ? ` (${count} connection${count === 1 ? '' : 's'})` : ''}` +
        `${revoked > 0 ? `; ${revoked} session${revoked === 1 ? '' : 's'} revoked` : ''}.`,
    );
  } catch (error) {
    toast(`Could not disconnect ${userId}: ${error.message}`, 'error');
  }
  void loadUsers();
}

// ————— Broadcast —————

async function onBroadcast(event) {
  event.preventDefault();
  const result = $('broadcast-result');
  const message = $('broadcast-message').value.trim();
  const title = $('broadcast-title-input').value.trim();
  result.classList.remove('failed');
  if (message === '') {
    result.textContent = 'Write a message first.';
    result.classList.add('failed');
    $('broadcast-message').focus();
    return;
  }
  const button = $('broadcast-send');
  button.disabled = true;
  result.textContent = 'Sending…';
  try {
    const data = await adminAction('admin:broadcast', {
      level: $('broadcast-level').value,
      message,
      ...(title ? { title } : {}),
    });
    const reached = data?.targetedConnections;
    result.textContent = `Sent${typeof reached === 'number' ? ` to ${formatCount(reached)} connection${reached === 1 ? '' : 's'}` : ''} at ${formatTime(Date.now())}.`;
    $('broadcast-message').value = '';
    $('broadcast-title-input').value = '';
  } catch (error) {
    result.textContent = `Not sent: ${error.message}`;
    result.classList.add('failed');
  } finally {
    button.disabled = false;
  }
}

// ————— Live events —————

function onEvent(event) {
  if (!event || typeof event.type !== 'string') return;
  if (event.id !== undefined) {
    if (state.eventIds.has(event.id)) return;
    state.eventIds.add(event.id);
  }
  state.events.unshift(event);
  while (state.events.length > MAX_FEED_EVENTS) {
    const dropped = state.events.pop();
    if (dropped?.id !== undefined) state.eventIds.delete(dropped.id);
  }
  renderEvents();
  if (event.type.startsWith('admin.')) scheduleAuditReload();
  if (event.type.startsWith('session.')) scheduleUsersReload();
}

function renderEvents() {
  const category = $('events-category').value;
  const text = $('events-filter').value.trim().toLowerCase();
  const shown = state.events.filter(
    (event) =>
      (category === '' || event.type.startsWith(category)) &&
      (text === '' || event.type.toLowerCase().includes(text)),
  );
  $('events-count').textContent =
    state.events.length === 0 ? '' : `(${shown.length} of ${state.events.length})`;
  $('events-list').replaceChildren(
    ...shown
      .slice(0, 150)
      .map((event) =>
        h(
          'li',
          { 'data-type': event.type },
          h('time', { datetime: event.timestamp }, formatTime(event.timestamp)),
          h('span', { class: 'type', 'data-category': event.type.split('.')[0] }, event.type),
          h(
            'span',
            { class: 'detail' },
            [
              event.userId ? `user ${event.userId}` : '',
              event.sessionId ? `session ${event.sessionId}` : '',
              summarize(event.data),
            ]
              .filter(Boolean)
              .join(' · '),
          ),
        ),
      ),
  );
  const empty = $('events-empty');
  empty.hidden = shown.length > 0;
  empty.textContent =
    state.events.length === 0
      ? 'No events yet. They appear here as they happen.'
      : 'No event matches the filter.';
}

// ————— Audit log —————

let auditReload;
function scheduleAuditReload() {
  clearTimeout(auditReload);
  auditReload = setTimeout(() => void loadAudit(), 300);
}

/** `GET /api/admin/audit` (src/admin/admin.events.ts `AuditPage`), newest first. */
function readAuditPage(data) {
  return { entries: Array.isArray(data?.entries) ? data.entries : [], hasMore: data?.hasMore === true };
}

async function loadAudit(older = false) {
  if (!state.token) return;
  const error = $('audit-error');
  const query = new URLSearchParams({ limit: String(AUDIT_PAGE_SIZE) });
  if (older && state.auditOldest !== undefined) query.set('before', String(state.auditOldest));
  let page;
  try {
    page = readAuditPage(await api(`/api/admin/audit?${query}`));
  } catch (failure) {
    if (isAuthFailure(failure)) return signOut(describeError(failure));
    error.textContent = `Could not load the audit log: ${describeError(failure)}`;
    error.hidden = false;
    return;
  }
  error.hidden = true;
  const body = $('audit-body');
  const rows = page.entries.map((entry) =>
    h(
      'tr',
      { 'data-action': entry.action },
      h('td', { class: 'nowrap' }, formatDateTime(entry.createdAt)),
      h('td', { class: 'id' }, entry.actorId),
      h(
        'td',
        { class: 'nowrap' },
        h('span', {}, entry.action, entry.via ? h('span', { class: 'tag' }, entry.via) : null),
      ),
      h('td', { class: 'id' }, entry.target ?? '—'),
      h('td', {}, entry.reason ?? auditDetail(entry)),
      h('td', { class: 'id' }, entry.address ?? ''),
    ),
  );
  if (older) body.append(...rows);
  else body.replaceChildren(...(rows.length > 0 ? rows : [emptyRow(6, 'No admin action recorded yet.')]));
  labelCells(body);
  const last = page.entries[page.entries.length - 1];
  if (last !== undefined) state.auditOldest = last.id;
  $('audit-more').hidden = !page.hasMore;
}

/** What an entry without a reason said: a broadcast's text, a disconnect's `revoke`. */
function auditDetail(entry) {
  const details = entry.details ?? {};
  if (typeof details.message === 'string') return `“${details.message}”`;
  return Object.keys(details).length > 0 ? summarize(details, 120) : '';
}

// ————— Toasts, wiring —————

function toast(text, level = 'info') {
  const item = h('div', { class: 'toast', 'data-level': level }, text);
  $('toasts').append(item);
  setTimeout(() => item.remove(), TOAST_MS);
}

function resetDashboard() {
  state.history = [];
  state.events = [];
  state.eventIds.clear();
  state.statsTotals = '';
  state.usersPage = 1;
  state.auditOldest = undefined;
  renderEvents();
  renderChart();
}

function start() {
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void signIn($('token').value);
  });
  $('use-dev-token').addEventListener('click', () => {
    if (state.devToken) void signIn(state.devToken);
  });
  $('sign-out').addEventListener('click', () => signOut());
  $('users-refresh').addEventListener('click', () => void loadUsers());
  $('users-prev').addEventListener('click', () => {
    state.usersPage = Math.max(1, state.usersPage - 1);
    void loadUsers();
  });
  $('users-next').addEventListener('click', () => {
    state.usersPage += 1;
    void loadUsers();
  });
  $('disconnect-dialog').addEventListener('close', () => void onDisconnectDialogClosed());
  $('broadcast-form').addEventListener('submit', (event) => void onBroadcast(event));
  $('events-category').addEventListener('change', renderEvents);
  $('events-filter').addEventListener('input', renderEvents);
  $('events-clear').addEventListener('click', () => {
    state.events = [];
    state.eventIds.clear();
    renderEvents();
  });
  $('audit-refresh').addEventListener('click', () => void loadAudit());
  $('audit-more').addEventListener('click', () => void loadAudit(true));
  new ResizeObserver(() => {
    if (!$('dashboard').hidden) renderChart();
  }).observe($('chart'));
  // The chart slides with time between two stats messages too.
  setInterval(() => {
    if (!$('dashboard').hidden) renderChart();
  }, 5000);

  const stored = sessionStorage.getItem(TOKEN_KEY);
  if (stored) void signIn(stored);
  else showSignIn();
  void offerDevToken();
}

start();
