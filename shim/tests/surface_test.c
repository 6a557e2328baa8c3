/*
 * Exercises every group of the interposed libc surface and prints a
 * transcript of what happened.  ctest runs it twice, plain and with
 * LD_PRELOAD=libswitchboard.so (compare_runs.cmake), and requires the same
 * transcript and exit status: with the no-op runtime the shim must be
 * invisible.  The program also checks its own results (exit 1 on a failed
 * CHECK), so both runs are known to be right, not merely equal.
 *
 * The transcript holds no pids, ports or addresses, so it is deterministic.
 * Children flush and print in turn: the parent waits for each.
 *
 *   sb_surface_test                  run everything
 *   sb_surface_test --print-argv …   (used by the exec tests) print argv and SB_TEST_ENV
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            failures++;                                                                 \
            printf("FAIL %s:%d: %s (errno %s)\n", __FILE__, __LINE__, #cond,            \
                   strerrorname_np(errno) ? strerrorname_np(errno) : "0");              \
            fflush(stdout);                                                             \
        }                                                                               \
    } while (0)

/* Prints one transcript line; flushed so that children's lines come in order. */
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static const char *errname(int e)
{
    const char *name = strerrorname_np(e);
    return name != NULL ? name : "0";
}

static char self_path[PATH_MAX];
static char self_dir[PATH_MAX];
/* This binary's name plus "_via_path": a symlink in self_dir that execvp/execlp/posix_spawnp find on PATH. */
static char path_name[NAME_MAX + 1];

/* Waits for a child and describes how it ended. */
static void report_child(const char *what, pid_t pid)
{
    int status = 0;
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status))
        say("%s: child exited %d", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        say("%s: child killed by signal %d", what, WTERMSIG(status));
}

/* ---- socket setup and I/O over TCP on loopback ---- */

static int tcp_listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    int one = 1;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)addr, sizeof *addr) == 0);
    CHECK(listen(fd, 8) == 0);
    socklen_t len = sizeof *addr;
    CHECK(getsockname(fd, (struct sockaddr *)addr, &len) == 0);
    return fd;
}

/* A connected TCP pair on loopback: *client and *server. */
static void tcp_pair(int *client, int *server)
{
    struct sockaddr_in addr;
    int listener = tcp_listener(&addr);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(*client >= 0);
    CHECK(connect(*client, (struct sockaddr *)&addr, sizeof addr) == 0);
    *server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    CHECK(*server >= 0);
    CHECK(close(listener) == 0);
}

static void wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    CHECK(poll(&p, 1, 5000) == 1);
}

