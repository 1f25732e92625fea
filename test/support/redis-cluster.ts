import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { WatchedProcess } from './app-process.js';
import { describeWhenAvailable, findExecutable, freePort } from './system.js';

const run = promisify(execFile);

/** A throwaway Redis Cluster on 127.0.0.1, without persistence. */
export interface TestRedisCluster {
  /** Every node's client port (the TLS port with `tls`), masters and replicas, in start order. */
  readonly ports: readonly number[];
  /** `host:port,host:port,…` of every node, as `REDIS_CLUSTER_NODES` takes it. */
  readonly nodes: string;
  /** With `tls`: the PEM file of the CA that signed every node's certificate. */
  readonly caFile: string | undefined;
  /** SIGKILLs the node at `index` of `ports`, as a crash would; resolves once it is gone. */
  kill(index: number): Promise<void>;
  /**
   * Runs one command with `redis-cli` (password and TLS as the cluster needs) on the node at
   * `index`; resolves with its raw output, rejects when the command fails.
   */
  command(index: number, ...args: string[]): Promise<string>;
  /** `CLUSTER NODES` as the node at `index` (the first live node unless told) sees the cluster. */
  topology(index?: number): Promise<ClusterNodeView[]>;
  /** Resolves once every live node answers `cluster_state:ok`; rejects after `timeoutMs`. */
  waitForOk(timeoutMs?: number): Promise<void>;
  /** Shuts every node down and deletes their files. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** `requirepass` (and `masterauth`) on every node. */
  password?: string;
  /** Replicas per master: 0 (three nodes, the default) or 1 (six nodes, three of them replicas). */
  replicas?: 0 | 1;
  /**
   * `cluster-node-timeout` in ms (2000 unless told): how long a node may not answer before the
   * others flag it, and so roughly how long a failover takes to start.
   */
  nodeTimeoutMs?: number;
  /**
   * TLS only: every node listens on a TLS port alone (`--port 0`), the cluster bus and the
   * replication links use TLS too, with certificates from a CA made for this cluster (SAN
   * `IP:127.0.0.1` and `DNS:localhost`). Clients need no certificate of their own.
   */
  tls?: boolean;
}

/** One line of `CLUSTER NODES`. */
export interface ClusterNodeView {
  id: string;
  /** The address the node announces: the IP, or the hostname where it prefers hostnames. */
  host: string;
  port: number;
  hostname?: string;
  flags: string[];
  role: 'master' | 'replica';
  /** The id of its master, for a replica. */
  masterId?: string;
  linkState: string;
  /** Slot ranges served, `[first, last]`. */
  slots: [number, number][];
}

const SERVER = 'redis-server';
const CLI = 'redis-cli';
const OPENSSL = 'openssl';
const MASTERS = 3;
const READY_LINE = /Ready to accept connections/;
const PORT_TAKEN = /Address already in use/;
const READY_TIMEOUT_MS = 15_000;
const CLUSTER_OK_TIMEOUT_MS = 20_000;
const START_ATTEMPTS = 3;
const DEFAULT_NODE_TIMEOUT_MS = 2000;
const TLS_PROBE_TIMEOUT_MS = 5000;

/** Why Redis Cluster tests cannot run on this machine, or undefined when they can. */
export function redisClusterUnavailableReason(): string | undefined {
  const missing = [SERVER, CLI].filter((name) => findExecutable(name) === undefined);
  return missing.length > 0
    ? `${missing.join(' and ')} not found on PATH (install Redis 7, e.g. apt-get install redis-server redis-tools)`
    : undefined;
}

/**
 * Why a TLS-only Redis Cluster cannot run here, or undefined when it can: `openssl` must be on
 * the PATH to make the certificates, and `redis-server` must be built with TLS. The probe starts
 * it with a TLS port and certificate files that do not exist: a build with TLS fails to load
 * them, one without refuses the TLS directives themselves.
 */
