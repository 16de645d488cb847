#!/bin/sh
# FAKE python3 for a spec-kitty venv: an interpreter shim that leads the
# dashboard's session and process group and forks two members into that group
# instead of exec'ing: the REAL dashboard server (the real venv's python,
# @REAL_PYTHON@, with the arguments it was given, so it serves the project with
# the right token) and a helper that is not a dashboard (`sleep 300`). Then it
# waits. The test SIGKILLs only this leader; the members live on in the group
# it led, which nothing of theirs names as a dashboard but the server.
# kitty-fixtures first asks the interpreter which executable really runs
# (sys.executable): the fake answers with itself, so it is what is spawned.
case "$2" in *sys.executable*) printf %s "$0"; exit 0 ;; esac
echo $$ >> "@PIDFILE@"
"@REAL_PYTHON@" "$@" &
echo $! >> "@PIDFILE@"
sleep 300 &
echo $! >> "@PIDFILE@"
echo "fake-python3: leading the real server and a helper" >&2
wait
