/* What the suites of the Linux guest's benchmark program share. */
#ifndef BENCH_H
#define BENCH_H
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds (guest instructions under -icount). */
uint64_t now_ns(void);
/* Adds `"name":ns` to the JSON line. */
void figure(const char *name, double ns);
/* Reports `what` with errno and exits 1. */
void die(const char *what);

/* Loads the initramfs's /modules/NN.ko[.xz] in order. */
void load_modules(void);

/* dpf.c: received-packet demultiplexing by eBPF socket filters. */
void dpf_suite(void);
/* serve.c: nginx on eth0 at `ip`, for the host's wrk (does not return). */
void serve_suite(const char *ip);
#endif
