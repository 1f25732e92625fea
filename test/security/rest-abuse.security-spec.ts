import request from 'supertest';
import type { Chat, ChatMessage, ChatSummary, MessagePage } from '../../src/chat/chat.types.js';
import { startApp, type RunningApp } from '../support/app.js';
import { NotificationsLimits, type NotificationPage } from '../../src/notifications/notifications.events.js';
import { DEEP_NESTING, deepJson, PROTOTYPE_KEYS, tooManyItems, type FieldSpec } from '../support/security.js';
import { signToken } from '../support/tokens.js';
import { unauthorizedBody } from '../support/rest-errors.js';

const MAX_PAYLOAD_BYTES = 64 * 1024;
const OWNER = 'rest-owner';
const PEER = 'rest-peer';

type Method = 'get' | 'post' | 'patch' | 'delete';
/**
 * `userId` is a user id the route answers for whoever it names: an unknown one is an offline user
 * (200), never 404, so that ids cannot be probed.
 */
type ParamKind = 'text' | 'messageId' | 'userId';

interface RestFixture {
  id: string;
  messageId: string;
  userId: string;
}

interface RouteSpec {
  method: Method;
  /** Express path, exactly as the controllers declare it. */
  path: string;
  public?: boolean;
  /**
   * Mapped, but answering 404 to everything on this (non-development) server, before reading
   * any input: the development token route.
   */
  hidden?: boolean;
  admin?: boolean;
  params?: Readonly<Record<string, ParamKind>>;
  body?: {
    fields: Readonly<Record<string, FieldSpec>>;
    valid: (fixture: RestFixture) => Record<string, unknown>;
  };
  query?: readonly string[];
  /** The `data` a 200 answers for an unknown user id (default: an offline user's presence). */
  unknownUser?: Record<string, unknown>;
}

/**
 * Every REST route, from the controllers of src/sessions, src/chat, src/presence, src/notifications and
 * src/health. The first test
 * compares it with the routes the app really serves, so that a new route cannot go untested.
 */
