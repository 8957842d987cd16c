/**
 * The E2B group (issue 14): the stock `e2b` JS SDK against agentd's E2B API, next to agentd's
 * own SDK on the same daemon, interleaved round by round.
 * - e2b_sdk_create: `Sandbox.create()` of the `e2b` package (POST /e2b/v2/sandboxes), timed
 *   to its answer; its kill is in the round, not timed. Next to ns_create_e2b: agentd's SDK
 *   create on the same daemon (the same as ns_create of the start group, measured here so both
 *   sides share the daemon and the minute).
 * - e2b_sdk_exec_true: `sandbox.commands.run('true')` of the `e2b` package (a Connect-RPC
 *   Process.Start stream through the in-sandbox plane; envd's SDK runs it as `/bin/bash -l -c
 *   true`), timed to its result. Next to ns_exec_true_e2b: agentd's SDK `exec(['true'])` on a
 *   sandbox of the same daemon (ns_exec_true of the latency group, measured here so both sides
 *   share the daemon and the minute).
 */
import { interleaved, timed } from '../lib/measure.js';
import { summarize } from '../lib/stats.js';
import { createColdOnce, createSandbox, execTrue } from './api.js';

const { Sandbox } = await import('e2b');

/** An E2B key on `daemon` (made through agentd's API with the local token) and the SDK's options. */
export async function openE2b(daemon, client) {
  const made = await client.transport.json({ method: 'POST', path: '/v1/keys', json: { subject: 'bench', tenant: 'default', roles: ['user'], kind: 'e2b' } });
  if (typeof made?.key !== 'string') throw new Error(`bench: no E2B key: ${JSON.stringify(made)}`);
  return { apiKey: made.key, apiUrl: `${daemon.url}/e2b`, sandboxUrl: daemon.url };
}

/** One create through the stock SDK (timed) and its kill (not timed). */
async function e2bCreateOnce(opts) {
  let sbx;
  const ms = await timed(async () => {
    sbx = await Sandbox.create(opts);
  });
  await sbx.kill();
  return ms;
}

/** The group's cases, interleaved: returns { cases, notes }. */
export async function e2bGroup({ daemon, client, plan }) {
  const opts = await openE2b(daemon, client);
  const nsMs = [];
  const e2bMs = [];
  await interleaved(
    {
      ns_create_e2b: async () => nsMs.push(await createColdOnce(client)),
      e2b_sdk_create: async () => e2bMs.push(await e2bCreateOnce(opts)),
    },
    { n: plan.startN, warmup: plan.startWarm },
  );
  const exec = await execGroup(client, opts, plan);
  return {
    cases: { ns_create_e2b: summarize(nsMs.slice(plan.startWarm)), e2b_sdk_create: summarize(e2bMs.slice(plan.startWarm)), ...exec.cases },
    notes: ['e2b_sdk_create: Sandbox.create() of the stock e2b JS SDK against the daemon\'s E2B API (E2B_API_URL=<daemon>/e2b), timed to its answer; ns_create_e2b: agentd\'s own SDK create on the same daemon in the same interleaved loop (kills and destroys not timed)', ...exec.notes],
  };
}

/** `true` through each SDK on a sandbox of its own, interleaved round by round. */
async function execGroup(client, opts, plan) {
  const e2bSbx = await Sandbox.create(opts);
  const nsSbx = await createSandbox(client);
  const nsMs = [];
  const e2bMs = [];
  try {
    await interleaved(
      {
        ns_exec_true_e2b: async () => nsMs.push(await timed(() => execTrue(nsSbx))),
        e2b_sdk_exec_true: async () => e2bMs.push(await timed(async () => {
          const r = await e2bSbx.commands.run('true');
          if (r.exitCode !== 0) throw new Error(`bench: commands.run('true') exited ${r.exitCode}`);
        })),
      },
      { n: plan.latN, warmup: plan.latWarm },
    );
  } finally {
    await e2bSbx.kill().catch(() => undefined);
    await nsSbx.destroy().catch(() => undefined);
  }
  return {
    cases: { ns_exec_true_e2b: summarize(nsMs.slice(plan.latWarm)), e2b_sdk_exec_true: summarize(e2bMs.slice(plan.latWarm)) },
    notes: ["e2b_sdk_exec_true: commands.run('true') of the stock e2b JS SDK (Process.Start over Connect-RPC; the SDK runs /bin/bash -l -c true), timed to its result; ns_exec_true_e2b: agentd's SDK exec(['true']) on the same daemon in the same interleaved loop"],
  };
}
