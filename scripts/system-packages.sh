#!/usr/bin/env bash
# The Debian packages the tests need beyond npm's: chromium (the page tests drive it), slapd and
# ldap-utils (the LDAP tests start their own OpenLDAP), openssl (test certificate authorities) and
# curl (the curl client test), nginx (the deploy recipe's test and benchmark run Debian's nginx
# with deploy/nginx-latchkey.conf), redis-server (tests that stop and restart Redis start
# their own) and bsdutils (`script` gives the login test a real terminal). Run by `npm test` and by .ci/run. Installs whatever is missing
# when it can (as root, with apt-get); otherwise says in one line what to install, and fails.
set -euo pipefail

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapadd >/dev/null 2>&1 || need+=(ldap-utils)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v script >/dev/null 2>&1 || need+=(bsdutils)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The tests need these Debian packages: ${need[*]}. Install them with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "tests: installing the Debian packages ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The slapd package may start a system daemon; the tests run their own on a random port.
if pgrep -x slapd >/dev/null 2>&1 && [ -f /run/slapd/slapd.pid ]; then
  service slapd stop >/dev/null 2>&1 || true
fi
# So may nginx's; the tests run their own.
if [ -f /run/nginx.pid ]; then
  service nginx stop >/dev/null 2>&1 || true
fi