const ROUTES: readonly RouteSpec[] = [
  { method: 'get', path: '/api/health', public: true },
  { method: 'get', path: '/api/health/live', public: true },
  { method: 'get', path: '/api/health/ready', public: true },
  { method: 'get', path: '/ws/health', public: true },
  { method: 'get', path: '/api/auth/me' },
  // Its body is all optional, and a valid one logs the caller out: its bad input is in
  // test/e2e/auth-surface.e2e-spec.ts.
  { method: 'post', path: '/api/auth/logout' },
  { method: 'post', path: '/api/auth/dev-token', public: true, hidden: true },
  // The admin console's demo token (src/console): development, this machine, only.
  { method: 'get', path: '/api/sessions/count' },
  { method: 'get', path: '/api/sessions/me' },
  { method: 'get', path: '/api/sessions', admin: true, query: ['page', 'limit'] },
  { method: 'delete', path: '/api/sessions/:id', params: { id: 'text' } },
  {
    method: 'post',
    path: '/api/chats',
    body: {
      fields: {
        participantIds: { type: 'string', required: true },
        title: { type: 'string', required: false },
      },
      valid: () => ({ participantIds: [PEER], title: 'must never be created' }),
    },
  },
  { method: 'get', path: '/api/chats' },
  { method: 'get', path: '/api/chats/:id', params: { id: 'text' } },
  {
    method: 'post',
    path: '/api/chats/:id/members',
    params: { id: 'text' },
    body: {
      fields: { userId: { type: 'string', required: true } },
      valid: () => ({ userId: 'must-never-join' }),
    },
  },
  { method: 'delete', path: '/api/chats/:id/members/:userId', params: { id: 'text', userId: 'text' } },
  {
    method: 'get',
    path: '/api/chats/:id/messages',
    params: { id: 'text' },
    query: ['before', 'after', 'afterSeq', 'limit'],
  },
  {
    method: 'post',
    path: '/api/chats/:id/messages',
    params: { id: 'text' },
    body: {
      fields: { content: { type: 'string', required: true }, clientId: { type: 'string', required: false } },
      valid: () => ({ content: 'must never be stored' }),
    },
  },
  {
    method: 'patch',
    path: '/api/chats/:id/messages/:messageId',
    params: { id: 'text', messageId: 'messageId' },
    body: {
      fields: { content: { type: 'string', required: true } },
      valid: () => ({ content: 'must never be stored' }),
    },
  },
  {
    method: 'delete',
    path: '/api/chats/:id/messages/:messageId',
    params: { id: 'text', messageId: 'messageId' },
  },
  {
    method: 'post',
    path: '/api/chats/:id/read',
    params: { id: 'text' },
    body: {
      fields: { messageId: { type: 'integer', required: true } },
      valid: (fixture) => ({ messageId: Number(fixture.messageId) }),
    },
  },
  { method: 'get', path: '/api/presence/:userId', params: { userId: 'userId' } },
  {
    method: 'post',
    path: '/api/presence/query',
    body: {
      fields: { userIds: { type: 'string[]', required: true } },
      valid: (fixture) => ({ userIds: [fixture.userId] }),
    },
  },
  // Publishing needs role service; admin satisfies it. No case ever sends the valid body alone.
  {
    method: 'post',
    path: '/api/events',
    admin: true,
    body: {
      fields: {
        type: { type: 'string', required: true },
        userId: { type: 'string', required: false },
        broadcast: { type: 'boolean', required: false },
        sessionId: { type: 'string', required: false },
      },
      valid: (fixture) => ({ type: 'rest.abuse', userId: fixture.userId, data: { never: 'published' } }),
    },
  },
  {
    method: 'post',
    path: '/api/notifications',
    admin: true,
    body: {
      fields: {
        userId: { type: 'string', required: false },
        userIds: { type: 'string[]', required: false, maxItems: NotificationsLimits.maxUserIds },
        broadcast: { type: 'boolean', required: false },
        title: { type: 'string', required: true },
        body: { type: 'string', required: true },
        level: { type: 'string', required: false },
      },
      valid: (fixture) => ({ userId: fixture.userId, title: 'must never be stored', body: 'never' }),
    },
  },
  {
    method: 'post',
    path: '/api/messages',
    admin: true,
    body: {
      fields: {
        userId: { type: 'string', required: false },
        userIds: { type: 'string[]', required: false, maxItems: NotificationsLimits.maxUserIds },
        broadcast: { type: 'boolean', required: false },
        type: { type: 'string', required: true },
      },
      valid: (fixture) => ({ userId: fixture.userId, type: 'must.never.be.sent' }),
    },
  },
  { method: 'get', path: '/api/notifications', query: ['unreadOnly', 'before', 'limit'] },
  { method: 'get', path: '/api/notifications/unread-count' },
  { method: 'post', path: '/api/notifications/read-all' },
  { method: 'post', path: '/api/notifications/:id/read', params: { id: 'messageId' } },
  { method: 'get', path: '/api/admin/stats', admin: true },
  { method: 'get', path: '/api/admin/connections', admin: true, query: ['page', 'limit'] },
  { method: 'get', path: '/api/admin/users', admin: true, query: ['page', 'limit'] },
  {
    method: 'get',
    path: '/api/admin/users/:userId/status',
    admin: true,
    params: { userId: 'userId' },
    unknownUser: {
      userId: expect.any(String),
      online: false,
      connections: 0,
      status: 'offline',
      lastSeenAt: null,
      sessions: [],
    },
  },
  // An unknown user has nothing to close: the answer says so (and the audit log keeps the try).
  {
    method: 'delete',
    path: '/api/admin/users/:userId/connections',
    admin: true,
    params: { userId: 'userId' },
    unknownUser: {
      userId: expect.any(String),
      disconnected: 0,
      revokedSessions: [],
      auditId: expect.any(Number),
    },
  },
  {
    method: 'post',
    path: '/api/admin/broadcast',
    admin: true,
    body: {
      fields: {
        level: { type: 'string', required: true },
        title: { type: 'string', required: false },
        message: { type: 'string', required: true },
      },
      valid: () => ({ level: 'info', title: 'never', message: 'must never be broadcast' }),
    },
  },
  { method: 'get', path: '/api/admin/audit', admin: true, query: ['before', 'limit'] },
  // Prometheus text (src/observability); a scraper's METRICS_TOKEN is tested in metrics.e2e-spec.ts.
  { method: 'get', path: '/metrics', admin: true },
  // The API documents (src/api-docs): outside Nest's routing, without a token, unless API_DOCS
  // turns them off (as production does by default). Swagger UI answers its LICENSE with 404.
  { method: 'get', path: '/api/docs', public: true },
  { method: 'get', path: '/api/docs/', public: true },
  { method: 'get', path: '/api/docs/index.html', public: true },
  { method: 'get', path: '/api/docs/swagger-ui-init.js', public: true },
  { method: 'get', path: '/api/docs/docs/swagger-ui-init.js', public: true },
  { method: 'get', path: '/api/docs/LICENSE', public: true, hidden: true },
  { method: 'get', path: '/api/docs-json', public: true },
  { method: 'get', path: '/api/asyncapi.json', public: true },
];

