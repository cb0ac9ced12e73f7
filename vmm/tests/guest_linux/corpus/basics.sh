# Builtins: arithmetic, printf, functions, loops, case, parameter expansion.
echo "hello from busybox"
x=$((6*7)); echo "six times seven is $x"
printf '%s-%d|%5.2f\n' abc 42 3.14159
f() { echo "in f: $1 $#"; return 3; }; f one two; echo "status $?"
for i in 1 2 3; do printf '%s,' $i; done; echo
case foo.txt in *.txt) echo text;; *) echo other;; esac
i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo "i=$i"
set -- a b c; echo "$# args: $*"; shift; echo "$1"
s=hello; echo "${#s} ${s%lo} ${s#he} ${s:-unset} ${t:-default}"
[ -n "$s" ] && echo nonempty || echo empty
exit 7