static void test_tcp(void)
{
    struct sockaddr_in addr;
    int listener = tcp_listener(&addr);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(client, (struct sockaddr *)&addr, sizeof addr) == 0);
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof peer;
    int server = accept(listener, (struct sockaddr *)&peer, &peer_len);
    CHECK(server >= 0);
    say("accept: peer family %s", peer.sin_family == AF_INET ? "AF_INET" : "other");
    peer_len = sizeof peer;
    CHECK(getpeername(client, (struct sockaddr *)&peer, &peer_len) == 0);
    CHECK(peer.sin_port == addr.sin_port);

    int type = 0;
    socklen_t type_len = sizeof type;
    CHECK(getsockopt(server, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0);
    say("getsockopt SO_TYPE: %s", type == SOCK_STREAM ? "SOCK_STREAM" : "other");
    int one = 1;
    CHECK(setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);

    char buf[64] = {0};
    CHECK(send(client, "hello", 5, 0) == 5);
    wait_readable(server);
    int queued = -1;
    CHECK(ioctl(server, FIONREAD, &queued) == 0);
    say("ioctl FIONREAD: %d", queued);
    CHECK(recv(server, buf, sizeof buf, 0) == 5);
    say("send/recv: %.5s", buf);

    CHECK(write(server, "world", 5) == 5);
    wait_readable(client);
    CHECK(read(client, buf, sizeof buf) == 5);
    say("write/read: %.5s", buf);

    struct iovec out[2] = {{"ab", 2}, {"cde", 3}};
    CHECK(writev(client, out, 2) == 5);
    wait_readable(server);
    char a[2], b[3];
    struct iovec in[2] = {{a, 2}, {b, 3}};
    CHECK(readv(server, in, 2) == 5);
    say("writev/readv: %.2s|%.3s", a, b);

    struct iovec mout = {"msg", 3};
    struct msghdr mh = {.msg_iov = &mout, .msg_iovlen = 1};
    CHECK(sendmsg(server, &mh, 0) == 3);
    wait_readable(client);
    char m[8] = {0};
    struct iovec min = {m, sizeof m};
    struct msghdr mh_in = {.msg_iov = &min, .msg_iovlen = 1};
    CHECK(recvmsg(client, &mh_in, 0) == 3);
    say("sendmsg/recvmsg: %s", m);

    CHECK(sendto(client, "to", 2, 0, NULL, 0) == 2);
    wait_readable(server);
    memset(buf, 0, sizeof buf);
    CHECK(recvfrom(server, buf, sizeof buf, 0, NULL, NULL) == 2);
    say("sendto/recvfrom: %s", buf);

    CHECK(shutdown(client, SHUT_WR) == 0);
    CHECK(recv(server, buf, sizeof buf, 0) == 0);
    say("shutdown: peer reads EOF");
    CHECK(close(client) == 0);
    CHECK(close(server) == 0);

    /* A bound socket that does not listen refuses connections: errno must come through. */
    errno = 0;
    int refused = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(refused, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(close(refused) == 0);
    CHECK(close(listener) == 0);
    refused = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(refused, (struct sockaddr *)&addr, sizeof addr);
    say("connect to closed port: %d %s", rc, errname(errno));
    CHECK(close(refused) == 0);
}

static void test_udp_mmsg(void)
{
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    int tx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(rx, (struct sockaddr *)&addr, sizeof addr) == 0);
    socklen_t len = sizeof addr;
    CHECK(getsockname(rx, (struct sockaddr *)&addr, &len) == 0);
    CHECK(connect(tx, (struct sockaddr *)&addr, sizeof addr) == 0);

    struct iovec iov[2] = {{"one", 3}, {"two!", 4}};
    struct mmsghdr out[2] = {{.msg_hdr = {.msg_iov = &iov[0], .msg_iovlen = 1}},
                             {.msg_hdr = {.msg_iov = &iov[1], .msg_iovlen = 1}}};
    CHECK(sendmmsg(tx, out, 2, 0) == 2);
    wait_readable(rx);
    char b0[8] = {0}, b1[8] = {0};
    struct iovec riov[2] = {{b0, sizeof b0}, {b1, sizeof b1}};
    struct mmsghdr in[2] = {{.msg_hdr = {.msg_iov = &riov[0], .msg_iovlen = 1}},
                            {.msg_hdr = {.msg_iov = &riov[1], .msg_iovlen = 1}}};
    int got = recvmmsg(rx, in, 2, MSG_DONTWAIT, NULL);
    say("sendmmsg/recvmmsg: %d messages: %s (%u) %s (%u)", got, b0, in[0].msg_len, b1, in[1].msg_len);
    CHECK(got == 2);
    CHECK(close(rx) == 0);
    CHECK(close(tx) == 0);
}

static void test_sendfile_splice(void)
{
    int client, server;
    tcp_pair(&client, &server);
    char path[] = "/tmp/sb_surface_XXXXXX";
    int file = mkstemp(path);
    CHECK(file >= 0);
    CHECK(unlink(path) == 0);
    CHECK(write(file, "from a file", 11) == 11);
    off_t offset = 5;
    CHECK(sendfile(client, file, &offset, 6) == 6);
    char buf[16] = {0};
    wait_readable(server);
    CHECK(read(server, buf, sizeof buf) == 6);
    say("sendfile: %s (offset now %ld)", buf, (long)offset);

    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "piped", 5) == 5);
    CHECK(splice(p[0], NULL, client, NULL, 5, 0) == 5);
    memset(buf, 0, sizeof buf);
    wait_readable(server);
    CHECK(read(server, buf, sizeof buf) == 5);
    say("splice: %s", buf);
    CHECK(close(p[0]) == 0 && close(p[1]) == 0 && close(file) == 0);
    CHECK(close(client) == 0 && close(server) == 0);
}

