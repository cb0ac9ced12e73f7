/*
 * The Linux side of `exo bench`: the same jobs as exo's guest benchmarks
 * (bench_core, appel_li), done by Linux running as a guest on the same
 * engine. It is the initramfs's /init: it runs the suites named on the
 * kernel command line after "--" (micro, ipc, vm, busybox, files, dpf in
 * dpf.c; `serve IP` in serve.c runs nginx instead), prints one
 * `bench-json: {...}` line of nanoseconds per operation (guest
 * instructions under QEMU -icount), and ends the guest through the
 * debug-exit port both of exo's engines provide.
 *
 * Run as `bench --exit` it exits at once: what fork+exec runs. The busybox
 * suite also runs on exo, under its Linux personality, as `/bin/bench
 * busybox`: the same binaries on both systems.
 */
#define _GNU_SOURCE
#include "bench.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* exo_abi::boot::DEBUG_EXIT_PORT: a byte written there ends the VM. */
#define DEBUG_EXIT_PORT 0xf4
/* linux/futex.h (musl-gcc has no kernel headers). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define PAGE 4096
#define PAGES 100
#define ROUNDS 9

uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nanoseconds per operation: the median over `rounds` of `f(n, arg)`. */
static double median_of(int rounds, long n, void (*f)(long, void *), void *arg) {
    double r[ROUNDS];
    for (int i = 0; i < rounds; i++) {
        uint64_t t = now_ns();
        f(n, arg);
        r[i] = (double)(now_ns() - t) / (double)n;
    }
    qsort(r, rounds, sizeof r[0], cmp_double);
    return r[rounds / 2];
}

static double median_ns(long n, void (*f)(long, void *), void *arg) {
    return median_of(ROUNDS, n, f, arg);
}

static int first_figure = 1;

void figure(const char *name, double ns) {
    printf("%s\"%s\":%.1f", first_figure ? "" : ",", name, ns);
    first_figure = 0;
}

void die(const char *what) {
    fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- micro: calls, upcalls, fork ---- */

static void getpid_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid);
}

static void on_trap(int sig, siginfo_t *si, void *uc) { (void)sig, (void)si, (void)uc; }

static void handle(int sig, void (*h)(int, siginfo_t *, void *)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(sig, &sa, NULL) != 0)
        die("sigaction");
}

static void int3_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++)
        __asm__ volatile("int3");
}

static void fork_wait_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        if (p < 0)
            die("fork");
        waitpid(p, NULL, 0);
    }
}

static const char *self_path = "/init";

static void fork_exec_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            char *argv[] = {(char *)self_path, "--exit", NULL};
            execv(self_path, argv);
            _exit(127);
        }
        if (p < 0)
            die("fork");
        int st;
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench: exec of %s failed\n", self_path);
            exit(1);
        }
    }
}

static void micro(void) {
    figure("getpid", median_ns(20000, getpid_loop, NULL));
    handle(SIGTRAP, on_trap);
    figure("sigtrap_round_trip", median_ns(2000, int3_loop, NULL));
    signal(SIGTRAP, SIG_DFL);
    figure("fork_exit_wait", median_ns(20, fork_wait_loop, NULL));
    figure("fork_exec_wait", median_ns(20, fork_exec_loop, NULL));
}

/* ---- ipc: pipes, yield, futex ---- */

static int to_child[2], to_parent[2];

static void pipe_loop(long n, void *arg) {
    (void)arg;
    char c = 0;
    for (long i = 0; i < n; i++) {
        if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1)
            die("pipe ping-pong");
    }
}

static double pipe_round_trip(void) {
    if (pipe(to_child) || pipe(to_parent))
        die("pipe");
    pid_t p = fork();
    if (p == 0) {
        char c;
        close(to_child[1]);
        close(to_parent[0]);
        while (read(to_child[0], &c, 1) == 1)
            if (write(to_parent[1], &c, 1) != 1)
                break;
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    double r = median_ns(2000, pipe_loop, NULL);
    close(to_child[1]);
    close(to_parent[0]);
    waitpid(p, NULL, 0);
    return r;
}

static void yield_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++)
        sched_yield();
}

static double yield_round_trip(void) {
    pid_t p = fork();
    if (p == 0)
        for (;;)
            sched_yield();
    double r = median_ns(2000, yield_loop, NULL);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    return r;
}

/* A word each way in shared memory, handed over with futex wait/wake. */
static volatile uint32_t *turn;

