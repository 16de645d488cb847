#!/bin/sh
# FAKE python3 for a spec-kitty venv: a dashboard that never binds, and that
# exec()s another program, so its command line changes after it was spawned.
echo $$ >> "@PIDFILE@"
echo "fake-spec-kitty: hanging without binding (exec)" >&2
exec sleep 300