/* ---- readiness ---- */

static void test_readiness(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(write(sv[1], "x", 1) == 1);

    struct pollfd pfd = {.fd = sv[0], .events = POLLIN | POLLOUT};
    CHECK(poll(&pfd, 1, 1000) == 1);
    say("poll: revents IN=%d OUT=%d", !!(pfd.revents & POLLIN), !!(pfd.revents & POLLOUT));
    struct timespec zero = {0, 0};
    pfd.revents = 0;
    CHECK(ppoll(&pfd, 1, &zero, NULL) == 1);
    say("ppoll: revents IN=%d", !!(pfd.revents & POLLIN));

    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(sv[0], &rd);
    struct timeval tv = {1, 0};
    CHECK(select(sv[0] + 1, &rd, NULL, NULL, &tv) == 1);
    say("select: readable=%d", FD_ISSET(sv[0], &rd) ? 1 : 0);
    FD_ZERO(&rd);
    FD_SET(sv[0], &rd);
    CHECK(pselect(sv[0] + 1, &rd, NULL, NULL, &zero, NULL) == 1);
    say("pselect: readable=%d", FD_ISSET(sv[0], &rd) ? 1 : 0);

    int old_ep = epoll_create(1);
    CHECK(old_ep >= 0);
    CHECK(close(old_ep) == 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
    struct epoll_event got[2];
    int n = epoll_wait(ep, got, 2, 1000);
    say("epoll_wait: %d event(s), data %u", n, n > 0 ? got[0].data.u32 : 0);
    n = epoll_pwait(ep, got, 2, 0, NULL);
    say("epoll_pwait: %d event(s)", n);
    n = epoll_pwait2(ep, got, 2, &zero, NULL);
    say("epoll_pwait2: %d event(s)", n);
    CHECK(close(ep) == 0 && close(sv[0]) == 0 && close(sv[1]) == 0);
}

/* ---- fd management ---- */

static void test_fd_management(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);

    /* fcntl without an argument, with an int, with a pointer. */
    int fl = fcntl(sv[0], F_GETFL);
    CHECK(fl >= 0);
    CHECK(fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) == 0);
    say("fcntl F_SETFL O_NONBLOCK: now %d", !!(fcntl(sv[0], F_GETFL) & O_NONBLOCK));
    char c;
    errno = 0;
    ssize_t r = read(sv[0], &c, 1);
    say("read on empty nonblocking socket: %zd %s", r, errname(errno));
    int high = fcntl(sv[0], F_DUPFD_CLOEXEC, 300);
    say("fcntl F_DUPFD_CLOEXEC 300: >=300 %d, cloexec %d", high >= 300, !!(fcntl(high, F_GETFD) & FD_CLOEXEC));
    CHECK(close(high) == 0);

    char path[] = "/tmp/sb_surface_lock_XXXXXX";
    int file = mkstemp(path);
    CHECK(file >= 0 && unlink(path) == 0);
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    CHECK(fcntl(file, F_GETLK, &lock) == 0);
    say("fcntl F_GETLK: %s", lock.l_type == F_UNLCK ? "F_UNLCK" : "locked");
    lock.l_type = F_WRLCK;
    CHECK(fcntl(file, F_SETLK, &lock) == 0);
    struct f_owner_ex owner;
    CHECK(fcntl(sv[0], F_GETOWN_EX, &owner) == 0);
    say("fcntl F_SETLK, F_GETOWN_EX: ok");
    CHECK(close(file) == 0);

    int on = 0;
    CHECK(ioctl(sv[1], FIONBIO, &on) == 0);
    say("ioctl FIONBIO off: nonblocking %d", !!(fcntl(sv[1], F_GETFL) & O_NONBLOCK));

    int d = dup(sv[0]);
    CHECK(d >= 0);
    CHECK(dup2(sv[0], 200) == 200);
    CHECK(dup3(sv[0], 201, O_CLOEXEC) == 201);
    say("dup3 O_CLOEXEC: cloexec %d", !!(fcntl(201, F_GETFD) & FD_CLOEXEC));
    CHECK(close_range(200, 201, 0) == 0);
    errno = 0;
    int gone = fcntl(200, F_GETFD);
    say("close_range 200..201, then fcntl(200): %d %s", gone, errname(errno));
    errno = 0;
    int closed = close(-1);
    say("close(-1): %d %s", closed, errname(errno));
    CHECK(close(d) == 0 && close(sv[0]) == 0 && close(sv[1]) == 0);
}

