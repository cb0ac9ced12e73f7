/*
 * The Linux side of the dpf suite: what it costs Linux to demultiplex a
 * received UDP packet among 1, 10, 100 and 250 installed filters (one per
 * destination port), with the same rules, packets and order as exo's
 * dpf_bench, which times its kernel's DPF through dpf_classify. Linux's
 * filters are eBPF socket filters, run in the kernel by BPF_PROG_TEST_RUN
 * (its JIT, no device), timed as exo's are: around the call, many runs per
 * call. Linux gets the better of two ways to hold the rules: one program
 * per port, run in turn until one accepts (as sockets' filters are), or
 * one program looking the port up in a hash map. What the test-run loop
 * itself costs per run (an empty program's time) is taken off every run,
 * so Linux's figure is its filters' own work, the least it could cost.
 */
#define _GNU_SOURCE
#include "bench.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BPF_MAP_CREATE 0
#define BPF_MAP_UPDATE_ELEM 2
#define BPF_PROG_LOAD 5
#define BPF_PROG_TEST_RUN 10
#define BPF_MAP_TYPE_HASH 1
#define BPF_PROG_TYPE_SOCKET_FILTER 1
#define ATTR 128

#define MAX_FILTERS 250
#define PACKETS 64
#define REPEAT 1000
#define RUNS 3

static const int counts[] = {1, 10, 100, 250};

/* struct bpf_insn (musl-gcc has no kernel headers). */
struct insn {
    uint8_t code;
    uint8_t regs;
    int16_t off;
    int32_t imm;
};
#define I(code, dst, src, off, imm) {(code), (uint8_t)(((src) << 4) | (dst)), (off), (imm)}

static uint16_t port(int i) { return (uint16_t)(1000 + 7 * i); }

static void udp(uint8_t p[60], uint16_t dport) {
    memset(p, 0, 60);
    p[12] = 0x08;
    p[14] = 0x45;
    p[23] = 17;
    p[36] = (uint8_t)(dport >> 8);
    p[37] = (uint8_t)dport;
}

/* Filter indices of the packets, in exo's order (the same xorshift). */
static void packets(int n, int out[PACKETS]) {
    uint32_t x = 0x2545f491u;
    for (int i = 0; i < PACKETS; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (int)(x % (uint32_t)n);
    }
}

static long bpf(int cmd, uint8_t attr[ATTR]) { return syscall(SYS_bpf, cmd, attr, ATTR); }
static void put32(uint8_t *a, int at, uint32_t v) { memcpy(a + at, &v, 4); }
static void put64(uint8_t *a, int at, uint64_t v) { memcpy(a + at, &v, 8); }

/* `r6 = ctx; r0 = dport` of an IPv4/UDP packet, else jump `fail` past the
 * prefix; the skb starts at the IP header (test runs pull Ethernet). */
#define UDP_DPORT(fail)                                                    \
    I(0xbf, 6, 1, 0, 0),                 /* r6 = r1 (LD_ABS needs ctx) */ \
        I(0x61, 0, 1, 16, 0),            /* r0 = skb->protocol */         \
        I(0x55, 0, 0, (fail) + 7, 0x0008), /* != htons(ETH_P_IP) */       \
        I(0x30, 0, 0, 0, 9),             /* r0 = ip->protocol */          \
        I(0x55, 0, 0, (fail) + 5, 17),   /* != UDP */                     \
        I(0x30, 0, 0, 0, 0),             /* r0 = version_ihl */           \
        I(0x57, 0, 0, 0, 0x0f),          /* r0 &= 0xf */                  \
        I(0x67, 0, 0, 0, 2),             /* r0 <<= 2 */                   \
        I(0xbf, 7, 0, 0, 0),             /* r7 = r0 */                    \
        I(0x48, 0, 7, 0, 2)              /* r0 = ntohs(ip[r7 + 2]) */

static int load(const struct insn *prog, int len) {
    static const char license[] = "GPL";
    uint8_t a[ATTR] = {0};
    put32(a, 0, BPF_PROG_TYPE_SOCKET_FILTER);
    put32(a, 4, (uint32_t)len);
    put64(a, 8, (uint64_t)(uintptr_t)prog);
    put64(a, 16, (uint64_t)(uintptr_t)license);
    long fd = bpf(BPF_PROG_LOAD, a);
    if (fd < 0)
        die("bpf(BPF_PROG_LOAD)");
    return (int)fd;
}

/* Accepts (returns 1) UDP/IPv4 packets to `p`. */
static int port_program(uint16_t p) {
    struct insn prog[] = {
        UDP_DPORT(3),
        I(0x55, 0, 0, 2, p), /* if r0 != port goto fail */
        I(0xb7, 0, 0, 0, 1), /* r0 = 1 */
        I(0x95, 0, 0, 0, 0), /* exit */
        I(0xb7, 0, 0, 0, 0), /* fail: r0 = 0 */
        I(0x95, 0, 0, 0, 0),
    };
    return load(prog, sizeof prog / sizeof prog[0]);
}

