#!/usr/bin/env bash
# Starts the Twilio simulator and Switchboard on a fresh SQLite database for the Playwright
# suite; Playwright stops it. Expects the binaries and the site to be built (scripts/test.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}
# Kept after the run: scripts/test.sh searches the database and the log for the Auth Token.
data=${E2E_DATA_DIR:-/tmp/switchboard-e2e-data}
log=${E2E_LOG:-/tmp/switchboard-e2e.log}
rm -rf "$data" && mkdir -p "$data" && : > "$log"
sim_port=${E2E_SIM_PORT:-3190}
sb_port=${E2E_PORT:-3100}
smtp_port=${E2E_SMTP_PORT:-3125}

cleanup() { kill $(jobs -p) 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$target/debug/twilio-sim" --bind "127.0.0.1:$sim_port" --smtp-bind "127.0.0.1:$smtp_port" &
SWITCHBOARD_BIND="127.0.0.1:$sb_port" \
SWITCHBOARD_DATA_DIR="$data" \
SWITCHBOARD_SITE_ROOT="$here/target/site" \
TWILIO_API_BASE="http://127.0.0.1:$sim_port" \
TWILIO_MESSAGING_BASE="http://127.0.0.1:$sim_port" \
TWILIO_CONTENT_BASE="http://127.0.0.1:$sim_port" \
SWITCHBOARD_LIFECYCLE_SWEEP_MS=500 \
SWITCHBOARD_SETUP_TOKEN="${E2E_SETUP_TOKEN:-sbsetup_e2e-token-0123456789}" \
SWITCHBOARD_OUTBOUND_ALLOW=127.0.0.1 \
SWITCHBOARD_SMTP_HOST=127.0.0.1 SWITCHBOARD_SMTP_PORT="$smtp_port" SWITCHBOARD_SMTP_TLS=none \
SWITCHBOARD_MAIL_FROM="Demo Hotels <no-reply@demo-hotels.example>" \
  "$target/debug/switchboard" > >(tee -a "$log") 2>&1 &
wait -n