/* ---- fortify variants and aliases, called by name ---- */

extern ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
extern ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
extern ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr,
                              socklen_t *addr_len);
extern int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
extern int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *ss,
                       size_t fdslen);

/* Looks an alias up the way a program that links against it would reach it. */
static void *symbol(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    CHECK(p != NULL);
    return p;
}

static void test_fortify_and_aliases(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    char buf[8] = {0};
    struct pollfd pfd = {.fd = sv[0], .events = POLLIN};

    CHECK(write(sv[1], "abcdefgh", 8) == 8);
    CHECK(__poll_chk(&pfd, 1, 1000, sizeof pfd) == 1);
    CHECK(__ppoll_chk(&pfd, 1, NULL, NULL, sizeof pfd) == 1);
    CHECK(__read_chk(sv[0], buf, 3, sizeof buf) == 3);
    CHECK(__recv_chk(sv[0], buf + 3, 3, sizeof buf - 3, 0) == 3);
    CHECK(__recvfrom_chk(sv[0], buf + 6, 2, sizeof buf - 6, 0, NULL, NULL) == 2);
    say("fortify __poll_chk/__ppoll_chk/__read_chk/__recv_chk/__recvfrom_chk: %.8s", buf);

    /* An overflowing request must still abort exactly as glibc's own check does. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO); /* glibc's "buffer overflow detected" message */
        volatile size_t too_many = sizeof buf + 1; /* hidden from the compiler's own overflow check */
        _exit(__read_chk(sv[0], buf, too_many, sizeof buf) < 0 ? 1 : 0);
    }
    report_child("__read_chk overflow", pid);

    ssize_t (*read_alias)(int, void *, size_t) = (ssize_t (*)(int, void *, size_t))symbol("__read");
    ssize_t (*write_alias)(int, const void *, size_t) = (ssize_t (*)(int, const void *, size_t))symbol("__write");
    ssize_t (*send_alias)(int, const void *, size_t, int) = (ssize_t (*)(int, const void *, size_t, int))symbol("__send");
    int (*poll_alias)(struct pollfd *, nfds_t, int) = (int (*)(struct pollfd *, nfds_t, int))symbol("__poll");
    int (*select_alias)(int, fd_set *, fd_set *, fd_set *, struct timeval *) =
        (int (*)(int, fd_set *, fd_set *, fd_set *, struct timeval *))symbol("__select");
    int (*fcntl_alias)(int, int, ...) = (int (*)(int, int, ...))symbol("__fcntl");
    int (*fcntl64_alias)(int, int, ...) = (int (*)(int, int, ...))symbol("fcntl64");
    int (*dup2_alias)(int, int) = (int (*)(int, int))symbol("__dup2");
    int (*close_alias)(int) = (int (*)(int))symbol("__close");
    int (*connect_alias)(int, const struct sockaddr *, socklen_t) =
        (int (*)(int, const struct sockaddr *, socklen_t))symbol("__connect");
    ssize_t (*sendfile64_alias)(int, int, off_t *, size_t) = (ssize_t (*)(int, int, off_t *, size_t))symbol("sendfile64");

    CHECK(write_alias(sv[1], "12", 2) == 2);
    CHECK(send_alias(sv[1], "3", 1, 0) == 1);
    CHECK(poll_alias(&pfd, 1, 1000) == 1);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(sv[0], &rd);
    CHECK(select_alias(sv[0] + 1, &rd, NULL, NULL, NULL) == 1);
    memset(buf, 0, sizeof buf);
    CHECK(read_alias(sv[0], buf, sizeof buf) == 3);
    CHECK(fcntl_alias(sv[0], F_SETFD, FD_CLOEXEC) == 0);
    CHECK(fcntl64_alias(sv[0], F_GETFD) == FD_CLOEXEC);
    CHECK(dup2_alias(sv[0], 210) == 210);
    CHECK(close_alias(210) == 0);
    char path[] = "/tmp/sb_surface_sf_XXXXXX";
    int file = mkstemp(path);
    CHECK(file >= 0 && unlink(path) == 0 && write(file, "4", 1) == 1);
    off_t off = 0;
    CHECK(sendfile64_alias(sv[1], file, &off, 1) == 1);
    CHECK(read(sv[0], buf + 3, 1) == 1);
    struct sockaddr_in nowhere = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(bind(probe, (struct sockaddr *)&nowhere, sizeof nowhere) == 0); /* bound, not listening */
    socklen_t len = sizeof nowhere;
    CHECK(getsockname(probe, (struct sockaddr *)&nowhere, &len) == 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    int rc = connect_alias(s, (struct sockaddr *)&nowhere, sizeof nowhere);
    say("aliases __write/__send/__poll/__select/__read/__fcntl/fcntl64/__dup2/__close/sendfile64: %s; "
        "__connect: %d %s",
        buf, rc, errname(errno));
    CHECK(close(s) == 0 && close(probe) == 0 && close(file) == 0);
    CHECK(close(sv[0]) == 0 && close(sv[1]) == 0);
}

