/*
 * echo.c - TCP echo on 127.0.0.1: round trips per second and server CPU
 * per round trip (IO-ANCHORS.md section 4.3, the echo benchmark).
 *
 *   echo N [connsC [LABEL]]              the weft server (runtime=LABEL,
 *                                        default weft)
 *   echo N connsC LABEL PROG [ARG...]    another server (runtime=LABEL)
 *
 * The load client is this process: a plain single-thread epoll loop
 * (edge-triggered) with C connections (TCP_NODELAY), each sending a
 * 512-byte message and waiting for its whole echo before the next, N round
 * trips in all, the connections always all busy.  The server runs in a
 * child process: weft (a task per connection, weft_read/weft_write with a
 * 4 KiB buffer, the acceptor as in examples/echo_server.c; forked, on the
 * backend WEFT_IO picks) or PROG, exec'd with its ARGs, which must listen
 * on 127.0.0.1, print its port as a decimal line on stdout and echo every
 * connection until killed (bench/echo_epoll.c, bench/peers/go/cmd/echo,
 * bench/peers/tokio/src/bin/echo.rs).  So every server meets the same
 * client; only the server differs.
 *
 * Server CPU is the child's utime + stime from /proc/PID/stat (all its
 * threads; clock ticks, usually 10 ms) over the measured part, after a
 * warm-up of N/10 + 1 round trips; vmhwm_kib is the server's VmHWM.  The
 * server is killed (SIGKILL) at the end; a server that exits early, or a
 * load that stalls for 5 s, fails the run (exit 1).
 *
 * Prints: name=echo runtime=R n=N secs=S ns_per_op=NS variant=connsC
 * rt_per_sec=RT server_cpu_us_per_rt=U server_cpu_ns_per_rt=NS
 * vmhwm_kib=K
 */
#include "bench.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
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
    int out = *(int *)arg; /* the pipe to the parent */
    int l = weft_tcp_listen("127.0.0.1", 0, 1024);
    if (l < 0)
        return (void *)1;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &len);
    char line[16];
    int k = snprintf(line, sizeof line, "%u\n", (unsigned)ntohs(a.sin_port));
    if (write(out, line, (size_t)k) != k)
        return (void *)1;
    close(out);
    return server(&l);
}

/* ---- the load client (parent) ------------------------------------------- */

/* The server's utime + stime in seconds (every thread), -1 if unreadable. */
static double cpu_secs(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
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
    return -1;
}

/* The server's VmHWM in KiB (0 if unreadable). */
static unsigned long vmhwm_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    unsigned long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lu", &kib) == 1)
            break;
    fclose(f);
    return kib;
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

/* Starts the server in a child; returns its pid and sets *port, or -1. */
static pid_t start_server(char **prog, uint16_t *port)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Dies with the client, even when the client is killed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (!prog) {
            close(p[0]);
            int out = p[1];
            weft_run(listen_root, &out, NULL);
            _exit(0);
        }
        if (dup2(p[1], STDOUT_FILENO) < 0)
            _exit(127);
        execvp(prog[0], prog);
        fprintf(stderr, "echo: cannot run %s: %s\n", prog[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    char line[32];
    size_t k = 0;
    /* One line: the port.  EOF before it: the server failed. */
    while (k + 1 < sizeof line) {
        ssize_t r = read(p[0], line + k, 1);
        if (r <= 0 || line[k] == '\n')
            break;
        k++;
    }
    line[k] = '\0';
    close(p[0]);
    char *end;
    unsigned long v = strtoul(line, &end, 10);
    if (k == 0 || *end != '\0' || v == 0 || v > 65535) {
        fprintf(stderr, "echo: the server printed no port ('%s')\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    *port = (uint16_t)v;
    return pid;
}

int main(int argc, char **argv)
{
    uint64_t n = bench_parse_n(argc, argv, 200000);
    const char *variant = bench_variant(argc, argv, "conns50");
    int nc = atoi(variant + (strncmp(variant, "conns", 5) == 0 ? 5 : 0));
    if (nc <= 0 || nc > 4096) {
        fprintf(stderr, "usage: echo N [connsC [LABEL [PROG [ARG...]]]], "
                        "0 < C <= 4096\n");
        return 2;
    }
    const char *label = argc > 3 ? argv[3] : "weft";
    /* The client's writes to a dead server must fail, not kill it. */
    signal(SIGPIPE, SIG_IGN);
    uint16_t port = 0;
    pid_t pid = start_server(argc > 4 ? argv + 4 : NULL, &port);
    if (pid < 0)
        return 1;

    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    client *cs = calloc((size_t)nc, sizeof *cs);
    int rc = ep >= 0 && cs ? 0 : -1;
    for (int i = 0; i < nc && rc == 0; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cs[i].fd = fd;
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            rc = -1;
            break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
                                 .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    if (rc == 0)
        rc = load(ep, cs, nc, n / 10 + 1); /* warm-up */
    double cpu0 = cpu_secs(pid), t0 = now_s();
    if (rc == 0)
        rc = load(ep, cs, nc, n);
    double secs = now_s() - t0, cpu1 = cpu_secs(pid);
    unsigned long hwm = vmhwm_kib(pid);
    /* Still running (not a zombie that exited on its own)? */
    int alive = waitpid(pid, NULL, WNOHANG) == 0;
    for (int i = 0; cs && i < nc; i++)
        if (cs[i].fd > 0)
            close(cs[i].fd);
    free(cs);
    if (ep >= 0)
        close(ep);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (rc != 0 || !alive || cpu0 < 0 || cpu1 < 0) {
        fprintf(stderr, "echo: the load against %s failed%s\n", label,
                alive ? "" : " (the server exited)");
        return 1;
    }
    double cpu = cpu1 - cpu0;
    printf("name=echo runtime=%s n=%llu secs=%.3f ns_per_op=%.0f "
           "variant=%s rt_per_sec=%.0f server_cpu_us_per_rt=%.2f "
           "server_cpu_ns_per_rt=%.0f vmhwm_kib=%lu\n",
           label, (unsigned long long)n, secs, secs * 1e9 / (double)n, variant,
           (double)n / secs, cpu * 1e6 / (double)n, cpu * 1e9 / (double)n, hwm);
    return 0;
}
