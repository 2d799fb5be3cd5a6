#!/bin/sh
# /docker-entrypoint.d/40-harvis-tls.sh in the frontend image: when a TLS certificate is mounted
# (the Secret harvis-ai-frontend-tls, keys tls.crt and tls.key), serve HTTPS on HARVIS_TLS_LISTEN
# too. Without a certificate nothing is written and nginx serves plain HTTP only.
set -eu
dir="${HARVIS_TLS_DIR:-/etc/nginx/tls}"
out=/etc/nginx/harvis-tls/tls.conf
mkdir -p /etc/nginx/harvis-tls
rm -f "$out"
if [ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ]; then
  cat > "$out" <<CONF
listen ${HARVIS_TLS_LISTEN:-443} ssl;
ssl_certificate $dir/tls.crt;
ssl_certificate_key $dir/tls.key;
ssl_protocols TLSv1.2 TLSv1.3;
ssl_session_cache shared:harvis_tls:1m;
CONF
  echo "$0: HTTPS on ${HARVIS_TLS_LISTEN:-443} with $dir/tls.crt"
else
  echo "$0: no certificate in $dir: HTTP only (browsers allow the microphone only over HTTPS)"
fi
