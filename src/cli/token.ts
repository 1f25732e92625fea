import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { loadOrCreateDevelopmentSecret, mintToken } from '../auth/dev-credentials.js';
import { parseRoles } from '../auth/token-verifier.js';
import { errorMessage } from '../common/failure-log.js';

const USAGE = `Mints a token the server accepts and prints it.

Usage: npm run token -- --sub <user id> [--roles <r1,r2>] [--ttl <duration>] [--sid <session id>]

  --sub     user id (the sub claim), required
  --roles   roles, separated by commas or spaces (e.g. admin,service)
  --ttl     lifetime: seconds or 15m, 1h, 7d (default 1h)
  --sid     session id (the sid claim)
  --help    show this text

Reads .env and the environment like the server; needs JWT_SECRET, or no key at all outside
production (then the development secret under DATA_DIR is used).
`;

function run(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      roles: { type: 'string' },
      ttl: { type: 'string' },
      sid: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.sub === undefined) throw new Error('--sub is required (see --help)');
  if (existsSync('.env')) process.loadEnvFile('.env');
  const config = buildAppConfig(validateEnvironment({ ...process.env }), {
    developmentSecret: loadOrCreateDevelopmentSecret,
  });
  const token = mintToken(config, {
    sub: values.sub,
    roles: values.roles === undefined ? undefined : parseRoles(values.roles),
    sid: values.sid,
    ttl: values.ttl,
  });
  process.stdout.write(`${token}\n`);
}

try {
  run(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${errorMessage(error)}\n`);
  process.exitCode = 1;
}
