import { z } from 'zod';
import { BACKEND_NAME_PATTERN } from '../isolation/names.js';
import { parseListen } from './listen.js';
import { NetworkSection } from './network-section.js';
import { absolutePathProblem } from './paths.js';

/*
 * The shape of a fully resolved configuration, one schema per section. Every field is
 * required here: the profile preset (profiles.ts) fills what the file leaves out before
 * validation, so a missing value can only come from a preset bug, never silently.
 * Cross-section and profile rules live in rules.ts.
 */

export const PROFILE_NAMES = ['workstation', 'server', 'paranoid', 'custom'] as const;
export const NETWORK_MODES = ['none', 'allowlist', 'host'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** JWT signature algorithms agentd accepts ("none" never: it means an unsigned token). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'] as const;

const hostPath = z.string().superRefine((p, ctx) => {
  const problem = absolutePathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const pathList = (what: string) =>
  z.array(hostPath).max(256).describe(
    `${what} undefined: the profile's default (empty for every built-in profile); []: none; populated: exactly these absolute, normalized host paths.`,
  );

const positiveInt = (max = Number.MAX_SAFE_INTEGER) => z.number().int().min(1).max(max);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ROLE_OR_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

export const Profile = z.enum(PROFILE_NAMES).describe(
  'Security profile: workstation (default; permissive: host-direct, host network and allow-all on an owner-only socket allowed when configured), server (kernel isolation and real auth required, network none by default), paranoid (server + a fresh sandbox per request, network forced none, tighter limits), custom (no preset rules; everything from the file).',
);

export const Home = hostPath.describe(
  'The work root ($AGENTD_HOME): state.db, sandboxes/<id>/{workspace,home,tmp}, snapshots/, images/. Default /var/lib/agentd for root, $XDG_DATA_HOME/agentd or ~/.local/share/agentd otherwise.',
);

export const BackendName = z
  .string()
  .refine((v) => v === 'auto' || BACKEND_NAME_PATTERN.test(v), {
    message: 'must be "auto" or a backend name or alias (lower-case letters, digits, dashes), e.g. "namespace", "bwrap", "host-direct"',
  })
  .describe('Isolation backend by name or alias ("namespace"/"bwrap"/"container", "host-direct"/"none"/"host"/"workstation", or a user-registered name), or "auto" for the best backend available on this host (kernel isolation preferred).');

export const Isolation = z
  .object({
    backend: BackendName,
    require_kernel: z.boolean().describe(
      'Refuse any backend that does not provide kernel isolation (probe().isolation "none") or is unavailable. Forced true under server and paranoid; default false otherwise.',
    ),
    allow_host_direct: z.boolean().describe(
      "Let a request (POST /v1/sandboxes, sessions, intents' sandbox_prefs) name the host-direct backend (no isolation) when the daemon's own backend isolates. Under a root daemon only callers with the admin role may then choose it. Default false in every profile; a daemon whose isolation.backend is host-direct (or that fell back to it under auto) runs every sandbox there anyway. Cannot be true with require_kernel.",
    ),
    backends: z
      .record(z.string().regex(BACKEND_NAME_PATTERN, 'must be a backend name or alias'), z.record(z.string(), z.unknown()).describe('Options for this backend, validated by the backend itself when it is created.'))
      .describe('Per-backend options, keyed by backend name or alias (aliases are normalized to the canonical name). undefined or {}: every backend uses its own defaults; populated: options handed to that backend\'s factory.'),
  })
  .strict()
  .describe('Which isolation backend runs sandboxes, and its options.');

export const HttpAdapter = z
  .object({
    enabled: z.boolean().describe('Serve the REST API over HTTP.'),
    listen: z
      .string()
      .refine((v) => parseListen(v) !== undefined, { message: 'must be "HOST:PORT" (IPv6 as "[::1]:7070"; port 0-65535)' })
      .describe('Address to listen on, "HOST:PORT". Default 127.0.0.1:7070 (loopback only). Port 0 picks a free port.'),
    body_limit_bytes: positiveInt(1 << 30).describe('Largest HTTP request body accepted once the caller is authenticated (before: 64 KiB); larger bodies get 413 PAYLOAD_TOO_LARGE.'),
    request_timeout_ms: positiveInt(3_600_000).min(1000).describe('A request (headers and body) must arrive within this, else 408 and the connection closes (a stalled upload cannot hold the daemon). Applies to the Unix socket too. Default 60000.'),
    headers_timeout_ms: positiveInt(3_600_000).min(1000).describe('The request headers must arrive within this (at most request_timeout_ms). Applies to the Unix socket too. Default 10000.'),
    keep_alive_timeout_ms: positiveInt(600_000).describe('An idle keep-alive connection is closed after this. Applies to the Unix socket too. Default 5000.'),
  })
  .strict()
  .refine((h) => h.headers_timeout_ms <= h.request_timeout_ms, {
    path: ['headers_timeout_ms'],
    message: 'must not exceed request_timeout_ms: the headers are part of the request',
  })
  .describe('The HTTP (REST + NDJSON) adapter.');

export const UnixSocketMode = z
  .union([z.number().int(), z.string()], { error: 'must be an octal string like "0660" or a TOML octal number like 0o660' })
  .transform((v, ctx) => {
    const parsed = typeof v === 'number' ? v : /^(?:0o|0)?[0-7]{1,4}$/.test(v) ? Number.parseInt(v.replace(/^0o/, ''), 8) : Number.NaN;
    if (Number.isNaN(parsed)) {
      ctx.addIssue({ code: 'custom', message: `must be an octal permission string like "0660" or "0o660" (got "${String(v)}")` });
      return z.NEVER;
    }
    if (parsed < 0 || parsed > 0o777) {
      ctx.addIssue({ code: 'custom', message: `must be between 0 and 0o777 (got ${String(v)}); a number written without a prefix is decimal in TOML, write 0o660 or "0660"` });
      return z.NEVER;
    }
    return parsed;
  })
  .describe('Permission bits of the socket file: an octal string ("0660", "0o660") or a TOML octal number (0o660). Default 0o660: owner and group may connect.');

export const UnixAdapter = z
  .object({
    enabled: z.boolean().describe('Serve the same REST API on a Unix socket (callers identified by peer credentials).'),
    path: hostPath.describe('Socket path. Default <home>/agentd.sock.'),
    mode: UnixSocketMode,
  })
  .strict()
  .describe('The Unix socket adapter.');

const reservedAdapter = (label: string, extra: z.ZodRawShape) =>
  z
    .object({
      enabled: z.literal(false, { error: `the ${label} adapter is not implemented yet; set enabled = false or remove the section` })
        .describe(`Must be false: the ${label} adapter is reserved and not implemented yet.`),
      ...extra,
    })
    .strict()
    .describe(`Reserved for the ${label} adapter (accepted so files can be written ahead; enabling it is an error for now).`);

export const GrpcAdapter = reservedAdapter('gRPC', {
  listen: z.string().refine((v) => parseListen(v) !== undefined, { message: 'must be "HOST:PORT"' }).optional().describe('Future gRPC listen address, "HOST:PORT".'),
});

export const NatsAdapter = reservedAdapter('NATS', {
  url: z.string().optional().describe('Future NATS server URL, e.g. "nats://127.0.0.1:4222".'),
  stream: z.string().optional().describe('Future JetStream work-queue stream name.'),
});

export const E2bAdapter = z
  .object({
    enabled: z.boolean().optional().describe('Serve the E2B API (docs/e2b.md) on the HTTP listener and the Unix socket: the control plane under /e2b (E2B keys only, `agentd keys create --e2b`), the in-sandbox plane for requests with an E2b-Sandbox-Id header or a <port>-<id>.<domain> Host. undefined: true.'),
    domain: z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,200}[a-z0-9])?$/, 'must be a lower-case domain name').optional().describe("The domain of in-sandbox Hosts `<port>-<sandbox id>.<domain>` (for a wildcard DNS name or reverse proxy in front of the daemon), returned to the SDK as the sandbox's domain, so `sandbox.getHost(port)` names it. undefined: agentd.localhost."),
  })
  .strict()
  .optional()
  .describe('The E2B-compatible API (docs/e2b.md). undefined: enabled, domain agentd.localhost.');

