#!/usr/bin/env bash
# OpenVPN tls-verify hook, run as `nobody` for every certificate of every handshake:
#   vpn-verify.sh <allow-list> <depth> <subject>
# OpenVPN has already checked the chain against our CA; this pins the leaf: its CN and
# SHA-256 must be a line of the allow-list. The list is re-read each time, so editing it
# (atomically, by vpn-configure.sh) admits or refuses engineers without a restart.
set -euo pipefail
allow_list=$1
depth=$2

[ "$depth" = 0 ] || exit 0

cn=${X509_0_CN:-}
digest=${tls_digest_sha256_0:-}
digest=${digest,,}
if [ -z "$cn" ] || [ -z "$digest" ]; then
  echo "fleet-vpn: refused a certificate without CN or digest" >&2
  exit 1
fi

while read -r name pin; do
  if [ "$name" = "$cn" ] && [ "${pin,,}" = "$digest" ]; then
    exit 0
  fi
done <"$allow_list"

echo "fleet-vpn: refused certificate CN=$cn sha256=$digest: not in the allow-list" >&2
exit 1
