/*
 * getifaddrs under the shim (shim/src/ifaddrs.c), run preloaded in a network
 * namespace of its own (unshare(CLONE_NEWNET); exit 77, skipped, where that
 * is not allowed): its loopback is down and has no address.
 *
 *  1. without $SWITCHBOARD_SOCKET the shim passes glibc's list on unchanged;
 *  2. with it, lo is up and running, with 127.0.0.1/8 and ::1/128, once each;
 *  3. the same from 4 threads at once, 500 lists each (freeifaddrs tells the
 *     shim's lists from glibc's: the sanitizer build catches a leak or a
 *     wrong free);
 *  4. once lo is really up (the kernel gives it 127.0.0.1), the list is
 *     glibc's again: no address twice.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                \
			fprintf(stderr, __VA_ARGS__);                                                                  \
			fputc('\n', stderr);                                                                           \
			__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);                                            \
		}                                                                                                      \
	} while (0)

/* What a list says about lo. */
struct lo_view {
	int nodes;           /* entries named lo */
	int down;            /* of them, without IFF_UP or IFF_RUNNING */
	int v4, v6;          /* 127.0.0.1 and ::1 entries */
	int v4_mask_ok, v6_mask_ok;
	int others;          /* entries of other interfaces */
};

static struct lo_view look(const struct ifaddrs *list)
{
	struct lo_view v = {0};
	for (const struct ifaddrs *p = list; p != NULL; p = p->ifa_next) {
		if (strcmp(p->ifa_name, "lo") != 0) {
			v.others++;
			continue;
		}
		v.nodes++;
		if ((p->ifa_flags & (IFF_UP | IFF_RUNNING | IFF_LOOPBACK)) != (IFF_UP | IFF_RUNNING | IFF_LOOPBACK))
			v.down++;
		if (p->ifa_addr == NULL)
			continue;
		if (p->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)p->ifa_addr, *m = (const void *)p->ifa_netmask;
			if (a->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
				v.v4++;
				v.v4_mask_ok += m != NULL && m->sin_family == AF_INET && m->sin_addr.s_addr == htonl(0xff000000u);
			}
		} else if (p->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)p->ifa_addr, *m = (const void *)p->ifa_netmask;
			static const unsigned char ones[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
							       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
			if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) {
				v.v6++;
				v.v6_mask_ok += m != NULL && m->sin6_family == AF_INET6 && memcmp(&m->sin6_addr, ones, 16) == 0;
			}
		}
	}
	return v;
}

static struct lo_view list_once(void)
{
	struct ifaddrs *list = NULL;
	int rc = getifaddrs(&list);
	CHECK(rc == 0, "getifaddrs: %s", strerror(errno));
	struct lo_view v = look(list);
	freeifaddrs(list);
	return v;
}

static void expect_circuit_loopback(struct lo_view v, const char *when)
{
	CHECK(v.nodes >= 3, "%s: %d lo entries (a link and two addresses expected)", when, v.nodes);
	CHECK(v.down == 0, "%s: %d lo entries not up and running", when, v.down);
	CHECK(v.v4 == 1 && v.v4_mask_ok == 1, "%s: 127.0.0.1/8 %d times (%d with the /8 mask)", when, v.v4, v.v4_mask_ok);
	CHECK(v.v6 == 1 && v.v6_mask_ok == 1, "%s: ::1/128 %d times (%d with the /128 mask)", when, v.v6, v.v6_mask_ok);
	CHECK(v.others == 0, "%s: %d entries of other interfaces", when, v.others);
}

static void *lists(void *arg)
{
	(void)arg;
	for (int i = 0; i < 500; i++) {
		struct lo_view v = list_once();
		if (v.down != 0 || v.v4 != 1 || v.v6 != 1) {
			expect_circuit_loopback(v, "from a thread");
			break;
		}
	}
	return NULL;
}

int main(void)
{
	unsetenv("SWITCHBOARD_SOCKET");
	if (unshare(CLONE_NEWNET) != 0) {
		printf("skipped: cannot create a network namespace (%s)\n", strerror(errno));
		return 77;
	}

	/* 1. No operator: what the namespace has (lo, down, no address). */
	struct lo_view plain = list_once();
	CHECK(plain.nodes == 1 && plain.down == 1 && plain.v4 == 0 && plain.v6 == 0,
	      "without an operator: %d lo entries, %d down, %d v4, %d v6", plain.nodes, plain.down, plain.v4, plain.v6);

	/* 2. Under an operator (the variable is all the shim looks at here; nothing connects to it). */
	setenv("SWITCHBOARD_SOCKET", "/nonexistent/switchboard-ifaddrs-test.sock", 1);
	expect_circuit_loopback(list_once(), "under an operator");

	/* 3. Threads: the registry of the shim's lists under contention. */
	pthread_t threads[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&threads[i], NULL, lists, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	freeifaddrs(NULL); /* glibc allows it; so must the shim */

	/* 4. A loopback that is really up: the kernel's list, nothing added. */
	unsetenv("SWITCHBOARD_SOCKET"); /* a kernel socket for the ioctl, not one of the shim's */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	CHECK(fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0, "SIOCGIFFLAGS: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS lo up: %s", strerror(errno));
	close(fd);
	struct lo_view kernel = list_once();
	setenv("SWITCHBOARD_SOCKET", "/nonexistent/switchboard-ifaddrs-test.sock", 1);
	struct lo_view shown = list_once();
	CHECK(kernel.v4 == 1 && kernel.down == 0, "the kernel's loopback: %d v4, %d down", kernel.v4, kernel.down);
	CHECK(memcmp(&kernel, &shown, sizeof(kernel)) == 0,
	      "a loopback that is up is shown as it is: %d/%d entries, v4 %d/%d, v6 %d/%d", kernel.nodes, shown.nodes,
	      kernel.v4, shown.v4, kernel.v6, shown.v6);

	if (failures != 0) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok: lo shown up with 127.0.0.1/8 and ::1/128 under an operator, unchanged otherwise\n");
	return 0;
}
