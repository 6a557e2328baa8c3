/*
 * getifaddrs/freeifaddrs: the circuit network's loopback, for programs under
 * an operator.
 *
 * An isolated program's network namespace has one interface, lo, down and
 * without addresses, yet 127.0.0.1 and ::1 work over circuits.  Servers that
 * bind every address of every interface they find (BIND's named, with
 * `listen-on { 127.0.0.1; }` too: it only listens on addresses an interface
 * has) would then listen on nothing.  So when the shim runs under an operator
 * ($SWITCHBOARD_SOCKET) and glibc's list has no loopback that is up with
 * 127.0.0.1, the program sees lo flagged IFF_UP|IFF_RUNNING, with
 * 127.0.0.1/8 and ::1/128 added where missing.  A namespace whose loopback is
 * up already (a program run without isolation) gets glibc's list unchanged.
 *
 * glibc's list is one allocation, the caller's to change until it frees it:
 * the flags are set in place and our nodes (one allocation of their own) are
 * linked in after lo's last node.  freeifaddrs must then free both: a
 * registry of the lists we changed, keyed by the head the program got, tells
 * them from glibc's own (reading a marker out of a pointer we did not
 * allocate could run past glibc's block).
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sb_libc.h"
#include "sock/control.h"

/* What we add to one list: lo's missing address nodes and their storage. */
struct sb_ifaddrs_extra {
	struct ifaddrs nodes[2];
	struct sockaddr_in addr4, mask4;
	struct sockaddr_in6 addr6, mask6;
	char name[IFNAMSIZ];
	struct ifaddrs *head;  /* what the program got: the registry's key */
	struct ifaddrs *glibc; /* glibc's list (NULL when it had none), for libc_freeifaddrs */
	struct sb_ifaddrs_extra *next;
};

static pthread_mutex_t sb_ifaddrs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sb_ifaddrs_extra *sb_ifaddrs_changed;

static bool sb_is_loopback(const struct ifaddrs *p)
{
	return (p->ifa_flags & IFF_LOOPBACK) != 0;
}

static bool sb_is_addr4_loopback(const struct ifaddrs *p)
{
	return p->ifa_addr != NULL && p->ifa_addr->sa_family == AF_INET &&
	       ((const struct sockaddr_in *)(const void *)p->ifa_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
}

static bool sb_is_addr6_loopback(const struct ifaddrs *p)
{
	return p->ifa_addr != NULL && p->ifa_addr->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)p->ifa_addr)->sin6_addr);
}

static void sb_fill_node(struct ifaddrs *n, char *name, unsigned flags, struct sockaddr *addr, struct sockaddr *mask)
{
	n->ifa_name = name;
	n->ifa_flags = flags;
	n->ifa_addr = addr;
	n->ifa_netmask = mask;
	n->ifa_broadaddr = NULL; /* a loopback has neither broadcast nor point-to-point peer */
	n->ifa_data = NULL;      /* glibc keeps statistics on the AF_PACKET node only */
}

int sb_getifaddrs(struct ifaddrs **ifap)
{
	int rc = libc_getifaddrs(ifap);
	if (rc != 0 || !sb_control_enabled())
		return rc;
	struct ifaddrs *list = *ifap;

	bool up_with_v4 = false, have_v4 = false, have_v6 = false;
	struct ifaddrs *lo_last = NULL;
	for (struct ifaddrs *p = list; p != NULL; p = p->ifa_next) {
		if (!sb_is_loopback(p))
			continue;
		lo_last = p;
		if (sb_is_addr4_loopback(p)) {
			have_v4 = true;
			up_with_v4 |= (p->ifa_flags & IFF_UP) != 0;
		}
		have_v6 |= sb_is_addr6_loopback(p);
	}
	if (up_with_v4)
		return 0; /* the namespace has a working loopback of its own */

	const unsigned up = IFF_UP | IFF_RUNNING;
	for (struct ifaddrs *p = list; p != NULL; p = p->ifa_next)
		if (sb_is_loopback(p))
			p->ifa_flags |= up;
	if (have_v4 && have_v6)
		return 0;

	struct sb_ifaddrs_extra *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		libc_freeifaddrs(list);
		*ifap = NULL;
		errno = ENOMEM; /* as glibc, when its own allocation fails */
		return -1;
	}
	strncpy(x->name, lo_last != NULL ? lo_last->ifa_name : "lo", sizeof(x->name) - 1);
	unsigned flags = (lo_last != NULL ? lo_last->ifa_flags : 0) | up | IFF_LOOPBACK;
	struct ifaddrs *first = NULL, **link = &first;
	if (!have_v4) {
		x->addr4.sin_family = AF_INET;
		x->addr4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		x->mask4.sin_family = AF_INET;
		x->mask4.sin_addr.s_addr = htonl(0xff000000u);
		sb_fill_node(&x->nodes[0], x->name, flags, (struct sockaddr *)&x->addr4, (struct sockaddr *)&x->mask4);
		*link = &x->nodes[0];
		link = &x->nodes[0].ifa_next;
	}
	if (!have_v6) {
		x->addr6.sin6_family = AF_INET6;
		x->addr6.sin6_addr = in6addr_loopback;
		x->mask6.sin6_family = AF_INET6;
		memset(&x->mask6.sin6_addr, 0xff, sizeof(x->mask6.sin6_addr));
		sb_fill_node(&x->nodes[1], x->name, flags, (struct sockaddr *)&x->addr6, (struct sockaddr *)&x->mask6);
		*link = &x->nodes[1];
		link = &x->nodes[1].ifa_next;
	}
	/* After lo's last node (glibc's order: links, then addresses), or as the whole list. */
	if (lo_last != NULL) {
		*link = lo_last->ifa_next;
		lo_last->ifa_next = first;
		x->head = list;
	} else {
		*link = list;
		x->head = first;
	}
	x->glibc = list;

	pthread_mutex_lock(&sb_ifaddrs_lock);
	x->next = sb_ifaddrs_changed;
	sb_ifaddrs_changed = x;
	pthread_mutex_unlock(&sb_ifaddrs_lock);
	*ifap = x->head;
	return 0;
}

void sb_freeifaddrs(struct ifaddrs *ifa)
{
	struct sb_ifaddrs_extra *x = NULL;
	if (ifa != NULL) {
		pthread_mutex_lock(&sb_ifaddrs_lock);
		for (struct sb_ifaddrs_extra **pp = &sb_ifaddrs_changed; *pp != NULL; pp = &(*pp)->next) {
			if ((*pp)->head == ifa) {
				x = *pp;
				*pp = x->next;
				break;
			}
		}
		pthread_mutex_unlock(&sb_ifaddrs_lock);
	}
	if (x == NULL) {
		libc_freeifaddrs(ifa);
		return;
	}
	if (x->glibc != NULL)
		libc_freeifaddrs(x->glibc);
	free(x);
}