static void futex_wait(volatile uint32_t *w, uint32_t v) {
    syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(volatile uint32_t *w) {
    syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void futex_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        *turn = 1;
        futex_wake(turn);
        while (*turn == 1)
            futex_wait(turn, 1);
    }
}

static double futex_round_trip(void) {
    turn = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (turn == MAP_FAILED)
        die("mmap shared");
    *turn = 0;
    pid_t p = fork();
    if (p == 0) {
        for (;;) {
            while (*turn != 1)
                futex_wait(turn, *turn);
            *turn = 0;
            futex_wake(turn);
        }
    }
    double r = median_ns(2000, futex_loop, NULL);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    return r;
}

static void ipc(void) {
    figure("pipe_round_trip", pipe_round_trip());
    figure("yield_round_trip", yield_round_trip());
    figure("futex_round_trip", futex_round_trip());
}

/* ---- vm: Appel-Li with mprotect and SIGSEGV ---- */

static char *region;
static char *volatile next_to_protect;

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    char *page = (char *)((uintptr_t)si->si_addr & ~(uintptr_t)(PAGE - 1));
    mprotect(page, PAGE, PROT_READ | PROT_WRITE);
    char *next = next_to_protect;
    next_to_protect = NULL;
    if (next)
        mprotect(next, PAGE, PROT_READ);
}

static void touch(long i) { *(volatile char *)(region + i * PAGE) = 1; }

static void protect(long first, long count, int writable) {
    if (mprotect(region + first * PAGE, count * PAGE, writable ? PROT_READ | PROT_WRITE : PROT_READ))
        die("mprotect");
}

static void prot1_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        protect(0, 1, 0);
        protect(0, 1, 1);
    }
}

static void fault_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        protect(0, 1, 0);
        touch(0);
    }
}

/* prot100 and unprot100 timed apart: `which` 0 times protecting, 1 unprotecting. */
static uint64_t prot100_spent;

static void prot100_timed(long n, void *arg) {
    int which = *(int *)arg;
    prot100_spent = 0;
    for (long i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        protect(0, PAGES, 0);
        uint64_t t1 = now_ns();
        protect(0, PAGES, 1);
        uint64_t t2 = now_ns();
        prot100_spent += which == 0 ? t1 - t0 : t2 - t1;
    }
}

/* Median over rounds of the time spent in one half of prot100_timed, per page. */
static double prot100_half(int which) {
    double r[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        prot100_timed(50, &which);
        r[i] = (double)prot100_spent / (50.0 * PAGES);
    }
    qsort(r, ROUNDS, sizeof r[0], cmp_double);
    return r[ROUNDS / 2];
}

static int pagemap = -1;

static void dirty_loop(long n, void *arg) {
    (void)arg;
    uint64_t e;
    for (long i = 0; i < n; i++) {
        uintptr_t vpn = (uintptr_t)(region + (i % PAGES) * PAGE) / PAGE;
        if (pread(pagemap, &e, 8, (off_t)(vpn * 8)) != 8)
            die("pread /proc/self/pagemap");
    }
}

static void appel1_loop(long n, void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++) {
        next_to_protect = region + ((i + 1) % PAGES) * PAGE;
        touch(i);
    }
    protect(0, PAGES, 0);
}

static void appel2_loop(long n, void *arg) {
    (void)arg;
    protect(0, PAGES, 0);
    for (long i = 0; i < n; i++)
        touch(i);
}

static void vm(void) {
    region = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        die("mmap");
    for (long i = 0; i < PAGES; i++)
        touch(i);
    handle(SIGSEGV, on_segv);
    double prot1 = median_ns(2000, prot1_loop, NULL) / 2;
    double cycle = median_ns(500, fault_loop, NULL);
    double trap = cycle - 2 * prot1;
    figure("appel_trap", trap > 0 ? trap : 0);
    figure("appel_prot1", prot1);
    figure("appel_prot100", prot100_half(0));
    figure("appel_unprot100", prot100_half(1));
    /* Linux shows no dirty bit cheaply: the closest is the soft-dirty bit
     * of /proc/self/pagemap, one pread per page. */
    pagemap = open("/proc/self/pagemap", O_RDONLY);
    if (pagemap < 0)
        die("/proc/self/pagemap");
    figure("appel_dirty", median_ns(2000, dirty_loop, NULL));
    protect(0, PAGES, 0);
    figure("appel1", median_ns(PAGES - 1, appel1_loop, NULL));
    figure("appel2", median_ns(PAGES, appel2_loop, NULL));
    protect(0, PAGES, 1);
    signal(SIGSEGV, SIG_DFL);
}

