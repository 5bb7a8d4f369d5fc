#!/usr/bin/env bash
# Install the EventPulse edge agent on Raspberry Pi OS (Bookworm or newer: Python 3.11+, systemd).
# Run as root from a checkout or an unpacked copy of edge_client/:
#   sudo ./deploy/install.sh --server https://eventpulse.example.org --device-id pi-field-001 \
#        --enroll-token-file /root/enroll_token [--remote-update]
# --remote-update writes /etc/eventpulse-edge/update.toml (pip from PyPI) so update_agent works.
# Safe to run again: it upgrades the agent and keeps the config, the token and the spool.
set -euo pipefail

SERVER=""
DEVICE_ID=""
ENROLL_FILE=""
SIMULATE="true"
REMOTE_UPDATE="false"
PREFIX=/opt/eventpulse-edge
CONF_DIR=/etc/eventpulse-edge
USER_NAME=eventpulse-edge
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { sed -n '2,7p' "$0"; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --server) SERVER="$2"; shift 2 ;;
    --device-id) DEVICE_ID="$2"; shift 2 ;;
    --enroll-token-file) ENROLL_FILE="$2"; shift 2 ;;
    --real-sensors) SIMULATE="false"; shift ;;
    --remote-update) REMOTE_UPDATE="true"; shift ;;
    -h|--help) usage ;;
    *) echo "unknown option $1" >&2; usage ;;
  esac
done

[[ $EUID -eq 0 ]] || { echo "run as root (sudo)" >&2; exit 1; }
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "Python 3.11 or newer is needed (Raspberry Pi OS Bookworm has it)" >&2; exit 1; }

apt-get install -y --no-install-recommends python3-venv ca-certificates >/dev/null
id -u "$USER_NAME" >/dev/null 2>&1 \
  || useradd --system --home-dir /var/lib/eventpulse-edge --no-create-home --shell /usr/sbin/nologin "$USER_NAME"

install -d -m 0755 "$PREFIX"
[[ -x "$PREFIX/venv/bin/python" ]] || python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --quiet --upgrade "$HERE"
install -m 0644 "$HERE/README.md" "$PREFIX/README.md"

install -d -m 0750 -o root -g "$USER_NAME" "$CONF_DIR"
if [[ ! -f "$CONF_DIR/config.toml" ]]; then
  [[ -n "$SERVER" && -n "$DEVICE_ID" ]] || { echo "first install needs --server and --device-id" >&2; exit 2; }
  sed -e "s|^server_url = .*|server_url = \"$SERVER\"|" \
      -e "s|^device_id = .*|device_id = \"$DEVICE_ID\"|" \
      -e "s|^simulate = .*|simulate = $SIMULATE|" \
      "$HERE/deploy/config.example.toml" > "$CONF_DIR/config.toml"
  chmod 0640 "$CONF_DIR/config.toml"; chgrp "$USER_NAME" "$CONF_DIR/config.toml"
fi
if [[ -n "$ENROLL_FILE" ]]; then
  install -m 0640 -o root -g "$USER_NAME" "$ENROLL_FILE" "$CONF_DIR/enroll_token"
fi

install -m 0644 "$HERE/deploy/eventpulse-edge.service" /etc/systemd/system/eventpulse-edge.service
# The root updater for update_agent: a path unit watching the agent's request file, and its oneshot.
install -m 0644 "$HERE/deploy/eventpulse-edge-update.service" /etc/systemd/system/eventpulse-edge-update.service
install -m 0644 "$HERE/deploy/eventpulse-edge-update.path" /etc/systemd/system/eventpulse-edge-update.path
if [[ "$REMOTE_UPDATE" == "true" && ! -f "$CONF_DIR/update.toml" ]]; then
  # Root-only (it may hold an index URL with credentials): the agent never reads it.
  install -m 0600 -o root -g root "$HERE/deploy/update.example.toml" "$CONF_DIR/update.toml"
fi
systemctl daemon-reload
systemctl enable eventpulse-edge.service >/dev/null
systemctl enable --now eventpulse-edge-update.path >/dev/null
systemctl restart eventpulse-edge.service
echo "installed; follow it with: journalctl -u eventpulse-edge -f"
echo "spool state: sudo -u $USER_NAME EVENTPULSE_EDGE_CONFIG=$CONF_DIR/config.toml $PREFIX/venv/bin/eventpulse-edge status"
