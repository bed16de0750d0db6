#!/usr/bin/env bash
# Run Rantai locally: set up, migrate, load the demo organisation (prints the demo
# logins), then serve. Honours PORT; extra arguments go to `rantai serve`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
.venv/bin/rantai migrate --noinput -v 0
.venv/bin/rantai demo
exec .venv/bin/rantai serve "$@"
