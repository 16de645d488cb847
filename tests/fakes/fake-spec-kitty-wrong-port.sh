#!/bin/sh
# FAKE python3 for a spec-kitty venv: a dashboard that binds @PORT@ instead of
# the port it was given. The listener is a forked child (as behind pyenv's shim).
# kitty-fixtures first asks the interpreter which executable really runs
# (sys.executable): a fake answers with itself.
case "$2" in *sys.executable*) printf %s "$0"; exit 0 ;; esac
echo $$ >> "@PIDFILE@"
echo "fake-spec-kitty: binding @PORT@ instead" >&2
python3 -m http.server --bind 127.0.0.1 @PORT@ &
echo $! >> "@PIDFILE@"
wait
