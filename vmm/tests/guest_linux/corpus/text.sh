# Text tools in pipelines, here-documents and command substitution.
cat <<END | sort | uniq -c
pear
apple
pear
fig
apple
pear
END
printf 'one two three\nfour five\nsix\n' | wc
printf 'b 2\na 10\nc 1\n' | sort -k2 -n
printf 'alpha\nbeta\ngamma\ndelta\n' | grep -n a | head -3
printf 'alpha\nbeta\ngamma\n' | grep -v -c beta
echo "hello world" | sed 's/world/exo/; s/^/> /'
printf '1,2,3\n4,5,6\n' | awk -F, '{ s += $2 } END { printf "sum %d avg %.2f\n", s, s / NR }'
printf 'a:b:c\nd:e:f\n' | cut -d: -f2,3
echo "Hello World" | tr 'a-z' 'A-Z' | tr -d 'O'
seq 1 20 | tail -3
seq 1 20 | head -n 2
printf 'x\ny\nz\n' | xargs echo got
n=$(seq 1 100 | wc -l); echo "lines: $n"
echo $(( $(seq 1 10 | tr '\n' '+') 0 ))
printf '%s\n' c a b | sort | tr '\n' ' '; echo
seq 5 | awk '{ printf "%s%s", sep, $1 * $1; sep = "," } END { print "" }'
echo "3.5 2" | awk '{ print $1 * $2, $1 / $2, int($1) }'
