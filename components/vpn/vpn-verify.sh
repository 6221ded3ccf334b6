#!/usr/bin/env bash
# OpenVPN's admission hooks, run as `nobody`; the allow-list is re-read each time, so editing it (atomically, by
# vpn-configure.sh) admits or refuses engineers without a restart.
#  - tls-crypt-v2-verify, on a client's first packet, before any TLS:  vpn-verify.sh <allow-list>
#    OpenVPN has unwrapped the client key with the server key; its metadata (type 0, the engineer's name, in
#    $metadata_file) must be a name in the allow-list, so an offboarded profile is dropped here.
#  - tls-verify, for every certificate of every handshake:  vpn-verify.sh <allow-list> <depth> <subject>
#    OpenVPN has already checked the chain against our CA; this pins the leaf: its CN and SHA-256 must be a line of
#    the allow-list.
set -euo pipefail
allow_list=$1

if [ "${script_type:-}" = tls-crypt-v2-verify ]; then
  [ "${metadata_type:-}" = 0 ] || { echo "fleet-vpn: refused a tls-crypt-v2 key with metadata type '${metadata_type:-}'" >&2; exit 1; }
  name=$(head -c 64 -- "${metadata_file:?}")
  while read -r cn _; do
    [ "$cn" = "$name" ] && exit 0
  done <"$allow_list"
  echo "fleet-vpn: refused the tls-crypt-v2 key of '$name': not in the allow-list" >&2
  exit 1
fi

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
