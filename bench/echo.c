/*
 * echo.c - TCP echo on 127.0.0.1: round trips per second and server CPU
 * per round trip (IO-ANCHORS.md section 4.3, the echo benchmark).
 *
 *   echo N [conns1|conns50|conns500]
 *
 * The server is weft (a task per connection, weft_read/weft_write, the
 * acceptor as in examples/echo_server.c) in a forked child; the load client
 * is this process: a plain single-thread epoll loop with C connections, each
 * sending a 512-byte message and waiting for its echo, N round trips in
 * all.  Server CPU is the child's utime + stime (/proc/PID/stat) over the
 * measured part, after a warm-up of N/10 round trips.
 *
 * Prints: name=echo runtime=weft n=N secs=S ns_per_op=NS variant=connsC
 * rt_per_sec=R server_cpu_us_per_rt=U
 */
#include "bench.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG 512

/* ---- the weft server (child) -------------------------------------------- */

static void *conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = weft_read(fd, buf, sizeof buf)) > 0)
        if (weft_write(fd, buf, (size_t)n) < 0)
            break;
    weft_close(fd);
    return NULL;
}

static void *server(void *arg)
{
    int l = *(int *)arg;
    int fd;
    while ((fd = weft_tcp_accept(l, NULL)) >= 0) {
        weft_task *t = weft_spawn(conn, (void *)(intptr_t)fd);
        if (t)
            weft_task_detach(t);
        else
            weft_close(fd);
    }
    return NULL;
}

static void *listen_root(void *arg)
{
    int *io = arg; /* [0]: out listener, [1]: pipe to the parent */
    int l = weft_tcp_listen("127.0.0.1", 0, 1024);
    if (l < 0)
        return (void *)1;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &len);
    uint16_t port = ntohs(a.sin_port);
    if (write(io[1], &port, sizeof port) != sizeof port)
        return (void *)1;
    return server(&l);
}

/* ---- the load client (parent) ------------------------------------------- */

static double cpu_secs(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* fields after the command: state(3) ... utime(14) stime(15) */
    if (p &&
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) == 2)
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct client {
    int fd;
    size_t got; /* bytes of the current echo received */
} client;

/* Runs `rts` round trips over the connections; 0 or -1. */
static int load(int ep, client *cs, int nc, uint64_t rts)
{
    static char msg[MSG], buf[MSG];
    uint64_t started = 0, done = 0;
    for (int i = 0; i < nc && started < rts; i++, started++)
        if (write(cs[i].fd, msg, MSG) != MSG)
            return -1;
    struct epoll_event evs[256];
    while (done < rts) {
        int n = epoll_wait(ep, evs, 256, 5000);
        if (n <= 0)
            return -1;
        for (int k = 0; k < n; k++) {
            client *c = &cs[evs[k].data.u32];
            for (;;) {
                ssize_t r = read(c->fd, buf, MSG - c->got);
                if (r <= 0)
                    break;
                c->got += (size_t)r;
                if (c->got < MSG)
                    continue;
                c->got = 0;
                done++;
                if (started < rts) {
                    started++;
                    if (write(c->fd, msg, MSG) != MSG)
                        return -1;
                }
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t n = bench_parse_n(argc, argv, 200000);
    const char *variant = bench_variant(argc, argv, "conns50");
    int nc = atoi(variant + (strncmp(variant, "conns", 5) == 0 ? 5 : 0));
    if (nc <= 0 || nc > 4096) {
        fprintf(stderr, "echo: variant connsN, 0 < N <= 4096\n");
        return 2;
    }
    int p[2];
    if (pipe(p) != 0)
        return 1;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(p[0]);
        int io[2] = {-1, p[1]};
        weft_run(listen_root, io, NULL);
        _exit(0);
    }
    close(p[1]);
    uint16_t port = 0;
    if (read(p[0], &port, sizeof port) != sizeof port)
        return 1;
    close(p[0]);

    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    client *cs = calloc((size_t)nc, sizeof *cs);
    for (int i = 0; i < nc; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
            return 1;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
                                 .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    int rc = load(ep, cs, nc, n / 10 + 1); /* warm-up */
    double cpu0 = cpu_secs(pid), t0 = now_s();
    if (rc == 0)
        rc = load(ep, cs, nc, n);
    double secs = now_s() - t0, cpu = cpu_secs(pid) - cpu0;
    for (int i = 0; i < nc; i++)
        close(cs[i].fd);
    free(cs);
    close(ep);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (rc != 0) {
        fprintf(stderr, "echo: the load failed\n");
        return 1;
    }
    printf("name=echo runtime=weft n=%llu secs=%.3f ns_per_op=%.0f "
           "variant=%s rt_per_sec=%.0f server_cpu_us_per_rt=%.2f\n",
           (unsigned long long)n, secs, secs * 1e9 / (double)n, variant,
           (double)n / secs, cpu * 1e6 / (double)n);
    return 0;
}