export function redisClusterTlsUnavailableReason(): string | undefined {
  const unavailable = redisClusterUnavailableReason();
  if (unavailable !== undefined) return unavailable;
  if (findExecutable(OPENSSL) === undefined) {
    return `${OPENSSL} not found on PATH: it makes the test certificates (apt-get install openssl)`;
  }
  const missing = join(tmpdir(), 'switchboard-no-such-certificate.pem');
  const probe = spawnSync(
    SERVER,
    [
      ...['--port', '0', '--tls-port', '1', '--save', '', '--appendonly', 'no'],
      ...['--tls-cert-file', missing, '--tls-key-file', missing, '--tls-ca-cert-file', missing],
    ],
    { encoding: 'utf8', timeout: TLS_PROBE_TIMEOUT_MS },
  );
  const output = `${probe.stdout ?? ''}${probe.stderr ?? ''}`;
  if (/Failed to (load|configure)/i.test(output)) return undefined;
  const said = output.trim().split('\n').slice(-2).join(' / ') || (probe.error?.message ?? 'nothing');
  return `${SERVER} is not built with TLS support (redis-server --tls-port … said: ${said})`;
}

/** `describe` for suites that need a real Redis Cluster (see `describeWhenAvailable`). */
export function describeWithRedisCluster(title: string, body: () => void): void {
  describeWhenAvailable(title, 'Redis Cluster', redisClusterUnavailableReason(), body);
}

/** `describe` for suites that need a TLS-only Redis Cluster (see `describeWhenAvailable`). */
export function describeWithRedisClusterTls(title: string, body: () => void): void {
  describeWhenAvailable(title, 'Redis Cluster with TLS', redisClusterTlsUnavailableReason(), body);
}

