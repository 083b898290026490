#!/usr/bin/env bash
# Makes sure the services and system packages the tests need are present, then runs "$@".
# Idempotent: each step checks before it acts. Used by .ci/run and by `npm test`'s pretest.
set -euo pipefail

need_apt=()
# The mail tests run a real IMAP server (test/helpers/dovecot.ts).
if [ ! -x /usr/sbin/dovecot ]; then need_apt+=(dovecot-core dovecot-imapd); fi

if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# PostgreSQL (multi-node job store tests) and Redis (BullMQ benchmark peer) run on this kind of
# machine already; start them if they are down.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi

exec "$@"