const label = (route: RouteSpec) => `${route.method.toUpperCase()} ${route.path}`;
const rowsOf = <T extends RouteSpec>(routes: readonly T[]) =>
  routes.map((route) => [label(route), route] as const);
const PUBLIC = ROUTES.filter((route) => route.public && !route.hidden);
const HIDDEN = ROUTES.filter((route) => route.hidden);
const PROTECTED = ROUTES.filter((route) => !route.public);
const WITH_BODY = ROUTES.filter((route) => route.body);
const WITH_PARAMS = ROUTES.filter((route) => route.params);
const WITH_QUERY = ROUTES.filter((route) => route.query);

const WRONG_VALUES: Record<FieldSpec['type'], readonly { label: string; value: unknown }[]> = {
  string: [
    { label: 'a number', value: 42 },
    { label: 'a boolean', value: true },
    { label: 'an operator object', value: { $ne: null } },
  ],
  integer: [
    { label: 'a word', value: 'one' },
    { label: 'a numeric string', value: '1' },
    { label: 'a fraction', value: 1.5 },
    { label: 'a negative number', value: -1 },
    { label: 'an operator object', value: { $gt: 0 } },
  ],
  'string[]': [
    { label: 'a string', value: 'alice' },
    { label: 'a number', value: 42 },
    { label: 'an operator object', value: { $ne: null } },
    { label: 'an array holding a number', value: ['alice', 42] },
    { label: 'an array holding an operator object', value: [{ $ne: null }] },
    { label: 'an array holding null', value: [null] },
    { label: 'an array holding an empty string', value: [''] },
  ],
  boolean: [
    { label: 'a string', value: 'true' },
    { label: 'a number', value: 1 },
    { label: 'an operator object', value: { $ne: null } },
  ],
};

/** The wrong values of a body field: those of its type, and too many items for a list. */
const wrongValuesOf = (spec: FieldSpec) =>
  spec.type === 'string[]' ? [...WRONG_VALUES[spec.type], tooManyItems(spec)] : WRONG_VALUES[spec.type];

const ODD_TEXT_PARAMS: readonly { label: string; raw: string }[] = [
  { label: 'a 10 KB id', raw: 'x'.repeat(10 * 1024) },
  { label: '%00', raw: '%00' },
  { label: '..%2f..%2fhealth', raw: '..%2f..%2fhealth' },
  { label: '%2e%2e', raw: '%2e%2e' },
  { label: 'a malformed escape', raw: '%E0%A4%A' },
  { label: 'SQL', raw: "'%20OR%20'1'%3D'1" },
];

