import type { NextFunction, Request, Response } from 'express';
import type { AppConfig } from '../config/app-config.js';
import { ConfigValidationError, validateEnvironment } from '../config/environment.js';
import { MetricsScraperMiddleware } from './metrics-access.js';
import type { MetricsService } from './metrics.service.js';

const TOKEN = 'scraper-token-0123456789';

function middleware(token: string | undefined) {
  const metrics = { render: () => Promise.resolve('# metrics\n') } as unknown as MetricsService;
  return new MetricsScraperMiddleware({ metrics: { token } } as AppConfig, metrics);
}

/** Runs the middleware; resolves with what it did: answered (with the body) or passed on. */
function run(
  subject: MetricsScraperMiddleware,
  authorization?: string,
  method = 'GET',
  path = '/metrics',
): Promise<{ passed: boolean; body?: string; type?: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    const response = {
      setHeader: (name: string, value: string) => (headers[name] = value),
      type(value: string) {
        headers['Content-Type'] = value;
        return this;
      },
      send: (body: string) => resolve({ passed: false, body, type: headers['Content-Type'] }),
    };
    const request = { method, path, headers: authorization === undefined ? {} : { authorization } };
    const next: NextFunction = () => resolve({ passed: true });
    subject.use(request as Request, response as unknown as Response, next);
  });
}

describe('MetricsScraperMiddleware', () => {
  it('answers a request carrying METRICS_TOKEN as its Bearer credential', async () => {
    await expect(run(middleware(TOKEN), `Bearer ${TOKEN}`)).resolves.toEqual({
      passed: false,
      body: '# metrics\n',
      type: 'text/plain; version=0.0.4; charset=utf-8',
    });
  });

  it('passes everything else on to the guarded route', async () => {
    const subject = middleware(TOKEN);
    for (const authorization of [
      undefined,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(1)}`,
      TOKEN,
      `Basic ${TOKEN}`,
    ]) {
      await expect(run(subject, authorization)).resolves.toEqual({ passed: true });
    }
  });

  it('answers GET /metrics only', async () => {
    await expect(run(middleware(TOKEN), `Bearer ${TOKEN}`, 'POST')).resolves.toEqual({ passed: true });
    await expect(run(middleware(TOKEN), `Bearer ${TOKEN}`, 'GET', '/api/health')).resolves.toEqual({
      passed: true,
    });
  });

  it('passes every request on when no METRICS_TOKEN is configured', async () => {
    await expect(run(middleware(undefined), 'Bearer anything-at-all')).resolves.toEqual({ passed: true });
  });
});

describe('METRICS_TOKEN', () => {
  const base = { JWT_SECRET: 'x'.repeat(40) };

  it('is optional, an empty value counting as unset', () => {
    expect(validateEnvironment(base).METRICS_TOKEN).toBeUndefined();
    expect(validateEnvironment({ ...base, METRICS_TOKEN: '' }).METRICS_TOKEN).toBeUndefined();
    expect(validateEnvironment({ ...base, METRICS_TOKEN: TOKEN }).METRICS_TOKEN).toBe(TOKEN);
  });

  it('refuses a short token or one with spaces', () => {
    for (const METRICS_TOKEN of ['short', 'has spaces in it, quite long']) {
      expect(() => validateEnvironment({ ...base, METRICS_TOKEN })).toThrow(ConfigValidationError);
      expect(() => validateEnvironment({ ...base, METRICS_TOKEN })).toThrow(
        /METRICS_TOKEN must be at least 16/,
      );
    }
  });
});
