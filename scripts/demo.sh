#!/usr/bin/env bash
# make demo: Herald's main job on a throwaway local PostgreSQL, start to finish.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/debug
URL="$(scripts/dev-postgres.sh url)"
RECEIVER_PORT="${HERALD_DEMO_PORT:-8099}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

psql -q "$URL" -c 'DROP SCHEMA IF EXISTS herald CASCADE' 2>/dev/null || true
"$BIN/herald" migrate --database-url "$URL"

# A receiver that fails 10% of requests, answers 10% slowly, and is down for /down/… paths.
"$BIN/herald-receiver" --port "$RECEIVER_PORT" --fail-rate 0.1 --slow-rate 0.1 --slow-delay 600ms --down-prefix /down 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$RECEIVER_PORT") 2>/dev/null && break; sleep 0.1; done
kill -0 "${pids[0]}" 2>/dev/null || { echo "demo: the receiver could not listen on port $RECEIVER_PORT (set HERALD_DEMO_PORT)" >&2; exit 1; }

# A few hundred deliveries to five endpoints, one of which is down (its breaker will open).
psql -q "$URL" -At -c "
  SELECT count(herald.enqueue('http://127.0.0.1:$RECEIVER_PORT/' || (ARRAY['shop','billing','crm','mail','down/legacy'])[1 + g % 5],
                              convert_to(json_build_object('order', g, 'total', g * 3)::text, 'UTF8'),
                              'order.created', 'ord-' || g))
  FROM generate_series(1, 300) g" | sed 's/^/enqueued /'

for i in 1 2; do
  "$BIN/herald" worker --database-url "$URL" --concurrency 8 --allow-private-networks --max-attempts 4 \
    --backoff-base 1s --backoff-factor 2 --breaker-cooldown 2s --breaker-cooldown-cap 4s --log-level error &
  pids+=($!)
done

# A live one-line progress display until nothing is pending (bounded to 90 s).
deadline=$((SECONDS + 90))
while :; do
  line="$(psql -q "$URL" -At -F' ' -c "SELECT
      count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'delivered'),
      count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state = 'dead'),
      (SELECT count(*) FROM herald.attempts),
      count(*) FILTER (WHERE state = 'pending' AND breaker_key IN (SELECT key FROM herald.circuit_breakers WHERE state = 'open'))
      FROM herald.deliveries")"
  read -r pending delivered failed dead attempts held <<<"$line"
  printf '\r  pending %4s (behind open breakers %3s)  delivered %4s  failed %3s  dead %3s  attempts %4s  ' \
    "$pending" "$held" "$delivered" "$failed" "$dead" "$attempts"
  # Done when nothing is pending but what waits behind an open breaker (an endpoint that is down).
  [ "$pending" = "$held" ] && break
  [ $SECONDS -ge $deadline ] && { echo; echo "demo: still $pending pending after 90 s; stopping anyway"; break; }
  sleep 0.5
done
echo
cleanup
trap - EXIT
if [ "$held" != 0 ]; then
  echo "$held deliveries wait behind the open breaker of the endpoint that is down (/down/legacy): they are"
  echo "probed one at a time and spend no attempts meanwhile. 'herald deliveries cancel --endpoint URL' gives up on them."
fi

echo
"$BIN/herald" status --database-url "$URL"
echo
"$BIN/herald" breakers --database-url "$URL"
echo
echo "Look around:   psql '$URL'"
echo "  e.g.         SELECT * FROM herald.endpoint_health;"
echo "               SELECT * FROM herald.delivery_timeline WHERE event_id = 'ord-7';"
echo "Stop the database: make db-stop"