/**
 * Path parameter values that must be refused (400) or not found (404), never served or 500; a
 * `userId` may also be answered as an unknown user (200, offline), which serves nothing.
 */
const ODD_PARAMS: Record<ParamKind, readonly { label: string; raw: string }[]> = {
  text: ODD_TEXT_PARAMS,
  userId: ODD_TEXT_PARAMS,
  messageId: [
    { label: '-1', raw: '-1' },
    { label: '0', raw: '0' },
    { label: '1.5', raw: '1.5' },
    { label: 'NaN', raw: 'NaN' },
    { label: 'Infinity', raw: 'Infinity' },
    { label: '1e400', raw: '1e400' },
    { label: 'a 400-digit number', raw: '9'.repeat(400) },
    { label: 'a word', raw: 'abc' },
    { label: '%00', raw: '%00' },
  ],
};

/** Bad query values; each must be 400 unless listed otherwise. */
const BAD_QUERIES: readonly { label: string; query: string; statuses?: number[] }[] = [
  { label: 'negative', query: '=-1' },
  { label: 'non-numeric', query: '=abc' },
  { label: 'a fraction', query: '=1.5' },
  { label: 'Infinity', query: '=Infinity' },
  { label: '1e400', query: '=1e400' },
  { label: 'repeated', query: '=1&{name}=2' },
  { label: 'nested', query: '[a][b]=1' },
  { label: 'an array', query: '[]=1' },
  // An integer too large for a page of anything: answering an empty page is as right as 400.
  { label: 'a 30-digit number', query: `=${'9'.repeat(30)}`, statuses: [200, 400] },
];

const ERROR_BODY = {
  statusCode: expect.any(Number),
  error: expect.any(String),
  code: expect.any(String),
  message: expect.any(String),
};

/** The code a REST error carries for each status these routes answer: the socket ack's code. */
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'VALIDATION_FAILED',
};

