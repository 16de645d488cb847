#!/bin/sh
# FAKE python3 for a spec-kitty venv: a dashboard that exits at once, status 3.
# kitty-fixtures first asks the interpreter which executable really runs
# (sys.executable): a fake answers with itself.
case "$2" in *sys.executable*) printf %s "$0"; exit 0 ;; esac
echo $$ >> "@PIDFILE@"
echo "fake-spec-kitty: started as: $*" >&2
echo "fake-spec-kitty: cannot import specify_cli, exiting 3" >&2
exit 3
