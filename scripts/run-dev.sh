#!/usr/bin/env bash
# Run antigravityd in the foreground against the bundled mock upstream.
#
#   scripts/run-dev.sh
#
# Installs the build dependencies, builds ./build, starts agd-mock-upstream on
# a free loopback port, writes build/dev/antigravityd.conf with four providers
# (OpenAI Chat Completions and Responses, Anthropic, Gemini) that all point at
# the mock, prints curl commands to try, then execs the daemon. Stop it with
# Ctrl-C (SIGINT: in-flight requests finish first); the mock is stopped when
# the daemon exits.
#
# Environment:
#   AGD_LISTEN  the daemon's listen address (default 127.0.0.1:8045); any
#               server.listen form: 0.0.0.0:8045, [::1]:8045, unix:/PATH
#   AGD_ADMIN_LISTEN  the web console's and admin API's address (default
#               127.0.0.1:8046; empty: none); its password is made up here
#               and printed
#   AGD_JOBS    parallel compile jobs (scripts/build.sh)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

log() { printf 'run-dev: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

listen=${AGD_LISTEN:-127.0.0.1:8045}
admin_listen=${AGD_ADMIN_LISTEN-127.0.0.1:8046}
build=build
daemon=$build/src/antigravityd
mock=$build/tools/mock-upstream/agd-mock-upstream
dev=$repo/$build/dev
run_dir=$dev/run
conf=$dev/antigravityd.conf

bash scripts/install-deps.sh
bash scripts/build.sh "$build"

[[ -x $daemon ]] || die "$daemon was not built"
[[ -x $mock ]] || die "$mock was not built"

mkdir -p "$run_dir"
chmod 0700 "$run_dir"
control_socket=$run_dir/control.sock
# sockaddr_un holds 107 bytes of path.
((${#control_socket} <= 107)) ||
    die "control socket path $control_socket is longer than 107 bytes; move the checkout to a shorter path"

# --- the mock upstream ------------------------------------------------------
port_file=$run_dir/mock.port
rm -f "$port_file"
mock_pid=
stop_mock() {
    if [[ -n $mock_pid ]] && kill -0 "$mock_pid" 2>/dev/null; then
        kill -TERM "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
    fi
}
# Until the daemon takes over this process, any exit stops the mock.
trap stop_mock EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Its own session, so Ctrl-C on the terminal reaches only the daemon, which
# then drains its in-flight requests while the mock still answers them.
setsid "$mock" --listen 127.0.0.1:0 --port-file "$port_file" </dev/null &
mock_pid=$!

# Wait for the port file: the mock writes it once it listens.
mock_port=
deadline=$((SECONDS + 30))
while :; do
    if [[ -s $port_file ]]; then
        content=$(<"$port_file")
        if [[ $content =~ ([0-9]+)[[:space:]]*$ ]] && ((BASH_REMATCH[1] > 0 && BASH_REMATCH[1] < 65536)); then
            mock_port=${BASH_REMATCH[1]}
            break
        fi
    fi
    kill -0 "$mock_pid" 2>/dev/null || die "agd-mock-upstream exited before writing $port_file"
    ((SECONDS < deadline)) || die "agd-mock-upstream wrote no port to $port_file within 30s"
    sleep 0.05
done
log "mock upstream (PID $mock_pid) listening on 127.0.0.1:$mock_port"
mock_url=http://127.0.0.1:$mock_port

# --- the admin API: a password made up for this run ------------------------------
admin_section=
if [[ -n $admin_listen ]]; then
    admin_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    admin_hash=$(printf '%s\n' "$admin_password" | "$daemon" passwd --stdin)
    admin_section="[admin]
# The admin API (docs/ADMIN-API.md); the password is printed at start.
listen = $admin_listen
password_hash = $admin_hash"
fi

# --- the dev config -----------------------------------------------------------
umask 077
cat >"$conf" <<CONF
# antigravityd dev config, written by scripts/run-dev.sh: every provider is
# the bundled mock upstream. See antigravityd.conf(5) for all keys.

[server]
listen = $listen
pid_file = $run_dir/antigravityd.pid
control_socket = $control_socket
log_level = info
shutdown_timeout = 10s
# The credential ledger's file (cooldowns kept across restarts).
state_dir = $dev/state

[auth]
# No client key needed (dev only).
mode = off

[routing]
strategy = round-robin
cooldown = 60s
max_attempts = 3

[log]
# Request log and usage store: antigravityd log -c $conf
database = $dev/antigravityd.db

$admin_section

[provider.openai]
type = openai
api = chat
base_url = $mock_url/v1
key = mock-openai-1
key = mock-openai-2
models = gpt-*, o1*, o3*, o4*, mock-*

[provider.openai-responses]
type = openai
api = responses
base_url = $mock_url/v1
key = mock-responses-1
models = gpt-*, o1*, o3*, o4*

[provider.anthropic]
type = anthropic
base_url = $mock_url
key = mock-anthropic-1
models = claude-*

[provider.gemini]
type = gemini
base_url = $mock_url
key = mock-gemini-1
models = gemini-*
CONF
umask 022
log "wrote $conf"

# --- curl examples --------------------------------------------------------------
# A wildcard listen address is reached through loopback.
curl_target=()
case $listen in
    unix:*) base=http://localhost; curl_target=(--unix-socket "${listen#unix:}") ;;
    0.0.0.0:*) base=http://127.0.0.1:${listen##*:} ;;
    "[::]:"*) base="http://[::1]:${listen##*:}"; curl_target=(-g) ;;
    "["*) base=http://$listen; curl_target=(-g) ;;
    *) base=http://$listen ;;