export const Adapters = z
  .object({
    http: HttpAdapter,
    unix: UnixAdapter,
    grpc: GrpcAdapter,
    nats: NatsAdapter,
    e2b: E2bAdapter,
  })
  .strict()
  .describe('How callers reach the daemon.');

const Roles = z
  .array(z.string().regex(ROLE_OR_NAME, 'must be a role name (letters, digits, _ . : @ -)'))
  .max(32)
  .describe('Roles of the principal. undefined: ["user"]; []: no role (authenticated, may do nothing that needs a role); populated: exactly these roles ("admin" may manage keys).');

export const PeerPrincipal = z
  .object({
    subject: z.string().regex(ROLE_OR_NAME, 'must be a plain name (letters, digits, _ . : @ -)').describe('Subject (user) name of the principal.'),
    tenant: z.string().regex(ROLE_OR_NAME, 'must be a plain name (letters, digits, _ . : @ -)').default('default').describe('Tenant; a principal only sees its tenant\'s sandboxes. Default "default".'),
    roles: Roles.default(['user']),
  })
  .strict();

export const ApiKeyProvider = z
  .object({ type: z.literal('api-key').describe('Bearer API keys created with `agentd keys create`, stored hashed in state.db.') })
  .strict()
  .describe('API keys (Authorization: Bearer <key>).');

