/* A private network namespace with only loopback, for one sequence. */
#include "verifier.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Maps our uid/gid into a new user namespace so that an unprivileged user can own a netns. */
static int map_ids(uid_t uid, gid_t gid)
{
	char buf[64];
	int fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "deny", 4) < 0) { /* older kernels have no setgroups file */ }
		close(fd);
	}
	const struct { const char *file; unsigned id; } maps[] = {
		{ "/proc/self/uid_map", uid }, { "/proc/self/gid_map", gid },
	};
	for (unsigned i = 0; i < 2; i++) {
		fd = open(maps[i].file, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return errno;
		int n = snprintf(buf, sizeof buf, "%u %u 1\n", maps[i].id, maps[i].id);
		ssize_t w = write(fd, buf, (size_t)n);
		int saved = errno;
		close(fd);
		if (w != n)
			return w < 0 ? saved : EIO;
	}
	return 0;
}

static int loopback_up(void)
{
	/* An AF_UNIX socket carries the interface ioctls too (sock_do_ioctl → dev_ioctl),
	 * and the shim passes AF_UNIX straight through in the circuit column. */
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	int err = 0;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		err = errno;
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			err = errno;
	}
	close(s);
	return err;
}

int sbv_enter_netns(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (unshare(CLONE_NEWNET) < 0) {
		int first = errno;
		/* Not root: a user namespace may still let us own a network namespace. */
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0 || map_ids(uid, gid) != 0) {
			fprintf(stderr,
				"verifier: cannot create a network namespace (%s). Each sequence runs in its own\n"
				"namespace so that ports and TIME_WAIT of one cannot disturb another: run as root,\n"
				"or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1).\n",
				strerror(first));
			return first;
		}
	}
	int err = loopback_up();
	if (err)
		fprintf(stderr, "verifier: cannot bring loopback up in the new namespace: %s\n", strerror(err));
	return err;
}
