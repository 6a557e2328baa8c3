/*
 * What idle circuits cost: N circuits between two processes, set up the way
 * the operator will (the creator passes the memfd and one endpoint socket to
 * the other process over SCM_RIGHTS), each endpoint attached and polled once
 * (which touches page 0), and no data sent.
 *
 *   sb_circuit_idle_memory --count N [--ring SIZE] [--check]
 *
 * Reports, per circuit: memfd memory (Shmem in /proc/meminfo), each process's
 * resident memory and page tables (/proc/self/status), kernel slab (the two
 * sockets, the memfd's inode and files), the address space each endpoint
 * maps, and the set-up time.  --check fails unless a circuit costs at most
 * two pages of memfd memory and of resident memory per process (one is
 * expected: page 0).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "circuit.h"

struct usage {
	long rss_kb, rss_anon_kb, rss_shmem_kb, pte_kb, vm_kb;
};

static _Noreturn void die(const char *what, int err)
{
	fprintf(stderr, "idle_memory: %s: %s\n", what, strerror(err));
	exit(1);
}

static long field_kb(const char *path, const char *name)
{
	FILE *f = fopen(path, "r");
	char line[256];
	long v = -1;
	size_t n = strlen(name);
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	if (f != NULL)
		fclose(f);
	return v;
}

static struct usage self_usage(void)
{
	const char *s = "/proc/self/status";
	return (struct usage){ field_kb(s, "VmRSS"), field_kb(s, "RssAnon"), field_kb(s, "RssShmem"),
			       field_kb(s, "VmPTE"), field_kb(s, "VmSize") };
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_fds(int sock, int a, int b)
{
	char byte = 'c';
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	int fds[2] = { a, b };
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	if (sendmsg(sock, &m, 0) != 1)
		die("sendmsg", errno);
}

static void recv_fds(int sock, int *a, int *b)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		die("recvmsg", errno);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS)
		die("no fds", EPROTO);
	int fds[2];
	memcpy(fds, CMSG_DATA(c), sizeof fds);
	*a = fds[0];
	*b = fds[1];
}

static void raise_fd_limit(void)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* The acceptors' process: attaches whatever arrives, then reports its usage growth. */
static void acceptor_process(int ctl, long count)
{
	struct sb_circuit *c = calloc((size_t)count, sizeof *c);
	struct usage before = self_usage();
	for (long i = 0; i < count; i++) {
		int memfd, endpoint;
		recv_fds(ctl, &memfd, &endpoint);
		int rc = sb_circuit_attach(&c[i], memfd, endpoint, SB_ROLE_ACCEPTOR);
		if (rc < 0)
			die("attach", -rc);
		close(memfd);
		(void)sb_circuit_poll(&c[i]);
	}
	struct usage after = self_usage();
	struct usage delta = { after.rss_kb - before.rss_kb, after.rss_anon_kb - before.rss_anon_kb,
			       after.rss_shmem_kb - before.rss_shmem_kb, after.pte_kb - before.pte_kb,
			       after.vm_kb - before.vm_kb };
	if (write(ctl, &delta, sizeof delta) != sizeof delta)
		die("report", errno);
	char done;
	if (read(ctl, &done, 1) < 0) /* stay attached until the parent has measured */
		die("wait", errno);
	exit(0);
}

static void print_per_circuit(const char *what, long total_kb, long count)
{
	printf("  %-40s %10.0f bytes  (%ld KiB in all)\n", what, (double)total_kb * 1024 / (double)count, total_kb);
}

int main(int argc, char **argv)
{
	long count = 1000;
	uint64_t ring = 0;
	bool check = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = strtol(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--ring") == 0 && i + 1 < argc)
			ring = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--check") == 0)
			check = true;
	}
	if (ring == 0)
		ring = sb_circuit_default_ring_size();
	raise_fd_limit();
	int ctl[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
		die("socketpair", errno);
	const char *mi = "/proc/meminfo";
	long shmem0 = field_kb(mi, "Shmem"), slab0 = field_kb(mi, "Slab"), pte0 = field_kb(mi, "PageTables");
	pid_t pid = fork();
	if (pid == 0) {
		close(ctl[0]);
		acceptor_process(ctl[1], count);
	}
	close(ctl[1]);
	struct sb_circuit *c = calloc((size_t)count, sizeof *c);
	struct usage before = self_usage();
	struct sb_circuit_geometry g = { .mode = SB_CIRCUIT_STREAM, .ring_size = { ring, ring } };
	double t0 = seconds();
	for (long i = 0; i < count; i++) {
		int memfd = sb_circuit_create(&g);
		int sv[2];
		if (memfd < 0)
			die("create", -memfd);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			die("socketpair (raise ulimit -n?)", errno);
		int rc = sb_circuit_attach(&c[i], memfd, sv[0], SB_ROLE_CONNECTOR);
		if (rc < 0)
			die("attach", -rc);
		send_fds(ctl[0], memfd, sv[1]);
		close(memfd);
		close(sv[1]);
		(void)sb_circuit_poll(&c[i]);
	}
	struct usage acc;
	if (read(ctl[0], &acc, sizeof acc) != sizeof acc)
		die("the acceptors' report", errno);
	double dt = seconds() - t0;
	struct usage after = self_usage();
	long shmem = field_kb(mi, "Shmem") - shmem0, slab = field_kb(mi, "Slab") - slab0;
	long pte = field_kb(mi, "PageTables") - pte0;

	printf("%ld idle circuits, rings of %llu KiB (each endpoint maps %llu KiB of address space)\n", count,
	       (unsigned long long)(ring >> 10), (unsigned long long)(c[0].map_len >> 10));
	printf("per circuit:\n");
	print_per_circuit("memfd memory (Shmem)", shmem, count);
	print_per_circuit("connector process: resident (VmRSS)", after.rss_kb - before.rss_kb, count);
	print_per_circuit("  of which shared memory (RssShmem)", after.rss_shmem_kb - before.rss_shmem_kb, count);
	print_per_circuit("  of which private (RssAnon)", after.rss_anon_kb - before.rss_anon_kb, count);
	print_per_circuit("  page tables (VmPTE)", after.pte_kb - before.pte_kb, count);
	print_per_circuit("acceptor process: resident (VmRSS)", acc.rss_kb, count);
	print_per_circuit("  of which shared memory (RssShmem)", acc.rss_shmem_kb, count);
	print_per_circuit("  page tables (VmPTE)", acc.pte_kb, count);
	print_per_circuit("kernel: page tables, both (PageTables)", pte, count);
	print_per_circuit("kernel: slab (sockets, files, inodes)", slab, count);
	printf("  %-40s %10.1f us\n", "set-up (create, 2 attaches, fd passing)", dt * 1e6 / (double)count);

	if (write(ctl[0], "q", 1) != 1)
		die("release", errno);
	waitpid(pid, NULL, 0);
	if (check) {
		double page = 4096.0;
		bool ok = (double)shmem * 1024 / (double)count <= 2 * page &&
			  (double)(after.rss_shmem_kb - before.rss_shmem_kb) * 1024 / (double)count <= 2 * page &&
			  (double)acc.rss_shmem_kb * 1024 / (double)count <= 2 * page;
		printf("%s\n", ok ? "idle circuits cost one page each" : "FAIL: idle circuits cost more than two pages each");
		return ok ? 0 : 1;
	}
	return 0;
}
