#!/bin/sh
# FAKE python3 for a spec-kitty venv: a dashboard that never binds, and that
# exec()s another program, so its command line changes after it was spawned.
# kitty-fixtures first asks the interpreter which executable really runs
# (sys.executable): a fake answers with itself.
case "$2" in *sys.executable*) printf %s "$0"; exit 0 ;; esac
echo $$ >> "@PIDFILE@"
echo "fake-spec-kitty: hanging without binding (exec)" >&2
exec sleep 300