describe('REST abuse (security)', () => {
  let app: RunningApp;
  let fixture: RestFixture;
  let stored: { chats: ChatSummary[]; chat: Chat; messages: ChatMessage[] };

  const http = () => request(app.app.getHttpServer());
  const tokenFor = (route: RouteSpec, userId = OWNER) =>
    `Bearer ${signToken({ sub: userId, roles: route.admin ? ['admin'] : [] })}`;

  /** The route's path with the fixture's ids, or with raw text put in place of one parameter. */
  function pathOf(route: RouteSpec, raw: Partial<Record<string, string>> = {}): string {
    return route.path.replace(
      /:(\w+)/g,
      (_match, name: string) => raw[name] ?? encodeURIComponent(fixture[name as keyof RestFixture]),
    );
  }

  function call(route: RouteSpec, path = pathOf(route)) {
    return http()[route.method](path).set('Authorization', tokenFor(route));
  }

  /** Sends `text` as the body with `contentType`, as a client that builds bodies by hand would. */
  function sendRaw(route: RouteSpec, text: string, contentType = 'application/json') {
    return call(route).set('Content-Type', contentType).send(text);
  }

  function expectError(response: { status: number; body: unknown }, statuses: number[]): void {
    expect(statuses).toContain(response.status);
    expect(response.body).toEqual(
      expect.objectContaining({
        ...ERROR_BODY,
        statusCode: response.status,
        code: CODE_BY_STATUS[response.status],
      }),
    );
  }

  function expectValidationError(response: { status: number; body: unknown }, field?: string): void {
    expectError(response, [400]);
    const { details } = response.body as { details?: { field: string; problems: string[] }[] };
    expect(details).toEqual(
      expect.arrayContaining([expect.objectContaining({ problems: expect.any(Array) })]),
    );
    if (field !== undefined) expect(details?.map((detail) => detail.field)).toContain(field);
  }

  async function snapshot() {
    const chats = await http()
      .get('/api/chats')
      .set('Authorization', `Bearer ${signToken({ sub: OWNER })}`);
    const chat = await http()
      .get(`/api/chats/${fixture.id}`)
      .set('Authorization', `Bearer ${signToken({ sub: PEER })}`);
    const messages = await http()
      .get(`/api/chats/${fixture.id}/messages?limit=200`)
      .set('Authorization', `Bearer ${signToken({ sub: PEER })}`);
    expect([chats.status, chat.status, messages.status]).toEqual([200, 200, 200]);
    return {
      chats: (chats.body as { data: { chats: ChatSummary[] } }).data.chats,
      chat: (chat.body as { data: Chat }).data,
      messages: (messages.body as { data: MessagePage }).data.messages,
    };
  }

  beforeAll(async () => {
    app = await startApp({
      MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES),
      RATE_LIMIT_HANDSHAKES_PER_MIN: '0',
      RATE_LIMIT_REST_PER_IP_PER_MIN: '0',
      RATE_LIMIT_REST_PER_USER_PER_MIN: '0',
    });
    const owner = `Bearer ${signToken({ sub: OWNER })}`;
    const created = await http()
      .post('/api/chats')
      .set('Authorization', owner)
      .send({ participantIds: [PEER] });
    expect(created.status).toBe(201);
    const chatId = (created.body as { data: Chat }).data.id;
    const ids: number[] = [];
    for (const content of ['first', 'second', 'third']) {
      const posted = await http()
        .post(`/api/chats/${chatId}/messages`)
        .set('Authorization', owner)
        .send({ content });
      expect(posted.status).toBe(201);
      ids.push((posted.body as { data: ChatMessage }).data.id);
    }
    fixture = { id: chatId, messageId: String(ids[1]), userId: PEER };
    stored = await snapshot();
    expect(stored.messages.map((message) => message.content)).toEqual(['first', 'second', 'third']);
  });
  afterAll(() => app?.close());

  it('the route table lists exactly the routes the app serves', () => {
    const router = (
      app.app.getHttpAdapter().getInstance() as {
        router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
      }
    ).router;
    const served = router.stack
      .flatMap((layer) =>
        layer.route
          ? Object.keys(layer.route.methods).map((method) => `${method.toUpperCase()} ${layer.route?.path}`)
          : [],
      )
      .sort();
    expect(served).toEqual(ROUTES.map(label).sort());
  });

  describe('without a token', () => {
    it.each(rowsOf(PROTECTED))('%s answers 401', async (_label, route) => {
      const response = await http()[route.method](pathOf(route));
      expect(response.status).toBe(401);
      expect(response.body).toEqual(unauthorizedBody('AUTH_MISSING'));
    });

    it.each(rowsOf(PUBLIC))('%s is public', async (_label, route) => {
      expect((await http()[route.method](pathOf(route))).status).toBe(200);
    });

    it.each(rowsOf(HIDDEN))('%s answers 404 whatever it is sent, valid or not', async (_label, route) => {
      // (A body that is not JSON is refused by the parser before any route, known or not.)
      for (const body of [{ sub: 'mallory', roles: ['admin'] }, { sub: 42 }, {}]) {
        const response = await http()
          [route.method](pathOf(route))
          .set('Content-Type', 'application/json')
          .send(body);
        expect(response.status).toBe(404);
        expect(JSON.stringify(response.body)).not.toMatch(/token"\s*:\s*"ey/);
      }
    });
  });

  describe.each(rowsOf(WITH_BODY))('%s body', (_label, route) => {
    const body = route.body!;
    const valid = () => body.valid(fixture);

    it('that is not JSON: 400', async () => {
      expectError(await sendRaw(route, '{"content": "unterminated'), [400]);
    });

    it.each([
      ['null', 'null'],
      ['a string', '"text"'],
      ['a number', '42'],
      ['an array', '[]'],
    ])('that is %s: 400', async (_kind, text) => {
      expectError(await sendRaw(route, text), [400]);
    });

    it.each([
      ['text/plain', 'text/plain'],
      ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded'],
      ['application/xml', 'application/xml'],
    ])('sent as %s: 400 or 415', async (_kind, contentType) => {
      const text = contentType.includes('urlencoded') ? 'content=x&userId=x' : JSON.stringify(valid());
      expectError(await sendRaw(route, text, contentType), [400, 415]);
    });

    it('over MAX_PAYLOAD_BYTES: 413', async () => {
      const response = await sendRaw(
        route,
        JSON.stringify({ ...valid(), padding: 'x'.repeat(MAX_PAYLOAD_BYTES) }),
      );
      expectError(response, [413]);
    });

    const fieldCases = Object.entries(body.fields).flatMap(([field, spec]) => [
      ...wrongValuesOf(spec).map(
        ({ label: kind, value }) =>
          [`${field} as ${kind}`, field, () => ({ ...valid(), [field]: value })] as const,
      ),
      ...(spec.required
        ? [
            [
              `${field} missing`,
              field,
              () => {
                const payload = valid();
                delete payload[field];
                return payload;
              },
            ] as const,
          ]
        : []),
    ]);
    it.each(fieldCases)('with %s: 400 with details', async (_kind, field, build) => {
      expectValidationError(await call(route).send(build()), field);
    });

    it('with an unknown field: 400 with details', async () => {
      expectValidationError(await call(route).send({ ...valid(), unexpected: true }), 'unexpected');
    });

    it('empty: 400 with details', async () => {
      expectValidationError(await call(route).send({}));
    });

    it.each(PROTOTYPE_KEYS.map(({ key, valueJson }) => [key, valueJson] as const))(
      'with a "%s" key beside valid fields: 400',
      async (key, valueJson) => {
        const text = `{${JSON.stringify(key)}:${valueJson},${JSON.stringify(valid()).slice(1)}`;
        expectError(await sendRaw(route, text), [400]);
      },
    );

    it.each([
      ['objects', deepJson(DEEP_NESTING, 'object')],
      ['arrays', deepJson(DEEP_NESTING, 'array')],
      ['a field holding objects', `{"${Object.keys(body.fields)[0]}":${deepJson(DEEP_NESTING, 'object')}}`],
    ])(`nested ${DEEP_NESTING} levels deep (%s): 400`, async (_kind, text) => {
      expectError(await sendRaw(route, text), [400]);
    });
  });

  describe.each(rowsOf(WITH_PARAMS))('%s path parameters', (_label, route) => {
    const cases = Object.entries(route.params!).flatMap(([name, kind]) =>
      ODD_PARAMS[kind].map(
        ({ label: value, raw }) =>
          [
            `${name} = ${value}: ${kind === 'userId' ? '400, or 200 as an unknown user' : '400 or 404'}`,
            name,
            raw,
            kind,
          ] as const,
      ),
    );
    it.each(cases)('%s', async (_title, name, raw, kind) => {
      const response = await call(route, pathOf(route, { [name]: raw })).send(route.body?.valid(fixture));
      if (kind === 'userId' && response.status === 200) {
        expect(response.body).toEqual({
          message: expect.any(String),
          data: route.unknownUser ?? {
            userId: expect.any(String),
            status: 'offline',
            online: false,
            lastSeenAt: null,
          },
        });
      } else {
        expectError(response, kind === 'userId' ? [400] : [400, 404]);
      }
    });
  });

  describe.each(rowsOf(WITH_QUERY))('%s query', (_label, route) => {
    const cases = route.query!.flatMap((name) =>
      BAD_QUERIES.map(
        ({ label: kind, query, statuses }) =>
          [`${name} ${kind}`, `${name}${query.replaceAll('{name}', name)}`, statuses ?? [400]] as const,
      ),
    );
    it.each(cases)('%s', async (_kind, query, statuses) => {
      const response = await http()
        .get(`${pathOf(route)}?${query}`)
        .set('Authorization', tokenFor(route));
      expect(statuses).toContain(response.status);
      if (response.status >= 400) {
        expect(response.body).toEqual(
          expect.objectContaining({ ...ERROR_BODY, code: CODE_BY_STATUS[response.status] }),
        );
      }
    });

    it('deeply nested: 400', async () => {
      const response = await http()
        .get(`${pathOf(route)}?${route.query![0]}${'[a]'.repeat(DEEP_NESTING)}=1`)
        .set('Authorization', tokenFor(route));
      expectError(response, [400]);
    });
  });

  it.each(['before=3&after=1', 'after=1&afterSeq=1', 'before=3&afterSeq=1'])(
    'GET /api/chats/:id/messages refuses two cursors together: %s',
    async (query) => {
      const route = ROUTES.find((candidate) => candidate.path === '/api/chats/:id/messages')!;
      const response = await http()
        .get(`${pathOf(route)}?${query}`)
        .set('Authorization', tokenFor(route));
      expectValidationError(response);
    },
  );

  describe('security headers', () => {
    const expectSecurityHeaders = (headers: Record<string, string | undefined>) => {
      expect(headers['x-powered-by']).toBeUndefined();
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['x-frame-options']).toMatch(/^(DENY|SAMEORIGIN)$/);
      expect(headers['referrer-policy']).toEqual(expect.any(String));
      expect(headers['x-dns-prefetch-control']).toBe('off');
      expect(headers['x-permitted-cross-domain-policies']).toBe('none');
      expect(headers['content-security-policy']).toContain('default-src');
    };

    // A user outside the chat, and no body fields: every route answers without changing anything.
    it.each(rowsOf(ROUTES))('on %s', async (_label, route) => {
      const response = await http()
        [route.method](pathOf(route))
        .set('Authorization', tokenFor(route, 'rest-stranger'))
        .send(route.body ? {} : undefined);
      expect(response.status).toBeLessThan(500);
      expectSecurityHeaders(response.headers);
    });

    it.each([
      ['a 401', () => http().get('/api/sessions/me')],
      ['a 404 of an unknown route', () => http().get('/api/nowhere')],
      [
        'a 400 of a body that is not JSON',
        () =>
          http()
            .post('/api/chats')
            .set('Authorization', `Bearer ${signToken({ sub: OWNER })}`)
            .set('Content-Type', 'application/json')
            .send('{'),
      ],
      [
        'a 413',
        () =>
          http()
            .post('/api/chats')
            .set('Authorization', `Bearer ${signToken({ sub: OWNER })}`)
            .send({ participantIds: ['x'.repeat(MAX_PAYLOAD_BYTES)] }),
      ],
    ])('on %s', async (_label, send) => {
      const response = await send();
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expectSecurityHeaders(response.headers);
    });
  });

  describe('afterwards', () => {
    it('left the chats, the chat and its messages exactly as they were', async () => {
      expect(await snapshot()).toEqual(stored);
    });

    it('stored no notification for anyone', async () => {
      for (const userId of [OWNER, PEER, 'rest-stranger']) {
        const inbox = await http()
          .get('/api/notifications')
          .set('Authorization', `Bearer ${signToken({ sub: userId })}`);
        expect(inbox.status).toBe(200);
        expect((inbox.body as { data: NotificationPage }).data).toEqual({
          notifications: [],
          hasMore: false,
          unreadCount: 0,
        });
      }
    });

    it('left Object.prototype unpolluted', () => {
      const probe: Record<string, unknown> = {};
      expect(probe.admin).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('admin');
    });
  });
});
