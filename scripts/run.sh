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
# The demo's stand-in model and hook are the simulator, on this machine: brains may call it.
export SWITCHBOARD_OUTBOUND_ALLOW=127.0.0.1
# Only the holder of this token can create the first organization (Switchboard logs it too).
export SWITCHBOARD_SETUP_TOKEN=${SWITCHBOARD_SETUP_TOKEN:-sbsetup_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
"$CARGO_TARGET_DIR/debug/switchboard" &
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
setup=""
if curl -fs -X POST -H 'Accept: application/json' "http://127.0.0.1:$port/ui/needs_setup" 2>/dev/null | grep -q true; then
  setup="
  First visit: create your organization at
    http://127.0.0.1:$port/setup?token=$SWITCHBOARD_SETUP_TOKEN
"
fi

cat <<MSG

  Switchboard is running:      http://127.0.0.1:$port
  Guest phone (the simulator): http://127.0.0.1:$sim_port   (its Mailbox shows the emails)
$setup
  Demo Twilio account for "New connector":
    Account SID  AC0123456789abcdef0123456789abcdef
    Auth Token   (shown on the guest phone page)

  Data is kept in $SWITCHBOARD_DATA_DIR. Stop with Ctrl-C.

MSG
wait -n
