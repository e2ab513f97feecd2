#!/usr/bin/env bash
# Starts a throw-away InfluxDB 1.x (Debian's `influxdb` package) on a loopback port with a config
# and data directory of its own, and waits until it answers /ping.
#   .ci/influxdb.sh start [PORT] [DIR]   → prints the URL
#   .ci/influxdb.sh stop  [DIR]
set -euo pipefail
cmd="${1:-start}"
port="${2:-18086}"
dir="${3:-/tmp/guardian-influxdb}"
if [ "$cmd" = stop ]; then
  dir="${2:-/tmp/guardian-influxdb}"
  [ -f "$dir/influxd.pid" ] && kill "$(cat "$dir/influxd.pid")" 2>/dev/null || true
  exit 0
fi
if ! command -v influxd >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null
fi
mkdir -p "$dir"
if [ -f "$dir/influxd.pid" ] && kill -0 "$(cat "$dir/influxd.pid")" 2>/dev/null; then
  echo "http://127.0.0.1:$port"
  exit 0
fi
rpc=$((port + 2))
cat > "$dir/influxdb.conf" <<CONF
reporting-enabled = false
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[logging]
  level = "warn"
[monitor]
  store-enabled = false
CONF
nohup influxd -config "$dir/influxdb.conf" > "$dir/influxd.log" 2>&1 &
echo $! > "$dir/influxd.pid"
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/ping" >/dev/null; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  sleep 0.2
done
echo "InfluxDB did not start; see $dir/influxd.log" >&2
tail -20 "$dir/influxd.log" >&2
exit 1
