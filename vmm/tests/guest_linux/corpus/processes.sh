# Processes: a fork and exec loop, background jobs, nested pipelines.
i=0; while [ $i -lt 20 ]; do busybox true; i=$((i + 1)); done; echo "ran $i"
for n in 1 2 3; do echo "job $n" > "out$n" & done; wait
cat out1 out2 out3 | sort; rm out1 out2 out3
(echo deep | (cat | (cat | (cat | (cat | tr a-z A-Z)))))
echo $(echo $(echo $(echo nested)))
sh -c 'exit 42'; echo "exit status $?"
busybox sh -c 'echo "argv: $0 $*"' a b c
env -i X=1 sh -c 'echo "X=$X PATH=${PATH:-unset}"'
printf 'a\nb\n' | while read -r l; do echo "line $l"; done
yes | head -n 3