/* 1 + the id the map holds for the packet's port, 0 if none. */
static int map_program(int map) {
    struct insn prog[] = {
        UDP_DPORT(10),
        I(0x63, 10, 0, -4, 0), /* *(u32 *)(r10 - 4) = r0 */
        I(0x18, 1, 1, 0, map), /* r1 = map (ld_imm64, pseudo map fd) */
        I(0x00, 0, 0, 0, 0),
        I(0xbf, 2, 10, 0, 0), /* r2 = r10 */
        I(0x07, 2, 0, 0, -4), /* r2 -= 4 */
        I(0x85, 0, 0, 0, 1),  /* call map_lookup_elem */
        I(0x15, 0, 0, 3, 0),  /* if r0 == 0 goto fail */
        I(0x61, 0, 0, 0, 0),  /* r0 = *(u32 *)r0 */
        I(0x07, 0, 0, 0, 1),  /* r0 += 1 */
        I(0x95, 0, 0, 0, 0),  /* exit */
        I(0xb7, 0, 0, 0, 0),  /* fail: r0 = 0 */
        I(0x95, 0, 0, 0, 0),
    };
    return load(prog, sizeof prog / sizeof prog[0]);
}

static int port_map(int n) {
    uint8_t a[ATTR] = {0};
    put32(a, 0, BPF_MAP_TYPE_HASH);
    put32(a, 4, 4);
    put32(a, 8, 4);
    put32(a, 12, (uint32_t)n);
    long map = bpf(BPF_MAP_CREATE, a);
    if (map < 0)
        die("bpf(BPF_MAP_CREATE)");
    for (int i = 0; i < n; i++) {
        uint32_t key = port(i), value = (uint32_t)i;
        uint8_t u[ATTR] = {0};
        put32(u, 0, (uint32_t)map);
        put64(u, 8, (uint64_t)(uintptr_t)&key);
        put64(u, 16, (uint64_t)(uintptr_t)&value);
        if (bpf(BPF_MAP_UPDATE_ELEM, u) < 0)
            die("bpf(BPF_MAP_UPDATE_ELEM)");
    }
    return (int)map;
}

/* Runs `prog` on `pkt` `repeat` times in the kernel; its return value. */
static uint32_t test_run(int prog, uint8_t pkt[60], uint32_t repeat) {
    uint8_t out[256];
    uint8_t a[ATTR] = {0};
    put32(a, 0, (uint32_t)prog);
    put32(a, 8, 60);
    put32(a, 12, sizeof out);
    put64(a, 16, (uint64_t)(uintptr_t)pkt);
    put64(a, 24, (uint64_t)(uintptr_t)out);
    put32(a, 32, repeat);
    if (bpf(BPF_PROG_TEST_RUN, a) < 0)
        die("bpf(BPF_PROG_TEST_RUN)");
    uint32_t ret;
    memcpy(&ret, a + 4, 4);
    return ret;
}

static int order[PACKETS];
/* ns per run of BPF_PROG_TEST_RUN's own loop, taken off every run. */
static double floor_ns;
static uint8_t frames[PACKETS][60];

static void check(int ok, const char *what, int i) {
    if (!ok) {
        fprintf(stderr, "bench: dpf: %s misjudged the packet for filter %d\n", what, i);
        exit(1);
    }
}

/* ns per packet: each packet runs the programs in turn until its own. */
static double in_turn(const int *progs) {
    for (int k = 0; k < PACKETS; k++)
        for (int j = 0; j <= order[k]; j++)
            check((test_run(progs[j], frames[k], 1) != 0) == (j == order[k]), "a port program",
                  order[k]);
    long runs = 0;
    for (int k = 0; k < PACKETS; k++)
        runs += order[k] + 1;
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        uint64_t t = now_ns();
        for (int k = 0; k < PACKETS; k++)
            for (int j = 0; j <= order[k]; j++)
                test_run(progs[j], frames[k], REPEAT);
        double per = ((double)(now_ns() - t) / REPEAT - floor_ns * (double)runs) / PACKETS;
        best = per < best ? per : best;
    }
    return best;
}

/* ns per packet: one program, one hash lookup. */
static double by_map(int prog) {
    for (int k = 0; k < PACKETS; k++)
        check(test_run(prog, frames[k], 1) == (uint32_t)order[k] + 1, "the map program", order[k]);
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        uint64_t t = now_ns();
        for (int k = 0; k < PACKETS; k++)
            test_run(prog, frames[k], REPEAT);
        double per = (double)(now_ns() - t) / (PACKETS * REPEAT) - floor_ns;
        best = per < best ? per : best;
    }
    return best;
}


/* ns per run of a program that only returns (best of RUNS). */
static double harness(void) {
    struct insn prog[] = {I(0xb7, 0, 0, 0, 0), I(0x95, 0, 0, 0, 0)};
    int fd = load(prog, 2);
    uint8_t pkt[60];
    udp(pkt, 9);
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        uint64_t t = now_ns();
        for (int k = 0; k < PACKETS; k++)
            test_run(fd, pkt, REPEAT);
        double per = (double)(now_ns() - t) / (PACKETS * REPEAT);
        best = per < best ? per : best;
    }
    close(fd);
    return best;
}

void dpf_suite(void) {
    floor_ns = harness();
    fprintf(stderr, "bench: dpf: an empty program takes %.1f ns per test run (taken off)\n", floor_ns);
    static int progs[MAX_FILTERS];
    for (int i = 0; i < MAX_FILTERS; i++)
        progs[i] = port_program(port(i));
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int n = counts[c];
        packets(n, order);
        for (int k = 0; k < PACKETS; k++)
            udp(frames[k], port(order[k]));
        int map = port_map(n);
        int prog = map_program(map);
        double seq = in_turn(progs), hashed = by_map(prog);
        close(prog);
        close(map);
        char name[32];
        snprintf(name, sizeof name, "dpf_%d_filters", n);
        figure(name, seq < hashed ? seq : hashed);
        fprintf(stderr, "bench: dpf, %d filters: %.1f ns in turn, %.1f ns by map\n", n, seq,
                hashed);
    }
    for (int i = 0; i < MAX_FILTERS; i++)
        close(progs[i]);
}
