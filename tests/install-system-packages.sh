#!/usr/bin/env bash
# Installs the Debian packages the full test suite needs, when missing: PostgreSQL and a Redis server (the
# production engines the tests also run on), Chromium (browser tests), npm (axe-core for those tests) and
# Dovecot (the IMAP server the IMAP polling tests start on loopback).
set -euo pipefail

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ -x /usr/sbin/dovecot ] || command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing Debian packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian packages start servers of their own; the tests start throwaway ones instead.
$sudo systemctl disable --now redis-server postgresql dovecot >/dev/null 2>&1 || true