export const JwtProvider = z
  .object({
    type: z.literal('jwt').describe('JSON Web Tokens (Authorization: Bearer <jwt>).'),
    issuer: z.string().min(1).describe('Required "iss" claim.'),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: (iss) => (iss.input === undefined ? 'required (a string or a list of strings)' : 'must be a non-empty string or list of strings') }).describe('Required "aud" claim: one value, or a list of which the token must carry at least one ([] is an error: it would match no token).'),
    algorithms: z
      .array(
        z.string().superRefine((alg, ctx) => {
          if (alg.toLowerCase() === 'none') {
            ctx.addIssue({ code: 'custom', message: '"none" means unsigned tokens: anyone could forge one; list signature algorithms only' });
          } else if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
            ctx.addIssue({ code: 'custom', message: `unknown algorithm "${alg}"; expected one of ${JWT_ALGORITHMS.join(', ')}` });
          }
        }),
      )
      .min(1, 'list at least one algorithm; an empty allowlist would accept nothing')
      .describe('Allowlist of signature algorithms. undefined: an error (the allowlist is required); []: an error; populated: tokens signed with any other algorithm are rejected. "none" is refused.'),
    leeway_s: z.number().int().min(0).max(300).default(30).describe('Clock skew tolerated on exp/nbf/iat, seconds (0-300). Default 30.'),
    key: z.union([z.string().min(1), z.record(z.string(), z.unknown())], { error: 'must be a PEM string, a JWK JSON string or a JWK table' }).optional()
      .describe('Verification key: a PEM public key (SPKI), a JWK (inline table or JSON string), or for HS* algorithms the shared secret. Exactly one of key and jwks_url.'),
    jwks_url: z.url().optional().describe('URL of a JWKS document with the verification keys (https, or http on a loopback host). Exactly one of key and jwks_url.'),
    subject_claim: z.string().min(1).default('sub').describe('Claim holding the subject. Default "sub".'),
    tenant_claim: z.string().min(1).default('tenant').describe('Claim holding the tenant (absent: "default"). Default "tenant".'),
    roles_claim: z.string().min(1).default('roles').describe('Claim holding the roles list (absent: ["user"]). Default "roles".'),
  })
  .strict()
  .superRefine((jwt, ctx) => {
    if ((jwt.key === undefined) === (jwt.jwks_url === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'set exactly one of key and jwks_url: the verification key must come from one known place' });
    }
    const hmac = jwt.algorithms.filter((a) => a.startsWith('HS'));
    if (hmac.length > 0 && hmac.length < jwt.algorithms.length) {
      ctx.addIssue({ code: 'custom', path: ['algorithms'], message: 'do not mix HS* with public-key algorithms: a public key accepted as an HMAC secret lets anyone forge tokens (key confusion)' });
    }
    if (hmac.length > 0 && jwt.jwks_url !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['jwks_url'], message: 'HS* algorithms need a shared secret in key, not a JWKS URL (a published key would let anyone forge tokens)' });
    }
    if (jwt.jwks_url !== undefined) {
      const url = new URL(jwt.jwks_url);
      const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || url.hostname.startsWith('127.');
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
        ctx.addIssue({ code: 'custom', path: ['jwks_url'], message: 'must be https (plain http only on a loopback host): keys fetched in clear can be replaced on the way' });
      }
    }
  })
  .describe('JWT bearer tokens checked for signature, issuer, audience and time.');

