/* Signals: handlers, masks, kill of a child, SIGCHLD, default actions. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got, chld;
static void on_usr1(int s) { got += s; }
static void on_chld(int s) { (void)s; chld++; }

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, 0);
    raise(SIGUSR1);
    printf("handler ran: got %d\n", got);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    kill(getpid(), SIGUSR1);
    printf("blocked: got %d\n", got);
    sigprocmask(SIG_SETMASK, &old, 0);
    printf("unblocked: got %d\n", got);
    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    printf("ignored USR2 survived\n");
    sa.sa_handler = on_chld;
    sigaction(SIGCHLD, &sa, 0);
    pid_t c = fork();
    if (c == 0) { pause(); _exit(0); }
    kill(c, SIGTERM);
    int st;
    waitpid(c, &st, 0);
    printf("child signaled %d by %d\n", WIFSIGNALED(st), WTERMSIG(st));
    c = fork();
    if (c == 0) _exit(5);
    waitpid(c, &st, 0);
    printf("SIGCHLD seen: %d\n", chld > 0);
    fflush(stdout);
    /* Two children ended and not reaped, the second in the environment
       slot the first left: SIGCHLD comes, and stops coming. */
    pid_t first = fork();
    if (first == 0) _exit(1);
    while (sleep(1)) {}
    pid_t second = fork();
    if (second == 0) _exit(2);
    while (sleep(1)) {}
    int st1, st2;
    waitpid(first, &st1, 0);
    waitpid(second, &st2, 0);
    printf("two unreaped children: %d %d\n", WEXITSTATUS(st1), WEXITSTATUS(st2));
    c = fork();
    if (c == 0) { int *p = 0; return *p; }
    waitpid(c, &st, 0);
    printf("null dereference: signaled %d by %d\n", WIFSIGNALED(st), WTERMSIG(st));
    return 0;
}
