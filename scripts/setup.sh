#!/usr/bin/env bash
# Installs everything agentd needs on Debian 12 (run as root), then builds it.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

# bubblewrap: the namespace backend; libseccomp-dev: builds its seccomp filter; gcc, libc6-dev, make:
# agentd-init (static) and the peer-credentials addon; python3, g++: native npm modules (better-sqlite3);
# e2fsprogs: per-sandbox disk limits (loop-mounted ext4); xfsprogs: the snapshot reflink test;
# socat, ripgrep: the sandbox-runtime baseline in the benchmarks; mmdebstrap: `agentd image build` (Debian root file systems);
# tmux, vim, procps: the terminal tests (a person's keystrokes in tmux; vi and top on a PTY); curl, git, openssl,
# ca-certificates, python3-pip: the egress tests (real tools through the proxy, a test CA);
# runc, crun, runsc, podman: the oci, gvisor and podman backends (and their one-shot baselines in the benchmarks);
# netavark, containernetworking-plugins, catatonit: what podman's recommends brought on the machine the podman backend
# was tested on (installed here without recommends, so named).
APT_PACKAGES=(bubblewrap libseccomp-dev gcc make libc6-dev python3 g++ e2fsprogs xfsprogs socat ripgrep mmdebstrap tmux vim procps curl git openssl ca-certificates python3-pip runc crun runsc podman netavark containernetworking-plugins catatonit)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building" >&2
npm run --silent build