export const SignatureProvider = z
  .object({
    type: z.literal('signature').describe('Ed25519-signed requests (keys registered with the CLI).'),
    window_s: z.number().int().min(1).max(600).default(300)
      .describe('How far (seconds) a request timestamp may be from now; older or replayed signatures are rejected. Default 300.'),
    keys: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be a key id (letters, digits, _ . : -)'),
        z
          .object({
            public_key: z.string().min(1).describe('Ed25519 public key: PEM (SPKI), or the raw 32 bytes in base64/base64url.'),
            subject: PeerPrincipal.shape.subject,
            tenant: PeerPrincipal.shape.tenant,
            roles: PeerPrincipal.shape.roles,
          })
          .strict(),
      )
      .optional()
      .describe('Signing keys by key id, besides those registered in state.db with the CLI. undefined or {}: only registered keys; populated: these keys too (they win over a registered key with the same id).'),
  })
  .strict()
  .describe('Ed25519 request signatures with a timestamp window against replay.');

export const PeerCredsProvider = z
  .object({
    type: z.literal('peer-creds').describe('Unix socket peer credentials (SO_PEERCRED).'),
    uid_map: z
      .record(z.string().regex(/^\d{1,10}$/, 'must be a numeric uid'), PeerPrincipal)
      .optional()
      .describe('Which uids may connect and as whom. undefined: root and the daemon\'s own uid, each as subject "uid:<n>", tenant "default", roles ["admin"]; {}: no uid is accepted; populated: exactly these uids, mapped to these principals.'),
  })
  .strict()
  .describe('Identifies Unix socket callers by uid (HTTP callers are not matched by it).');

export const LocalTokenProvider = z
  .object({ type: z.literal('local-token').describe('The daemon\'s local token: a random secret written owner-only (0600) to <home>/agentd.token at every start, sent as Authorization: Bearer; the CLI and the SDK read it by themselves. Its holder is subject "local", tenant "default", roles ["admin"].') })
  .strict()
  .describe('The local token of <home>/agentd.token (whoever can read the daemon\'s home is its admin already).');

export const AllowAllProvider = z
  .object({ type: z.literal('allow-all').describe('Accept every Unix socket caller as subject "local", tenant "default", roles ["admin"]; never a TCP caller. Needs adapters.unix.mode 0600. Development only.') })
  .strict()
  .describe('No authentication on the owner-only Unix socket. Refused under server and paranoid.');

export const AuthProvider = z.discriminatedUnion('type', [ApiKeyProvider, JwtProvider, SignatureProvider, PeerCredsProvider, LocalTokenProvider, AllowAllProvider]);

export const Auth = z
  .object({
    providers: z
      .array(AuthProvider)
      .max(16)
      .describe('Ordered provider chain; the first provider that recognizes the credentials decides. undefined: the profile default (workstation: [local-token, peer-creds]; server, paranoid: [local-token, peer-creds, api-key]; custom: an error); []: an error (no caller could ever authenticate); populated: exactly these, in order.'),
  })
  .strict()
  .describe('Who may call the daemon.');

