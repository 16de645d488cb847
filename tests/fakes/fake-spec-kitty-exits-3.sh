#!/bin/sh
# FAKE python3 for a spec-kitty venv: a dashboard that exits at once, status 3.
echo $$ >> "@PIDFILE@"
echo "fake-spec-kitty: started as: $*" >&2
echo "fake-spec-kitty: cannot import specify_cli, exiting 3" >&2
exit 3