/* ---- process ---- */

static char *const child_argv[] = {"sb_surface_test", "--print-argv", "a", "b c", "", NULL};
static char *const child_env[] = {"SB_TEST_ENV=from envp", NULL};

/* Runs `body` in a forked child (which must exec or _exit) and reports how it ended. */
static void in_child(const char *what, void (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        _exit(126); /* the exec failed */
    }
    report_child(what, pid);
}

static void do_execv(void) { execv(self_path, child_argv); }
static void do_execve(void) { execve(self_path, child_argv, child_env); }
static void do_execvp(void)
{
    setenv("PATH", self_dir, 1);
    execvp(path_name, child_argv);
}
static void do_execvpe(void) { execvpe(self_path, child_argv, child_env); }
static void do_execveat(void) { execveat(AT_FDCWD, self_path, child_argv, child_env, 0); }
static void do_fexecve(void)
{
    int fd = open(self_path, O_RDONLY);
    fexecve(fd, child_argv, child_env);
}
static void do_execl(void) { execl(self_path, "sb_surface_test", "--print-argv", "a", "b c", "", (char *)NULL); }
static void do_execle(void)
{
    execle(self_path, "sb_surface_test", "--print-argv", "x", (char *)NULL, child_env);
}
static void do_execlp(void)
{
    setenv("PATH", self_dir, 1);
    execlp(path_name, "sb_surface_test", "--print-argv", "via PATH", (char *)NULL);
}