/** A default limit, or 0: no limit, said on purpose (every profile sets one; a TOML file cannot unset a key). */
const limitOrNone = (limit: z.ZodNumber) => z.union([z.literal(0), limit]);

export const SandboxLimitsSection = z
  .object({
    memory_bytes: limitOrNone(positiveInt().min(1 << 20)).optional().describe('Memory limit per sandbox (cgroup). 0: no limit. undefined: the profile default (every built-in profile sets one).'),
    pids: limitOrNone(positiveInt(4_194_304)).optional().describe('Max processes/threads per sandbox (cgroup pids). 0: no limit. undefined: the profile default.'),
    cpus: limitOrNone(z.number().positive().max(1024)).optional().describe('CPU quota in cores (0.5 = half a core). 0: no limit. undefined: the profile default.'),
    open_files: positiveInt(1 << 20).optional().describe('RLIMIT_NOFILE for sandbox processes. undefined: inherit the daemon\'s.'),
    disk_bytes: limitOrNone(positiveInt(2 ** 50).min(16 << 20)).optional().describe('Size of each sandbox\'s own file system, which also bounds its inodes (a loop-mounted ext4 image holding workspace, home and tmp; namespace backend as root). 0: no disk limit (the sandbox shares the file system of AGENTD_HOME). undefined: the profile default.'),
  })
  .strict()
  .describe('Default resource limits of a new sandbox (a request may ask for less, never more than policy allows). A default the backend cannot enforce is never dropped: the daemon refuses to start, naming the key to set to 0.');

export const Sandbox = z
  .object({
    network: z.enum(NETWORK_MODES).describe('Network of a new sandbox: none (empty namespace), allowlist (egress through the daemon\'s proxy only), host (the host\'s network; workstation only).'),
    env: z
      .record(z.string().regex(ENV_NAME, 'must be an environment variable name'), z.string().refine((v) => !v.includes('\0'), 'must not contain a NUL byte'))
      .describe('Base environment of every exec (under each exec\'s own env). undefined or {}: none beyond what the backend sets (PATH, HOME...); populated: these variables. The daemon\'s own environment is never inherited.'),
    workdir: z.string().min(1).optional().describe('Default cwd inside the sandbox. undefined: the backend\'s default (/workspace, or the workspace folder for host-direct and linux-native).'),
    limits: SandboxLimitsSection,
    ttl_ms: positiveInt().optional().describe('Lifetime of a sandbox from creation; the sweeper destroys it after. undefined: no TTL.'),
    idle_timeout_ms: positiveInt().optional().describe('A sandbox with no exec and no attached session for this long is stopped. undefined: never.'),
    max_sandboxes: positiveInt(100_000).describe('Most sandboxes (running or suspended) at once; creating more fails with RESOURCE_EXHAUSTED.'),
    fresh_per_request: z.boolean().describe('Every intent runs in a sandbox no earlier request used: intents naming a sandbox or keeping theirs (persist), kept sandboxes (POST /v1/sandboxes) and sessions are refused with POLICY_DENIED; pooled sandboxes are never returned. Forced true under paranoid.'),
    host_path_roots: z
      .array(hostPath)
      .max(64)
      .optional()
      .describe(
        'Host folders under which host paths (sandbox.allowed_paths_ro/rw here, and an admin\'s allowed_paths_ro/rw and bind_mounts sources in a request) may lie, after every symlink is resolved. ' +
          'undefined or []: no host path at all (any such path in the config or a request is refused); populated: only paths under these. Never "/" nor in /proc, /sys, /dev; a path inside or containing the agentd home or the daemon\'s socket is refused even under a root.',
      ),
    local_mount_roots: z
      .array(hostPath)
      .max(64)
      .optional()
      .describe(
        'Host folders under which a local caller (agentd run; over the daemon: the local token, or the Unix socket as root or the daemon\'s own user through peer-creds or allow-all) may bind-mount host paths (bind_mounts, agentd run/sandbox create -v and --mount-cwd) without sandbox.host_path_roots. ' +
          'undefined: ["/home", "/root"]; []: none (local callers need host_path_roots like everyone). API keys, JWTs and signatures never get these. Same rules as host_path_roots otherwise (never "/", /proc, /sys, /dev, the home or the socket).',
      ),
    allowed_paths_ro: pathList('Extra host paths visible read-only at the same path inside every sandbox (namespace backend); each must lie under sandbox.host_path_roots.'),
    allowed_paths_rw: pathList('Extra host paths visible read-write at the same path inside every sandbox (namespace backend); each must lie under sandbox.host_path_roots. Must not be "/" nor contain the agentd home.'),
    deny_paths: pathList('Paths (as the sandbox sees them) masked inside every sandbox (empty over them, even if they do not exist yet), also under allowed paths; a request may add more. A backend that cannot mask (host-direct) refuses to start a sandbox while this is set.'),
  })
  .strict()
  .describe('Defaults for new sandboxes.');

