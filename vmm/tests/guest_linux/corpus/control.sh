# Control flow, functions, exit statuses, subshells and traps.
count() { n=0; while read -r line; do n=$((n + 1)); done; echo "$n"; }
printf 'a\nb\nc\n' | count
for w in $(echo one two three); do printf '[%s]' "$w"; done; echo
( exit 4 ); echo "subshell $?"
if grep -q needle <<END
hay
needle
END
then echo found; else echo missing; fi
false || echo "or ran"
true && echo "and ran"
! true; echo "negated $?"
x=$( (echo inner; exit 2) ); echo "$x $?"
trap 'echo "trap on exit"' EXIT
i=0
until [ $i -ge 3 ]; do i=$((i + 1)); case $i in 2) continue;; esac; echo "i=$i"; done
sh -c 'echo "child says $0 $1"' zero one
echo done | (read v; echo "read $v")
exit 5