/**
 * Starts three cluster-enabled `redis-server`s (six with a replica each) on free ports in one
 * temp dir, joins them as a cluster (each master serving a third of the slots) and resolves once
 * every node reports `cluster_state:ok` and, with replicas, once every replica is in sync with
 * its master and every node knows it as such (so that a failover can start at once).
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<TestRedisCluster> {
  const server = findExecutable(SERVER);
  const cli = findExecutable(CLI);
  if (server === undefined || cli === undefined) throw new Error(redisClusterUnavailableReason());
  const replicas = options.replicas ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-redis-cluster-'));
  const processes: WatchedProcess[] = [];
  try {
    const tls = options.tls ? await makeCertificates(join(dir, 'tls')) : undefined;
    const cluster = new RedisClusterProcesses(dir, processes, cli, options.password, tls);
    const settings: NodeSettings = {
      password: options.password,
      nodeTimeoutMs: options.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS,
      tls,
    };
    for (let index = 0; index < MASTERS * (1 + replicas); index++) {
      processes.push(await launchNode(server, join(dir, `node-${index}`), settings));
    }
    const nodes = cluster.ports.map((port) => `127.0.0.1:${port}`);
    const create = ['--cluster', 'create', ...nodes, '--cluster-replicas', String(replicas), '--cluster-yes'];
    await run(cli, [...cluster.cliOptions, ...create], { timeout: CLUSTER_OK_TIMEOUT_MS });
    await cluster.waitForOk();
    if (replicas > 0) await cluster.waitForReplicas(replicas);
    return cluster;
  } catch (error) {
    await Promise.all(processes.map((process) => process.stop('SIGKILL')));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

interface Certificates {
  caFile: string;
  certFile: string;
  keyFile: string;
}

interface NodeSettings {
  password?: string;
  nodeTimeoutMs: number;
  tls?: Certificates;
}

class RedisClusterProcesses implements TestRedisCluster {
  constructor(
    private readonly dir: string,
    private readonly processes: WatchedProcess[],
    private readonly cli: string,
    private readonly password: string | undefined,
    private readonly tls: Certificates | undefined,
  ) {}

  get ports(): number[] {
    return this.processes.map(portOf);
  }

  get nodes(): string {
    return this.ports.map((port) => `127.0.0.1:${port}`).join(',');
  }

  get caFile(): string | undefined {
    return this.tls?.caFile;
  }

  /** What every `redis-cli` call needs: the password, and TLS with the cluster's CA. */
  get cliOptions(): string[] {
    return [
      ...(this.password === undefined ? [] : ['-a', this.password, '--no-auth-warning']),
      ...(this.tls === undefined ? [] : ['--tls', '--cacert', this.tls.caFile]),
    ];
  }

  async kill(index: number): Promise<void> {
    await this.processAt(index).signal('SIGKILL');
  }

  async command(index: number, ...args: string[]): Promise<string> {
    this.processAt(index);
    const port = String(this.ports[index]);
    const { stdout } = await run(
      this.cli,
      [...this.cliOptions, '-e', '-h', '127.0.0.1', '-p', port, ...args],
      {
        timeout: READY_TIMEOUT_MS,
      },
    );
    return stdout;
  }

  async topology(index = this.liveIndexes()[0] ?? -1): Promise<ClusterNodeView[]> {
    return parseClusterNodes(await this.command(index, 'cluster', 'nodes'));
  }

  async waitForOk(timeoutMs = CLUSTER_OK_TIMEOUT_MS): Promise<void> {
    await this.waitFor('every live node to report cluster_state:ok', timeoutMs, async () => {
      const states = await Promise.all(
        this.liveIndexes().map((index) =>
          this.command(index, 'cluster', 'info').then(
            (info) => `:${this.ports[index]} ${/cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown'}`,
            (error: unknown) =>
              `:${this.ports[index]} ${error instanceof Error ? error.message : String(error)}`,
          ),
        ),
      );
      return states.every((state) => state.endsWith(' ok')) ? undefined : states.join(', ');
    });
  }

  /**
   * Resolves once every replica's link to its master is up and every node sees each master
   * with `replicas` replicas: the other masters must know a replica before they vote for it.
   */
  async waitForReplicas(replicas: number): Promise<void> {
    await this.waitFor('every replica in sync and known to every node', CLUSTER_OK_TIMEOUT_MS, async () => {
      const views = await Promise.all(this.liveIndexes().map((index) => this.topology(index)));
      for (const view of views) {
        const masters = view.filter((node) => node.role === 'master');
        const lagging = masters.find(
          (master) =>
            view.filter((node) => node.role === 'replica' && node.masterId === master.id).length !== replicas,
        );
        if (masters.length !== MASTERS || lagging) return `a node sees ${JSON.stringify(view)}`;
      }
      const links = await Promise.all(
        this.liveIndexes().map((index) => this.command(index, 'info', 'replication')),
      );
      const down = links.filter((info) => /role:slave/.test(info) && !/master_link_status:up/.test(info));
      return down.length === 0 ? undefined : `${down.length} replica links not up`;
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((process) => process.stop('SIGTERM')));
    await rm(this.dir, { recursive: true, force: true });
  }

  private liveIndexes(): number[] {
    return this.processes.flatMap((process, index) => (process.running ? [index] : []));
  }

  private processAt(index: number): WatchedProcess {
    const node = this.processes[index];
    if (!node) throw new Error(`no node at index ${index}`);
    return node;
  }

  /** Polls `problem` (undefined once the condition holds) every 100 ms until `timeoutMs`. */
  private async waitFor(what: string, timeoutMs: number, problem: () => Promise<string | undefined>) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const last = await problem();
      if (last === undefined) return;
      if (performance.now() > deadline)
        throw new Error(`Redis Cluster: no ${what} within ${timeoutMs} ms: ${last}`);
      await delay(100);
    }
  }
}

const ports = new WeakMap<WatchedProcess, number>();

function portOf(process: WatchedProcess): number {
  const port = ports.get(process);
  if (port === undefined) throw new Error(`${process.label} has no port`);
  return port;
}

