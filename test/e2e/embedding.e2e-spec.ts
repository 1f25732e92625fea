import { NestFactory } from '@nestjs/core';
import { AppModule } from '../../src/app.module.js';
import { TEST_SECRET } from '../support/app.js';

/** Importing Switchboard's modules without its adapter would serve sockets without identity. */
describe('embedding without the adapter (e2e)', () => {
  it('fails at boot with a message that says what to call', async () => {
    const saved = process.env;
    process.env = {
      PATH: saved.PATH ?? '',
      NODE_ENV: 'test',
      JWT_SECRET: TEST_SECRET,
      DATABASE_URL: 'sqlite::memory:',
    };
    let module;
    try {
      module = await AppModule.forRoot({ envFile: false });
    } finally {
      process.env = saved;
    }
    const app = await NestFactory.create(module, { logger: false });
    try {
      await expect(app.init()).rejects.toThrow(/adapter is not installed.*createApp\(\)/s);
    } finally {
      await app.close();
    }
  });
});
