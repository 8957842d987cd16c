#!/usr/bin/env bash
# The main job, end to end: start the agentd daemon, create a sandbox through its API,
# run a first command in it (streamed back through the CLI), then stop the daemon.
# Uses a throwaway AGENTD_HOME and a free port unless AGENTD_HOME / AGENTD_HTTP_LISTEN are set.
set -euo pipefail
cd "$(dirname "$0")/.."

own_home=
if [[ -z ${AGENTD_HOME:-} ]]; then own_home=$(mktemp -d /tmp/agentd-demo.XXXXXX); fi
export AGENTD_HOME=${AGENTD_HOME:-$own_home}
chmod 711 "$AGENTD_HOME"
export AGENTD_HTTP_LISTEN=${AGENTD_HTTP_LISTEN:-127.0.0.1:0}
log="$AGENTD_HOME/daemon.log"

./agentd serve >"$AGENTD_HOME/ready.json" 2>"$log" &
daemon=$!
stop() {
  kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  if [[ -n $own_home ]]; then rm -rf "$own_home"; fi
}
trap stop EXIT

for _ in $(seq 1 200); do
  [[ -s "$AGENTD_HOME/ready.json" ]] && break
  kill -0 "$daemon" 2>/dev/null || { echo "demo: the daemon exited; its log:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.05
done
url=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]); console.log(r.address)' "$AGENTD_HOME/ready.json")
backend=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]); console.log(r.backend)' "$AGENTD_HOME/ready.json")
export AGENTD_URL=$url
echo "demo: agentd is listening on $url (backend: $backend, home: $AGENTD_HOME)"

id=$(./agentd sandbox create)
echo "demo: created sandbox $id"
./agentd exec "$id" -- sh -c 'echo "hello from $(id -un) (uid $(id -u)) in $(pwd) on $(hostname)"; echo "processes visible: $(ls /proc | grep -c "^[0-9]")"; uname -sr'
./agentd exec "$id" -- sh -c 'echo "a file written by the sandbox" > /workspace/hello.txt'
echo "demo: read back through the API: $(./agentd cp "$id":/workspace/hello.txt -)"
./agentd sandbox rm "$id"
echo "demo: destroyed $id; stopping the daemon"