export const Pool = z
  .object({
    enabled: z.boolean().describe('Keep pre-started sandboxes ready per profile.'),
    min_warm: z.number().int().min(0).max(1024).describe('Sandboxes kept ready (refilled in the background).'),
    max_warm: z.number().int().min(0).max(1024).describe('Most idle sandboxes kept in the pool.'),
    ttl_ms: positiveInt().describe('A pooled sandbox older than this is recycled.'),
  })
  .strict()
  .refine((p) => p.min_warm <= p.max_warm, {
    path: ['min_warm'],
    message: 'must not exceed max_warm: the pool would refill past its own cap forever',
  })
  .describe('The warm pool.');

export const Limits = z
  .object({
    max_exec_timeout_ms: positiveInt(86_400_000).describe('Longest wall-clock time any exec may run; requests asking for more are capped.'),
    max_output_bytes: positiveInt(1 << 30).describe('Most stdout+stderr per exec (streamed or kept in the result); the rest is dropped and output_truncated set. A non-streamed result keeps at most 64 MiB whatever this says (the largest output whose JSON answer still fits a JavaScript string): stream larger outputs.'),
    max_request_bytes: positiveInt(1 << 30).describe('Largest intent (any transport) accepted.'),
    max_concurrent_execs: positiveInt(100_000).describe('Most execs running at once over all sandboxes; more get RESOURCE_EXHAUSTED.'),
    max_snapshots_per_tenant: positiveInt(1_000_000).describe('Most snapshots one tenant keeps at once; one more gets RESOURCE_EXHAUSTED (delete one first).'),
    max_snapshot_bytes_per_tenant: positiveInt(2 ** 50).describe('Most bytes of snapshots one tenant keeps at once; a snapshot that would pass it is undone and gets RESOURCE_EXHAUSTED.'),
    snapshot_max_age_ms: positiveInt().min(60_000).optional().describe('Snapshots older than this are deleted by the daemon (checked every sweep, about each second). Unset (the default): kept until deleted or until their sandbox is destroyed.'),
    snapshot_keep_per_sandbox: positiveInt(1_000_000).optional().describe("Each sandbox keeps at most its newest N snapshots: older ones are deleted by the daemon's sweeper (also those of a sandbox destroyed with keep_files). Unset (the default): no per-sandbox cap."),
    max_buffered_output_bytes: positiveInt(2 ** 40).min(1 << 20).describe('Daemon-wide budget for the output of non-streamed execs held in memory while they run (streamed output is not buffered). An exec whose output no longer fits is truncated: output_truncated true, output_dropped_bytes says how much was dropped. Default 256 MiB.'),
  })
  .strict()
  .describe('Daemon-wide caps no request can exceed.');

