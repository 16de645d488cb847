#!/bin/sh
# FAKE python3 for a spec-kitty venv: a dashboard that never binds. It forks a
# child (as pyenv's shim does), so only stopping the whole group ends both.
# kitty-fixtures first asks the interpreter which executable really runs
# (sys.executable): a fake answers with itself.
case "$2" in *sys.executable*) printf %s "$0"; exit 0 ;; esac
echo $$ >> "@PIDFILE@"
echo "fake-spec-kitty: started as: $*" >&2
echo "fake-spec-kitty: hanging without binding" >&2
sleep 300 &
echo $! >> "@PIDFILE@"
wait
