/* Memory: malloc (brk), large allocations (mmap), munmap, mremap and
 * realloc of large blocks, file mapping, floating point in printf. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    char *small[100];
    for (int i = 0; i < 100; i++) { small[i] = malloc(100 + i); memset(small[i], i, 100 + i); }
    long ok = 1;
    for (int i = 0; i < 100; i++) ok &= small[i][99] == (char)i;
    printf("small blocks intact: %ld\n", ok);
    size_t big = 8 << 20;
    unsigned char *b = malloc(big);
    for (size_t i = 0; i < big; i += 4096) b[i] = (unsigned char)(i >> 12);
    unsigned long sum = 0;
    for (size_t i = 0; i < big; i += 4096) sum += b[i];
    printf("8 MiB block sum %lu\n", sum);
    free(b);
    char *m = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("anonymous mapping zeroed: %d\n", m[12345] == 0);
    strcpy(m + 4096, "written");
    printf("reads back: %s\n", m + 4096);
    munmap(m, 1 << 20);
    /* mremap: a mapping with another after it must move to grow. */
    char *r = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *after = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 3; i++) r[i * 4096 + 7] = 'a' + i;
    char *r2 = mremap(r, 3 * 4096, 40 * 4096, MREMAP_MAYMOVE);
    printf("mremap grew: %d, kept %c%c%c, new part zeroed: %d\n", r2 != MAP_FAILED, r2[7],
           r2[4096 + 7], r2[2 * 4096 + 7], r2[39 * 4096] == 0);
    r2[39 * 4096] = 'z';
    char *r3 = mremap(r2, 40 * 4096, 2 * 4096, 0);
    printf("mremap shrank in place: %d, kept %c%c\n", r3 == r2, r3[7], r3[4096 + 7]);
    printf("grow without MREMAP_MAYMOVE past a neighbour refused: %d\n",
           mremap(after, 4096, 1 << 30, 0) == MAP_FAILED);
    munmap(r3, 2 * 4096);
    munmap(after, 4096);
    /* realloc of a growing large block, as sort's line table does. */
    size_t n = 0, cap = 1024;
    long *v = malloc(cap * sizeof *v);
    for (long i = 0; i < 400000; i++) {
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = i * 3;
    }
    long vs = 0;
    for (size_t i = 0; i < n; i++) vs += v[i];
    printf("realloc'd table of %zu: sum %ld\n", n, vs);
    free(v);
    int fd = open("mapped.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    for (int i = 0; i < 1000; i++) dprintf(fd, "%d,", i);
    char *f = mmap(0, 3890, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("file mapping starts: %.12s ends: %.5s\n", f, f + 3885);
    munmap(f, 3890);
    close(fd);
    unlink("mapped.txt");
    double x = 0;
    for (int i = 1; i <= 1000; i++) x += 1.0 / ((double)i * i);
    printf("sum 1/n^2 = %.9f, pi^2/6 = %.9f, sqrt(2) = %.6f\n", x, M_PI * M_PI / 6, sqrt(2.0));
    printf("%e %g %.3f\n", 6.02214076e23, 1.0 / 3, -2.5);
    return 0;
}
