#!/usr/bin/env bash
# Makes sure the system packages and services the tests need are present: dovecot (the mail
# tests run a real IMAP server, test/helpers/dovecot.ts), Chromium (the dashboard's browser tests,
# test/e2e/dashboard.browser.test.ts, drive Debian's chromium with playwright-core), Debian's Rust
# toolchain and crates (the Rust extensions are built from source), clang and lld (the C extension
# example), PostgreSQL (multi-node tests)
# and Redis (the BullMQ benchmark peer), started when they are installed but down.
#
# Run by `npm test`'s pretest (scripts/prepare.mjs test), so the README's test command needs
# nothing else first, and CI (.ci/run) runs exactly that command. Idempotent: each step checks
# before it acts. Installing needs root (CI) or sudo without a password; otherwise it stops with
# the command to run, rather than letting the tests fail eleven minutes later.
set -euo pipefail

need_apt=()
if [ ! -x /usr/sbin/dovecot ]; then need_apt+=(dovecot-core dovecot-imapd); fi
if [ ! -x /usr/bin/chromium ]; then need_apt+=(chromium); fi
# The Rust extensions (sdk/rust, extensions/finance-rs, extensions/hello-rs) build offline with
# Debian's toolchain and packaged crates (scripts/build-extensions.mjs, RUST_PACKAGES).
rust_packages=(rustc cargo libstd-rust-dev-wasm32 lld librust-serde-dev librust-serde-derive-dev librust-serde-json-dev librust-syn-dev librust-quote-dev librust-proc-macro2-dev)
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${rust_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then need_apt+=("$p"); fi
  done
elif [ ! -x /usr/bin/cargo ] || [ ! -d /usr/lib/rustlib/wasm32-unknown-unknown ]; then
  need_apt+=("${rust_packages[@]}")
fi
# The conformance test builds the C example (examples/c-hello) with clang and wasm-ld.
if ! command -v clang >/dev/null 2>&1 || ! command -v wasm-ld >/dev/null 2>&1; then need_apt+=(clang lld); fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup] the tests need ${need_apt[*]} (dovecot for the mail tests, Debian's Rust toolchain and crates for the Rust extensions, clang for the C example); install them with your package manager, then run npm test again" >&2
    exit 1
  fi
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      echo "[setup] the tests need ${need_apt[*]} (the mail tests run a real IMAP server, the dashboard tests a real browser, the Rust extensions build with Debian's toolchain); install them with:" >&2
      echo "[setup]   sudo apt-get install -y ${need_apt[*]}" >&2
      echo "[setup] then run npm test again" >&2
      exit 1
    fi
  fi
  echo "[setup] installing ${need_apt[*]} (apt-get)" >&2
  if ! "${as_root[@]}" apt-get update -qq || ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null; then
    echo "[setup] apt-get could not install ${need_apt[*]} (see its message above); install them yourself, then run npm test again" >&2
    exit 1
  fi
fi

# PostgreSQL and Redis run on this kind of machine already; start them when they are down.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "[setup] starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "[setup] starting Redis" >&2
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
