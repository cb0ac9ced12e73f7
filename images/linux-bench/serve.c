/*
 * The Linux side of the net suite: Debian's nginx, from the initramfs,
 * serving the documents exo's httpd serves (the same sizes and bytes) on
 * the guest's virtio-net device, for wrk on the host. `/init serve IP`
 * loads the device's modules, brings eth0 up at IP/24, writes the
 * documents and nginx's configuration, starts nginx (one process, as exo's
 * httpd is one), prints "nginx: serving" once it accepts connections, and
 * waits: the host stops the VM when it has measured.
 */
#define _GNU_SOURCE
#include "bench.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The documents of exo's net suite: name and size; byte i is i * 31. */
static const struct {
    const char *name;
    int size;
} docs[] = {{"1k.bin", 1024}, {"10k.bin", 10 * 1024}, {"100k.bin", 100 * 1024}};

static void write_file(const char *path, const char *text, size_t len) {
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len)
        die(path);
    close(fd);
}

/* Sets `ifname`'s address (if `ip`) and brings it up. */
static void interface_up(const char *ifname, const char *ip) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        die("socket");
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strncpy(r.ifr_name, ifname, IFNAMSIZ - 1);
    if (ip) {
        struct sockaddr_in *a = (struct sockaddr_in *)&r.ifr_addr;
        a->sin_family = AF_INET;
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) {
            fprintf(stderr, "bench: serve: '%s' is not an IPv4 address\n", ip);
            exit(2);
        }
        if (ioctl(s, SIOCSIFADDR, &r) != 0)
            die("SIOCSIFADDR");
        inet_pton(AF_INET, "255.255.255.0", &a->sin_addr);
        if (ioctl(s, SIOCSIFNETMASK, &r) != 0)
            die("SIOCSIFNETMASK");
    }
    if (ioctl(s, SIOCGIFFLAGS, &r) != 0)
        die("SIOCGIFFLAGS");
    r.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &r) != 0)
        die("SIOCSIFFLAGS");
    close(s);
}

/* Whether something accepts connections on ip:80. */
static int accepting(const char *ip) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

void serve_suite(const char *ip) {
    if (!ip) {
        fprintf(stderr, "bench: serve: give the guest's address (serve IP)\n");
        exit(2);
    }
    load_modules();
    /* The device is probed asynchronously after its module loads. */
    for (int tries = 0; if_nametoindex("eth0") == 0; tries++) {
        if (tries == 500) {
            fprintf(stderr, "bench: serve: no eth0 (no virtio-net device?)\n");
            exit(1);
        }
        usleep(10000);
    }
    interface_up("lo", NULL);
    interface_up("eth0", ip);

    mkdir("/etc", 0755);
    mkdir("/tmp", 01777);
    mkdir("/www", 0755);
    /* nginx looks its user up even in one process. */
    const char passwd[] = "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
    const char group[] = "root:x:0:\nnogroup:x:65534:\n";
    write_file("/etc/passwd", passwd, sizeof passwd - 1);
    write_file("/etc/group", group, sizeof group - 1);
    static char data[100 * 1024];
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char path[64];
        for (int b = 0; b < docs[i].size; b++)
            data[b] = (char)(b * 31);
        snprintf(path, sizeof path, "/www/%s", docs[i].name);
        write_file(path, data, (size_t)docs[i].size);
    }
    char conf[1024];
    int n = snprintf(conf, sizeof conf,
                     "daemon off; master_process off; worker_processes 1;\n"
                     "pid /tmp/nginx.pid; error_log stderr;\n"
                     "events { worker_connections 256; }\n"
                     "http { access_log off; client_body_temp_path /tmp; proxy_temp_path /tmp;\n"
                     "  fastcgi_temp_path /tmp; uwsgi_temp_path /tmp; scgi_temp_path /tmp;\n"
                     "  server { listen %s:80; root /www; } }\n",
                     ip);
    write_file("/tmp/nginx.conf", conf, (size_t)n);

    pid_t p = fork();
    if (p < 0)
        die("fork");
    if (p == 0) {
        char *argv[] = {"/usr/sbin/nginx", "-p", "/tmp", "-e", "stderr", "-c", "/tmp/nginx.conf",
                        NULL};
        execv(argv[0], argv);
        die("exec /usr/sbin/nginx");
    }
    for (int tries = 0; !accepting(ip); tries++) {
        int st;
        if (tries == 1000 || waitpid(p, &st, WNOHANG) == p) {
            fprintf(stderr, "bench: serve: nginx never accepted connections\n");
            exit(1);
        }
        usleep(10000);
    }
    printf("nginx: serving\n");
    fflush(stdout);
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
        ;
    fprintf(stderr, "bench: serve: nginx ended\n");
    exit(1);
}