esac
c="curl -sS ${curl_target[*]:+${curl_target[*]} }"
rel_conf=${conf#"$repo"/}
cat <<HELP

antigravityd will listen on $listen (providers: the mock at $mock_url).
Try, from another terminal in $repo:

  # OpenAI Chat Completions
  ${c}$base/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello!"}]}'

  # OpenAI Chat Completions, streamed
  ${c}-N $base/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'

  # Anthropic Messages
  ${c}$base/v1/messages -H 'Content-Type: application/json' -H 'anthropic-version: 2023-06-01' \\
    -d '{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"Hello!"}]}'

  # Gemini generateContent
  ${c}$base/v1beta/models/gemini-2.5-flash:generateContent -H 'Content-Type: application/json' \\
    -d '{"contents":[{"role":"user","parts":[{"text":"Hello!"}]}]}'

  # The daemon's state, over its control socket
  $daemon status -c $rel_conf

Point clients at it: OPENAI_BASE_URL=$base/v1  ANTHROPIC_BASE_URL=$base  GOOGLE_GEMINI_BASE_URL=$base
Ctrl-C stops the daemon (in-flight requests finish first) and then the mock.

HELP
if [[ -n $admin_listen ]]; then
    cat <<ADMIN
The web console is at http://$admin_listen/ (open it in a browser), password for this run: $admin_password
Its API (docs/ADMIN-API.md) from a shell:
  ${c}-c $dev/admin.cookies -H 'Origin: http://$admin_listen' http://$admin_listen/api/login -d '{"password":"$admin_password"}'
  ${c}-b $dev/admin.cookies 'http://$admin_listen/api/requests?limit=5'

ADMIN
fi

# --- the daemon -------------------------------------------------------------------
# exec keeps this PID, so signals sent to it (kill -HUP, kill -TERM) reach the
# daemon itself. A watcher stops the mock once that PID is gone; it ignores
# Ctrl-C like every background job of a non-interactive shell.
daemon_pid=$$
(
    trap stop_mock EXIT
    tail --pid="$daemon_pid" -s 0.2 -f /dev/null
) </dev/null >/dev/null 2>&1 &
trap - EXIT INT TERM
exec "$daemon" run -c "$conf"
