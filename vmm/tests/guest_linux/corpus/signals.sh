# Signals: traps on the shell itself, killing and waiting for children.
trap 'echo caught USR1' USR1
kill -USR1 $$
echo after
trap 'echo caught TERM' TERM
kill -TERM $$
trap - TERM
sleep 5 & pid=$!
kill $pid
wait $pid; echo "killed child: $?"
sh -c 'kill -9 $$'; echo "killed itself: $?"
sh -c 'trap "echo child caught INT; exit 7" INT; kill -INT $$; echo not reached'; echo "child: $?"
( trap 'echo sub caught HUP' HUP; kill -HUP $(sh -c 'echo $PPID'); echo sub done )
trap 'echo bye' EXIT
echo end
