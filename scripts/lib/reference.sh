# shellcheck shell=bash
# SyncEvolution's reference server (syncevo-http-server) for the benchmark scripts, and the
# process helpers they share. Sourced by scripts/bench-vs-reference and scripts/bench-load.
#
# The caller sets PY (a python3 with twisted and dbus: Debian's /usr/bin/python3) and calls:
#   bench_start NAME         the work dir W=/tmp/NAME.XXXXXX (logs *.log, configure.log,
#                            frontend.py) and the EXIT trap: it stops `syncgate serve` (SG_PID)
#                            and the reference server by pid, shows the logs' tails on failure
#                            and removes W unless KEEP_TMP=1
#   reference_check          exit 1 unless syncevolution, dbus and the HTTP front end are installed
#   reference_peer HOME DEVICE USER PASSWORD
#                            a server-side peer for the client device id DEVICE, in context
#                            @bench of the server HOME: all peers of one HOME share its databases
#                            (HOME/data/contacts, store addressbook, uri contacts) like one user
#   reference_start HOME     private dbus-daemon + syncevo-dbus-server + the front end on a free
#                            127.0.0.1 port; sets DBUS_PID SEDS_PID FRONT_PID and REF_URL
#   stop_reference           stops all of it (and the session helpers) by pid
#
# The peers use loglevel=1 printChanges=0 dumpData=0; libsynthesis still writes an HTML session
# log and database backups per session. REF_LOGDIR=none sets logdir=none to switch those off.

TICK=$(getconf CLK_TCK)
SEDS_PID='' FRONT_PID='' DBUS_PID='' REF_URL='' SG_PID='' W=''

stop_pid() { # pid: TERM, wait up to 5 s, then KILL
    local pid=$1 i
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
children() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
stop_reference() {
    local helpers='' p
    [ -n "$SEDS_PID" ] && [ -d "/proc/$SEDS_PID" ] && helpers=$(children "$SEDS_PID")
    stop_pid "$FRONT_PID"
    stop_pid "$SEDS_PID"
    for p in $helpers; do stop_pid "$p"; done
    stop_pid "$DBUS_PID"
    FRONT_PID='' SEDS_PID='' DBUS_PID=''
}
bench_cleanup() {
    local rc=$?
    stop_pid "$SG_PID"
    stop_reference
    wait 2>/dev/null || true
    if [ $rc -ne 0 ]; then
        echo "bench FAILED (rc=$rc); log tails:" >&2
        for f in "$W"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 25 "$f" >&2; }; done
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
    exit $rc
}
bench_start() { # name
    # SyncEvolution finds its configs via HOME unless XDG_* say otherwise; never talk to a user bus.
    unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME DBUS_SESSION_BUS_ADDRESS DISPLAY RUST_LOG
    W=$(mktemp -d "/tmp/$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # seconds description command...
    local n=$(($1 * 10)) what=$2
    shift 2
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1))
        [ $n -gt 0 ] || { echo "timeout waiting for $what" >&2; return 1; }
        sleep 0.1
    done
}