export const Commands = z
  .object({
    ring_buffer_bytes: positiveInt(256 * 1024 * 1024).min(4096).describe("Output kept in memory per command (stdout, stderr or the PTY stream, in one byte-offset sequence): a client reattaches from any offset still in it; older bytes are dropped and a reattaching client is told how many it lost. Default 1 MiB."),
    keep_exited_ms: positiveInt(7 * 86_400_000).min(1000).describe('How long an exited (or lost) command stays listable and attachable, with its exit status and output tail, before it is dropped. Default 10 minutes.'),
    max_kept: positiveInt(100_000).describe('Most finished commands kept at once over the daemon (the oldest go first); running commands are capped by limits.max_concurrent_execs. Default 256.'),
    persisted_tail_bytes: z.number().int().min(0).max(1024 * 1024).describe("The last bytes of a command's output written to the state database (at its exit, and about once a second while it runs and writes), so a command cut by a daemon restart is listed as `lost` with its last output. 0: no output kept across restarts (the record still is). Default 64 KiB."),
  })
  .strict()
  .describe('Commands (every exec): their output ring buffers, how long finished ones stay, what survives a daemon restart.');

export const Audit = z
  .object({
    max_age_ms: positiveInt().min(60_000).describe('Audit events older than this are deleted (at start, then every minute). Default 90 days.'),
    max_events: positiveInt(1_000_000_000).min(1000).describe('At most this many audit events are kept, the newest (pruned at start, then every minute). Default 1000000.'),
  })
  .strict()
  .describe('Retention of the audit log (repeated failed authentications are also counted in one row per source and reason per minute).');

export const Log = z
  .object({ level: z.enum(LOG_LEVELS).describe('Log level (pino levels). Default "info".') })
  .strict()
  .describe('Logging.');

/** The full shape before profile rules. */
export const Template = z
  .object({
    image: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be an image name').describe('The image (name in the store, agentd image ls) a sandbox of this template runs on.'),
    network: z.enum(NETWORK_MODES).optional().describe("Network of its sandboxes (a request may still ask for less). undefined: the profile's."),
    env: z
      .record(z.string().regex(ENV_NAME, 'must be an environment variable name'), z.string().refine((v) => !v.includes('\0'), 'must not contain a NUL byte'))
      .optional()
      .describe("Base environment of its sandboxes, over the profile's and under the request's. undefined: none."),
    workdir: z.string().min(1).optional().describe('Default working directory inside. undefined: /workspace.'),
    limits: z
      .object({
        memory_bytes: positiveInt().min(1 << 20).optional().describe('Memory limit (cgroup).'),
        pids: positiveInt(4_194_304).optional().describe('Max processes/threads.'),
        cpus: z.number().positive().max(1024).optional().describe('CPU quota in cores.'),
        disk_bytes: positiveInt(2 ** 50).min(16 << 20).optional().describe("Size of the sandbox's own file system (its layer, workspace, home and tmp)."),
      })
      .strict()
      .optional()
      .describe("Limits of its sandboxes, over the profile's; never above what the config grants (a request's own limits win). undefined: the profile's."),
    ttl_ms: positiveInt().optional().describe('Lifetime of its sandboxes. undefined: the profile\'s.'),
    start_command: z.string().min(1).max(64 * 1024).optional().describe('A shell command line run once (as the agent user, /bin/sh -c, at most 10 minutes) when a sandbox of this template is created; a non-zero exit fails the create (EXEC_FAILED) and removes the sandbox. undefined: none.'),
  })
  .strict();

export const Templates = z
  .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be a template name (letters, digits, _ and -)'), Template)
  .optional()
  .describe('Named sandbox templates (`template: "python"` at create, `--template python`): an image plus defaults (docs/images.md). undefined or {}: none.');

export const ConfigShape = z
  .object({
    profile: Profile,
    home: Home,
    isolation: Isolation,
    adapters: Adapters,
    auth: Auth,
    sandbox: Sandbox,
    network: NetworkSection,
    pool: Pool,
    limits: Limits,
    commands: Commands,
    audit: Audit,
    log: Log,
    templates: Templates,
  })
  .strict();

export type ConfigShape = z.infer<typeof ConfigShape>;
export type AuthProviderConfig = z.infer<typeof AuthProvider>;