/* ---- busybox: the same unmodified busybox binary on exo and Linux ---- */

static const char busybox[] = "/bin/busybox";

/* Runs `busybox sh -c SCRIPT` n times; each must exit 0. */
static void sh_loop(long n, void *script) {
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            execl(busybox, "sh", "-c", (char *)script, (char *)NULL);
            _exit(127);
        }
        if (p < 0)
            die("fork");
        int st = 0;
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench: busybox sh -c '%s' failed (status %#x)\n", (char *)script, st);
            exit(1);
        }
    }
}

#define LOOPS 20

static void mount_disk(void);

/* Moves to the disk's file system: Linux mounts its ext4 when the
 * initramfs carries the modules for it; on exo, programs start on the disk
 * when there is one. Whether there is a writable one. */
static int work_on_disk(void) {
    if (access("/modules/00.ko", F_OK) == 0 || access("/modules/00.ko.xz", F_OK) == 0) {
        mount_disk();
        if (chdir("/mnt") != 0)
            die("chdir /mnt");
    }
    return mkdir("probe", 0755) == 0 && rmdir("probe") == 0;
}

static void busybox_suite(void) {
    static char loop[] = "i=0; while [ $i -lt 20 ]; do /bin/busybox true; i=$((i+1)); done";
    figure("bb_fork_exec", median_of(3, 1, sh_loop, loop) / LOOPS);
    if (!work_on_disk()) {
        fprintf(stderr, "bench: busybox: no writable disk, so no sort or tar figure\n");
        return;
    }
    /* On the disk's file system, written and synced first so that the
     * timed jobs read cached data: 1..1300000, one per line (9.4 MB), and a
     * tree of 128 files of 4 KiB in 8 directories. */
    static char setup[] =
        "/bin/busybox seq 1300000 > numbers && "
        "/bin/busybox mkdir -p tree && cd tree && for d in 0 1 2 3 4 5 6 7; do "
        "/bin/busybox mkdir d$d; for f in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do "
        "printf '%4096s' $d$f > d$d/f$f; done; done && /bin/busybox sync";
    static char sort[] = "/bin/busybox sort -r numbers | /bin/busybox tail -n 1 >/dev/null";
    static char tar[] = "/bin/busybox tar cf - tree | /bin/busybox wc -c >/dev/null";
    sh_loop(1, setup);
    figure("bb_tar_tree", median_of(3, 1, sh_loop, tar));
    figure("bb_sort_10mb", median_of(3, 1, sh_loop, sort));
}

/* ---- files: ext4 on the virtio-blk disk, as exo's fs_bench on XN ---- */

#define SMALL 32
#define MIB (1 << 20)

/* Loads the initramfs's /modules/ *.ko in name order (the host numbers them
 * in dependency order): virtio-mmio, virtio-blk and ext4 are modules in
 * Debian's kernel. */
void load_modules(void) {
    for (int i = 0; i < 100; i++) {
        char path[64];
        int flags = 0;
        snprintf(path, sizeof path, "/modules/%02d.ko", i);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            /* MODULE_INIT_COMPRESSED_FILE: the kernel decompresses it. */
            snprintf(path, sizeof path, "/modules/%02d.ko.xz", i);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            flags = 4;
        }
        if (fd < 0)
            break;
        if (syscall(SYS_finit_module, fd, "", flags) != 0 && errno != EEXIST) {
            fprintf(stderr, "bench: loading %s: %s\n", path, strerror(errno));
            exit(1);
        }
        close(fd);
    }
}

/* Mounts the first virtio disk (ext4, made by the host) on /mnt. */
static void mount_disk(void) {
    load_modules();
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mkdir("/mnt", 0755);
    for (int tries = 0; tries < 500; tries++) {
        if (mount("/dev/vda", "/mnt", "ext4", 0, NULL) == 0)
            return;
        if (errno != ENOENT && errno != ENXIO)
            break;
        usleep(10000); /* the disk is probed asynchronously */
    }
    die("mount /dev/vda on /mnt");
}

static void small_name(char *buf, size_t n, long i) { snprintf(buf, n, "/mnt/s%ld", i); }

static void create_loop(long n, void *arg) {
    (void)arg;
    char data[1024], name[32];
    memset(data, 0x5a, sizeof data);
    for (long i = 0; i < n; i++) {
        small_name(name, sizeof name, i);
        int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0 || write(fd, data, sizeof data) != (ssize_t)sizeof data || fsync(fd) != 0)
            die("create+write+fsync");
        close(fd);
    }
}