# CPU clock ticks "user sys" (utime+cutime, stime+cstime) of the given pids and all their live
# descendants. A reaped child's time is in its parent's cutime/cstime; a live one counts on its own.
tree_us() {
    local user=0 sys=0 pid stat rest
    local -a f queue=("$@")
    while [ ${#queue[@]} -gt 0 ]; do
        pid=${queue[0]}
        queue=("${queue[@]:1}")
        [ -n "$pid" ] && stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) } # fields after "comm)": field 3 (state) is f[0]
        read -r -a f <<<"$rest"
        user=$((user + f[11] + f[13])) # utime + cutime (fields 14, 16)
        sys=$((sys + f[12] + f[14]))   # stime + cstime (fields 15, 17)
        # shellcheck disable=SC2207
        queue+=($(children "$pid"))
    done
    echo "$user $sys"
}
tree_ticks() { local u s; read -r u s <<<"$(tree_us "$@")"; echo $((u + s)); }
has_helper() { # pid: true while a syncevo-dbus-helper (session) runs below it
    local c
    for c in $(children "$1"); do
        [[ $(cat /proc/"$c"/comm 2>/dev/null) == syncevo-dbus-h* ]] && return 0
    done
    return 1
}
wait_idle() { # pids...: no session helper left and CPU unchanged for 1 s (at most 60 s)
    local last now i
    last=$(tree_ticks "$@")
    for i in $(seq 120); do
        sleep 0.5
        now=$(tree_ticks "$@")
        if [ "$now" = "$last" ] && { [ -z "$SEDS_PID" ] || ! has_helper "$SEDS_PID"; }; then
            sleep 0.5
            now=$(tree_ticks "$@")
            [ "$now" = "$last" ] && return 0
        fi
        last=$now
    done
    echo "warning: server not idle after 60 s" >&2
}
secs() { awk -v t="$1" -v k="$TICK" 'BEGIN { printf "%.2f", t / k }'; }

reference_check() {
    local tool f
    for tool in syncevolution dbus-daemon dbus-send; do
        command -v "$tool" >/dev/null || { echo "missing tool: $tool (see scripts/test)" >&2; exit 1; }
    done
    for f in /usr/libexec/syncevo-dbus-server /usr/bin/syncevo-http-server; do
        [ -x "$f" ] || { echo "missing: $f (package syncevolution-http)" >&2; exit 1; }
    done
    "$PY" -c 'import twisted, dbus' 2>/dev/null || { echo "$PY lacks twisted/dbus (python3-twisted)" >&2; exit 1; }
}

reference_peer() { # home device-id user password
    local srv=$1 device=$2 peer
    peer=$(tr -c 'a-zA-Z0-9\n' - <<<"$device" | tr 'A-Z' 'a-z')
    mkdir -p "$srv/data/contacts"
    HOME=$srv syncevolution --daemon=no --configure --template SyncEvolution_Client \
        --sync-property keyring=no --sync-property username="$3" --sync-property password="$4" \
        --sync-property remoteDeviceId="$device" --sync-property RetryDuration=20 \
        --sync-property loglevel=1 --sync-property printChanges=0 --sync-property dumpData=0 \
        ${REF_LOGDIR:+--sync-property logdir="$REF_LOGDIR"} \
        --source-property backend=file \
        addressbook/database="file://$srv/data/contacts" addressbook/databaseFormat=text/vcard \
        addressbook/uri=contacts \
        "$peer@bench" addressbook >>"$W/configure.log" 2>&1
}

reference_start() { # home
    local srv=$1 port
    # The packaged front end has a broken #! line and listens on all interfaces: run it with
    # Debian's python and bind 127.0.0.1 only.
    cp "$ROOT/scripts/lib/frontend.py" "$W/frontend.py"
    rm -f "$srv/bus"
    DBUS_PID=$(HOME=$srv dbus-daemon --session --fork --address="unix:path=$srv/bus" --print-pid)
    export DBUS_SESSION_BUS_ADDRESS=unix:path=$srv/bus
    HOME=$srv /usr/libexec/syncevo-dbus-server -d unlimited -o -s >>"$W/syncevo-dbus-server.log" 2>&1 </dev/null &
    SEDS_PID=$!
    wait_for 30 "org.syncevolution on the private bus" sh -c \
        "dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
         org.freedesktop.DBus.NameHasOwner string:org.syncevolution | grep -q 'boolean true'"
    port=$(free_port)
    HOME=$srv "$PY" "$W/frontend.py" /usr/bin/syncevo-http-server -q "http://127.0.0.1:$port/sync" \
        >>"$W/syncevo-http-server.log" 2>&1 </dev/null &
    FRONT_PID=$!
    unset DBUS_SESSION_BUS_ADDRESS # clients need no bus
    wait_for 30 "syncevo-http-server on 127.0.0.1:$port" bash -c ": </dev/tcp/127.0.0.1/$port"
    REF_URL=http://127.0.0.1:$port/sync
}
