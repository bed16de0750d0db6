#!/usr/bin/env bash
# Run Rantai locally: set up, migrate, load the demo organisation (prints the demo
# logins), then serve, with a worker beside the web server (timers, e-mails,
# webhooks, digests: `rantai worker`). Honours PORT; extra arguments go to
# `rantai serve`. Ctrl+C stops both; when the server stops, so does the worker.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
.venv/bin/rantai migrate --noinput -v 0
.venv/bin/rantai demo

server_pid=""
worker_pid=""
stop_both() {
    # SIGTERM: the server shuts down gracefully, the worker finishes its current
    # item. Either may be gone already.
    for pid in $server_pid $worker_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
}
trap stop_both INT TERM
trap 'stop_both; wait' EXIT

.venv/bin/rantai worker &
worker_pid=$!
.venv/bin/rantai serve --no-migrate "$@" &
server_pid=$!

# Until the server stops (or a signal arrives); then the EXIT trap stops the worker
# and waits for both.
wait "$server_pid"
