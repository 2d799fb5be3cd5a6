#!/bin/sh
# What the official nginx image's entrypoint does for us: run /docker-entrypoint.d/*.sh, then
# fill /etc/nginx/templates/*.template from the environment into /etc/nginx/conf.d/.
set -eu
if [ "${1:-}" = nginx ]; then
  for script in /docker-entrypoint.d/*.sh; do
    [ -e "$script" ] || continue
    echo "$0: running $script"
    "$script"
  done
  vars=$(env | cut -d= -f1 | sed 's/^/${/; s/$/}/' | tr '\n' ' ')
  for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] || continue
    out="/etc/nginx/conf.d/$(basename "$template" .template)"
    echo "$0: rendering $template to $out"
    envsubst "$vars" < "$template" > "$out"
  done
fi
exec "$@"