static void read_loop(long n, void *arg) {
    (void)arg;
    char data[1024], name[32];
    for (long i = 0; i < n; i++) {
        small_name(name, sizeof name, i);
        int fd = open(name, O_RDONLY);
        if (fd < 0 || read(fd, data, sizeof data) != (ssize_t)sizeof data)
            die("open+read");
        close(fd);
    }
}

static void unlink_loop(long n, void *arg) {
    (void)arg;
    char name[32];
    for (long i = 0; i < n; i++) {
        small_name(name, sizeof name, i);
        if (unlink(name) != 0)
            die("unlink");
    }
}

/* One round each (files must exist for the next step), as exo's fs_bench. */
static void files_suite(void) {
    mount_disk();
    uint64_t t = now_ns();
    create_loop(SMALL, NULL);
    figure("fs_create_fsync", (double)(now_ns() - t) / SMALL);
    figure("fs_read_cached", median_ns(SMALL, read_loop, NULL));
    t = now_ns();
    unlink_loop(SMALL, NULL);
    figure("fs_unlink", (double)(now_ns() - t) / SMALL);
    /* Cold sequential read: write 1 MiB, sync, drop the page cache, read. */
    static char buf[64 << 10];
    memset(buf, 0xa5, sizeof buf);
    int fd = open("/mnt/big", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    for (int i = 0; i < MIB / (int)sizeof buf; i++)
        if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            die("write /mnt/big");
    if (fsync(fd) != 0)
        die("fsync /mnt/big");
    close(fd);
    sync();
    int drop = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (drop < 0 || write(drop, "3", 1) != 1)
        die("drop_caches");
    close(drop);
    fd = open("/mnt/big", O_RDONLY);
    t = now_ns();
    long got = 0;
    for (ssize_t r; (r = read(fd, buf, sizeof buf)) > 0;)
        got += r;
    figure("fs_seq_read_mib", (double)(now_ns() - t) * MIB / (double)(got ? got : 1));
    close(fd);
    unlink("/mnt/big");
    umount("/mnt");
}

/* Ends the VM with `status` through the debug-exit port. */
static void end_vm(int status) {
    fflush(stdout);
    fflush(stderr);
    /* The console's bytes may still wait in the kernel's tty buffer. */
    tcdrain(1);
    tcdrain(2);
    if (ioperm(DEBUG_EXIT_PORT, 1, 1) == 0)
        outb((unsigned char)status, DEBUG_EXIT_PORT);
    reboot(RB_POWER_OFF);
    exit(status);
}

/* Runs the suites named in argv; prints the JSON line. */
static int run_suites(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    printf("bench-json: {");
    int ran = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "micro") == 0)
            micro();
        else if (strcmp(argv[i], "ipc") == 0)
            ipc();
        else if (strcmp(argv[i], "vm") == 0)
            vm();
        else if (strcmp(argv[i], "busybox") == 0)
            busybox_suite();
        else if (strcmp(argv[i], "files") == 0)
            files_suite();
        else if (strcmp(argv[i], "dpf") == 0)
            dpf_suite();
        else if (strcmp(argv[i], "serve") == 0) {
            printf("}\n");
            fflush(stdout);
            serve_suite(argv[i + 1]);
        }
        else {
            printf("}\n");
            fprintf(stderr, "bench: unknown suite '%s' (known: micro, ipc, vm, busybox, files, dpf, serve IP)\n", argv[i]);
            return 2;
        }
        ran++;
    }
    printf("}\n");
    if (!ran) {
        fprintf(stderr, "bench: no suite named (micro, ipc, vm, busybox, files, dpf, serve IP)\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--exit") == 0)
        return 0;
    self_path = argv[0];
    /* As the Linux guest's first process it sets up and ends the VM;
     * anywhere else (on exo's Linux personality) it just runs. */
    if (getpid() != 1 || strcmp(argv[0], "/init") != 0)
        return run_suites(argc, argv);
    mkdir("/proc", 0555);
    if (mount("proc", "/proc", "proc", 0, NULL) != 0)
        die("mount /proc");
    /* The suites run in a child: Linux logs every SIGSEGV of init, handled
     * or not, and the Appel-Li figures take thousands. */
    pid_t p = fork();
    if (p < 0)
        die("fork");
    if (p == 0) {
        int status = run_suites(argc, argv);
        fflush(stdout);
        _exit(status);
    }
    int st = 0;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
        ;
    end_vm(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return 0;
}
