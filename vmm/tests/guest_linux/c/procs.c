/* Processes: fork, exec, wait, pipes between processes, exit statuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "child")) {
        printf("exec'd child with %d args, last %s\n", argc, argv[argc - 1]);
        return 9;
    }
    pid_t me = getpid();
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "child's parent is the parent: %d\n", getppid() == me);
        write(p[1], msg, n);
        _exit(3);
    }
    close(p[1]);
    char buf[128] = {0};
    int n = 0, r;
    while ((r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0) n += r;
    fputs(buf, stdout);
    int st;
    printf("waited for the right one: %d\n", waitpid(c, &st, 0) == c);
    printf("exited %d status %d\n", WIFEXITED(st), WEXITSTATUS(st));
    fflush(stdout);
    for (int i = 0; i < 5; i++) {
        pid_t k = fork();
        if (k == 0) _exit(10 + i);
    }
    int sum = 0;
    for (int i = 0; i < 5; i++) { wait(&st); sum += WEXITSTATUS(st); }
    printf("five children, statuses sum to %d\n", sum);
    printf("no more children: %d\n", wait(&st) == -1);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        execl("/proc/self/exe", argv[0], "child", "x", "y", (char *)0);
        _exit(127);
    }
    waitpid(c, &st, 0);
    printf("exec'd child exited %d\n", WEXITSTATUS(st));
    fflush(stdout);
    /* Two processes through a pipe, as a shell pipeline. */
    pipe(p);
    if (fork() == 0) {
        dup2(p[1], 1); close(p[0]); close(p[1]);
        for (int i = 5; i > 0; i--) printf("%d\n", i * 7 % 11);
        exit(0);
    }
    close(p[1]);
    FILE *in = fdopen(p[0], "r");
    int v, total = 0, count = 0;
    while (fscanf(in, "%d", &v) == 1) { total += v; count++; }
    wait(&st);
    printf("read %d numbers summing to %d\n", count, total);
    /* select: an empty pipe times out; one with data is ready. */
    pipe(p);
    fd_set set;
    FD_ZERO(&set);
    FD_SET(p[0], &set);
    struct timeval tv = {0, 100000};
    printf("select on an empty pipe: %d\n", select(p[0] + 1, &set, 0, 0, &tv));
    write(p[1], "x", 1);
    FD_ZERO(&set);
    FD_SET(p[0], &set);
    tv.tv_sec = 1;
    tv.tv_usec = 0;
    int ready = select(p[0] + 1, &set, 0, 0, &tv);
    printf("select with data: %d, the pipe ready: %d\n", ready, FD_ISSET(p[0], &set) != 0);
    return 0;
}
