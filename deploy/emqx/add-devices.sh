#!/bin/sh
# Issues credentials for every registered scanner and creates them as EMQX users.
# Usage: EMQX_API=http://emqx:18083 EMQX_KEY=key:secret ./add-devices.sh [guardian options]
# Each run issues new passwords (the old ones stop working on the engine's side at once; give the
# new ones to the scanners). EMQX keeps its own hash of each (PBKDF2-SHA512, emqx.conf).
set -eu
: "${EMQX_API:?set EMQX_API, e.g. http://127.0.0.1:18083}"
: "${EMQX_KEY:?set EMQX_KEY to an EMQX API key:secret}"
guardian "$@" devices credentials --all --format emqx | while IFS= read -r user; do
  curl -fsS -u "$EMQX_KEY" -H 'content-type: application/json' \
    -X POST "$EMQX_API/api/v5/authentication/password_based:built_in_database/users" -d "$user" >/dev/null
  printf '%s\n' "$user"
done
