#!/usr/bin/env bash
# Runs Switchboard on SQLite with the bundled Twilio simulator, seeded with a demo account.
# Installs and builds what it needs on the first run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}
export PATH="$here/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
port=${SWITCHBOARD_PORT:-3000}
sim_port=${SIM_PORT:-3900}
smtp_port=${SIM_SMTP_PORT:-2525}

bash scripts/setup.sh
echo "[run] building (the first build takes several minutes)" >&2
trunk build --release
cargo build -p switchboard -p twilio-sim

cleanup() { kill $(jobs -p) 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$CARGO_TARGET_DIR/debug/twilio-sim" --bind "127.0.0.1:$sim_port" --smtp-bind "127.0.0.1:$smtp_port" &
export SWITCHBOARD_BIND="127.0.0.1:$port"
export SWITCHBOARD_DATA_DIR=${SWITCHBOARD_DATA_DIR:-$here/data}
export TWILIO_API_BASE="http://127.0.0.1:$sim_port"
export TWILIO_MESSAGING_BASE="http://127.0.0.1:$sim_port"
export TWILIO_CONTENT_BASE="http://127.0.0.1:$sim_port"
# Email (the codes of /login) goes to the simulator's mailbox, shown on its page.
export SWITCHBOARD_SMTP_HOST=127.0.0.1 SWITCHBOARD_SMTP_PORT=$smtp_port SWITCHBOARD_SMTP_TLS=none
export SWITCHBOARD_MAIL_FROM="Switchboard demo <no-reply@switchboard.invalid>"
"$CARGO_TARGET_DIR/debug/switchboard" &
sleep 1

cat <<MSG

  Switchboard is running:      http://127.0.0.1:$port
  Guest phone (the simulator): http://127.0.0.1:$sim_port   (its Mailbox shows the emails)

  Demo Twilio account for "New connector":
    Account SID  AC0123456789abcdef0123456789abcdef
    Auth Token   (shown on the guest phone page)

  Data is kept in $SWITCHBOARD_DATA_DIR. Stop with Ctrl-C.

MSG
wait -n
