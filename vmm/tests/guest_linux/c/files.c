/* File I/O and directory walks: create, write, read back, seek, stat,
 * rename, unlink, mkdir, and a recursive listing with opendir/readdir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void walk(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) { printf("opendir %s failed\n", dir); return; }
    char *names[64]; int n = 0; struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) {
        char path[256]; struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st)) { printf("stat %s failed\n", path); continue; }
        printf("%*s%s%s", depth * 2, "", names[i], S_ISDIR(st.st_mode) ? "/\n" : "");
        if (S_ISDIR(st.st_mode)) walk(path, depth + 1);
        else printf(" (%lld bytes)\n", (long long)st.st_size);
        free(names[i]);
    }
}

int main(void) {
    int fd = open("data.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    for (int i = 0; i < 100; i++) dprintf(fd, "line %03d\n", i);
    close(fd);
    char buf[32] = {0};
    fd = open("data.txt", O_RDONLY);
    lseek(fd, 9 * 42, SEEK_SET);
    read(fd, buf, 9);
    printf("line 42 reads: %s", buf);
    printf("end at %lld\n", (long long)lseek(fd, 0, SEEK_END));
    close(fd);
    FILE *f = fopen("data.txt", "a");
    fprintf(f, "appended\n");
    fclose(f);
    struct stat st;
    stat("data.txt", &st);
    printf("size %lld regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    /* Asking for a directory refuses a file without truncating it. */
    int notdir = open("data.txt", O_WRONLY | O_TRUNC | O_DIRECTORY);
    printf("O_DIRECTORY on a file: %d %d", notdir < 0, errno == ENOTDIR);
    stat("data.txt", &st);
    printf(", size still %lld\n", (long long)st.st_size);
    mkdir("d", 0755); mkdir("d/sub", 0755);
    rename("data.txt", "d/sub/moved.txt");
    fd = open("d/empty", O_CREAT | O_WRONLY, 0644); close(fd);
    printf("old name gone: %d\n", access("data.txt", F_OK) != 0);
    walk("d", 0);
    unlink("d/empty");
    printf("rmdir non-empty fails: %d\n", rmdir("d/sub") != 0);
    unlink("d/sub/moved.txt");
    int sub = rmdir("d/sub");
    printf("rmdir now: %d %d\n", sub, rmdir("d"));
    char cwd[256];
    mkdir("w", 0755); chdir("w");
    getcwd(cwd, sizeof cwd);
    printf("cwd ends in /w: %d\n", strcmp(strrchr(cwd, '/'), "/w") == 0);
    chdir(".."); rmdir("w");
    return 0;
}