/**
 * One cluster-enabled node in its own directory, retried on other ports if one chosen was taken.
 * The cluster bus gets a port of its own (`cluster-port`): by default it is the client port plus
 * 10,000, which is above 65,535 for a quarter of the ephemeral ports.
 */
async function launchNode(binary: string, dir: string, settings: NodeSettings): Promise<WatchedProcess> {
  const { password, tls } = settings;
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  await mkdir(dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const busPort = await freePort();
    const listen = tls
      ? [
          ...['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-replication', 'yes'],
          ...[
            '--tls-cert-file',
            tls.certFile,
            '--tls-key-file',
            tls.keyFile,
            '--tls-ca-cert-file',
            tls.caFile,
          ],
          ...['--tls-auth-clients', 'no'],
        ]
      : ['--port', String(port)];
    const node = new WatchedProcess(
      `redis-server (cluster${tls ? ', TLS' : ''}) :${port}`,
      binary,
      [
        ...listen,
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        String(settings.nodeTimeoutMs),
        '--save',
        '',
        '--appendonly',
        'no',
        // A replica's first sync starts at once instead of after the default 5 s.
        '--repl-diskless-sync-delay',
        '0',
        '--dir',
        dir,
        '--logfile',
        '',
        '--daemonize',
        'no',
        ...auth,
      ],
      { cwd: dir, env: {} },
    );
    ports.set(node, port);
    try {
      await node.waitForLine(READY_LINE, READY_TIMEOUT_MS);
      return node;
    } catch (error) {
      await node.stop('SIGKILL');
      const portTaken = error instanceof Error && PORT_TAKEN.test(error.message);
      if (!portTaken || attempt === START_ATTEMPTS) throw error;
    }
  }
}

/**
 * A CA made for this cluster and one certificate it signed, for every node (as server, and as
 * client on the cluster bus and the replication links), valid for 127.0.0.1 and localhost.
 */
async function makeCertificates(dir: string): Promise<Certificates> {
  const openssl = findExecutable(OPENSSL);
  if (openssl === undefined) throw new Error(redisClusterTlsUnavailableReason());
  await mkdir(dir, { recursive: true });
  const file = (name: string) => join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run(openssl, [
    ...['req', '-x509', ...key, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1'],
    ...['-subj', '/CN=Switchboard test CA', '-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  await run(openssl, [
    ...['req', ...key, '-keyout', file('node.key'), '-out', file('node.csr'), '-subj', '/CN=localhost'],
  ]);
  await writeFile(
    file('node.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
    ].join('\n'),
  );
  await run(openssl, [
    ...['x509', '-req', '-in', file('node.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key')],
    ...['-CAcreateserial', '-out', file('node.crt'), '-days', '1', '-extfile', file('node.ext')],
  ]);
  return { caFile: file('ca.crt'), certFile: file('node.crt'), keyFile: file('node.key') };
}

/** Parses `CLUSTER NODES`: `<id> <ip:port@cport[,hostname]> <flags> <master> … <link> <slots…>`. */
export function parseClusterNodes(output: string): ClusterNodeView[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [id = '', address = '', flags = '', master = '-', , , , linkState = '', ...slots] =
        line.split(' ');
      const [endpoint = '', hostname] = address.split(',');
      const [hostPort = ''] = endpoint.split('@');
      const separator = hostPort.lastIndexOf(':');
      const flagList = flags.split(',');
      return {
        id,
        host: hostPort.slice(0, separator),
        port: Number(hostPort.slice(separator + 1)),
        ...(hostname ? { hostname } : {}),
        flags: flagList,
        role: flagList.includes('slave') ? ('replica' as const) : ('master' as const),
        ...(master === '-' ? {} : { masterId: master }),
        linkState,
        slots: slots
          .filter((slot) => !slot.startsWith('['))
          .map((slot) => {
            const [first = '', last = first] = slot.split('-');
            return [Number(first), Number(last)] as [number, number];
          }),
      };
    });
}
