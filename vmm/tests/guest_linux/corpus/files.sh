# Files on the disk: redirection, directories, moving, removing, archives.
echo "first line" > notes.txt
echo "second line" >> notes.txt
cat notes.txt
wc -c < notes.txt
mkdir -p tree/a/b tree/c
for f in tree/a/one tree/a/b/two tree/c/three; do echo "data of $f" > "$f"; done
ls tree
ls tree/a | sort
find tree -type f | sort
find tree -name 'tw*'
mv notes.txt tree/c/notes
ls tree/c | sort
[ -e notes.txt ] && echo "still here" || echo "moved away"
cat tree/a/b/two tree/c/notes 2>&1
exec 3> log.txt
echo "to fd 3" >&3
echo "again" >&3
exec 3>&-
cat log.txt
{ echo out; echo err >&2; } > both.txt 2>&1
sort both.txt
rm tree/c/three
rm -r tree/a
find tree | sort
tar cf t.tar tree
rm -r tree
tar xf t.tar
find tree | sort
gzip -c tree/c/notes > n.gz
gzip -dc n.gz
seq 1 300 > nums; sort -rn nums | head -3; tail -c 8 nums
seq 1 500000 > big; wc -c < big; tail -n 2 big; rm big
cd tree && pwd | sed 's|.*/||' && cd ..
rm -r tree t.tar n.gz nums log.txt both.txt
ls