static void test_process(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        ssize_t w = write(p[1], "forked", 6);
        _exit(w == 6 ? 0 : 1);
    }
    report_child("fork", pid);
    char buf[16] = {0};
    CHECK(read(p[0], buf, sizeof buf) == 6);
    say("fork: parent read %s", buf);

    pid = _Fork();
    if (pid == 0)
        _exit(7);
    report_child("_Fork", pid);

    /* vfork: the child shares our stack; the parent's locals must survive it. */
    volatile int before = 1234;
    fflush(stdout);
    pid = vfork();
    if (pid == 0)
        _exit(42);
    report_child("vfork + _exit", pid);
    say("vfork: parent locals intact %d", before == 1234);

    fflush(stdout);
    pid = vfork();
    if (pid == 0) {
        execl(self_path, "sb_surface_test", "--print-argv", "vforked", (char *)NULL);
        _exit(126);
    }
    report_child("vfork + execl", pid);

    pid_t (*vfork_alias)(void) = (pid_t(*)(void))symbol("__vfork");
    fflush(stdout);
    pid = vfork_alias();
    if (pid == 0)
        _exit(43);
    report_child("__vfork + _exit", pid);
    pid_t (*fork_alias)(void) = (pid_t(*)(void))symbol("__fork");
    pid = fork_alias();
    if (pid == 0)
        _exit(44);
    report_child("__fork + _exit", pid);

    in_child("execv", do_execv);
    in_child("execve", do_execve);
    in_child("execvp", do_execvp);
    in_child("execvpe", do_execvpe);
    in_child("execveat", do_execveat);
    in_child("fexecve", do_fexecve);
    in_child("execl", do_execl);
    in_child("execle", do_execle);
    in_child("execlp", do_execlp);
    errno = 0;
    int missing = execl("/nonexistent/sb", "sb", (char *)NULL);
    say("execl of a missing file: %d %s", missing, errname(errno));

    fflush(stdout);
    CHECK(posix_spawn(&pid, self_path, NULL, NULL, child_argv, child_env) == 0);
    report_child("posix_spawn", pid);
    char *saved_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", self_dir, 1);
    CHECK(posix_spawnp(&pid, path_name, NULL, NULL, child_argv, environ) == 0);
    report_child("posix_spawnp", pid);
    if (saved_path != NULL) {
        setenv("PATH", saved_path, 1);
        free(saved_path);
    }

    /* daemon() forks; its parent half exits 0, the daemon reports through the pipe. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (daemon(1, 1) != 0)
            _exit(1);
        ssize_t w = write(p[1], "daemon", 6);
        _exit(w == 6 ? 0 : 1);
    }
    report_child("daemon (its parent half)", pid);
    memset(buf, 0, sizeof buf);
    CHECK(read(p[0], buf, sizeof buf) == 6);
    say("daemon: read %s", buf);
    CHECK(close(p[0]) == 0 && close(p[1]) == 0);
}

static int print_argv(int argc, char **argv)
{
    printf("  argv:");
    for (int i = 0; i < argc; i++)
        printf(" [%s]", argv[i]);
    const char *env = getenv("SB_TEST_ENV");
    printf(" SB_TEST_ENV=%s\n", env != NULL ? env : "(unset)");
    return 0;
}

/* With SB_EXPECT_SHIM=1 (the preloaded run), the calls above must really have gone through the shim. */
static void check_shim_presence(void)
{
    const char *expect = getenv("SB_EXPECT_SHIM");
    Dl_info info;
    void *connect_fn = dlsym(RTLD_DEFAULT, "connect");
    int in_shim = connect_fn != NULL && dladdr(connect_fn, &info) != 0 && info.dli_fname != NULL &&
                  strstr(info.dli_fname, "libswitchboard") != NULL;
    CHECK(in_shim == (expect != NULL && strcmp(expect, "1") == 0));
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--print-argv") == 0)
        return print_argv(argc, argv);

    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    CHECK(n > 0);
    char scratch[PATH_MAX];
    strcpy(scratch, self_path);
    snprintf(self_dir, sizeof self_dir, "%s", dirname(scratch));
    strcpy(scratch, self_path);
    snprintf(path_name, sizeof path_name, "%.*s_via_path", NAME_MAX - 9, basename(scratch));
    char link_path[PATH_MAX + NAME_MAX + 2];
    snprintf(link_path, sizeof link_path, "%s/%s", self_dir, path_name);
    if (access(link_path, X_OK) != 0)
        CHECK(symlink(self_path, link_path) == 0 || errno == EEXIST);
    signal(SIGPIPE, SIG_IGN);

    check_shim_presence();
    test_tcp();
    test_udp_mmsg();
    test_sendfile_splice();
    test_readiness();
    test_fd_management();
    test_fortify_and_aliases();
    test_process();
    say("failures: %d", failures);
    return failures == 0 ? 0 : 1;
}
