/*
 * The process's circuit endpoints by fd: an array of atomic pointers indexed
 * by fd.  Lookups are one acquire load of the table and one of the slot, no
 * lock.  Registration and removal take a mutex; growing copies the slots
 * into a larger array and publishes it, and the old array is never freed (a
 * reader may still be looking at it; at most half of all the memory ever
 * used for slots is such garbage).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fdtab.h"
#include "internal.h"
#include "sys.h"

struct sb_fdtab_slots {
	size_t capacity;
	_Atomic(struct sb_circuit *) slot[];
};

static _Atomic(struct sb_fdtab_slots *) sb_fdtab;
static pthread_mutex_t sb_fdtab_lock = PTHREAD_MUTEX_INITIALIZER;

#define SB_FDTAB_MIN 64

struct sb_circuit *sb_fdtab_get(int fd)
{
	if (fd < 0)
		return NULL;
	struct sb_fdtab_slots *t = atomic_load_explicit(&sb_fdtab, memory_order_acquire);
	if (t == NULL || (size_t)fd >= t->capacity)
		return NULL;
	return atomic_load_explicit(&t->slot[fd], memory_order_acquire);
}

/* With the lock held: a table with a slot for fd, or NULL (out of memory). */
static struct sb_fdtab_slots *sb_fdtab_reserve(int fd)
{
	struct sb_fdtab_slots *old = atomic_load_explicit(&sb_fdtab, memory_order_relaxed);
	if (old != NULL && (size_t)fd < old->capacity)
		return old;
	size_t capacity = old != NULL ? old->capacity : SB_FDTAB_MIN;
	while (capacity <= (size_t)fd)
		capacity *= 2;
	struct sb_fdtab_slots *t = malloc(sizeof *t + capacity * sizeof t->slot[0]);
	if (t == NULL)
		return NULL;
	t->capacity = capacity;
	size_t i = 0;
	for (; old != NULL && i < old->capacity; i++)
		atomic_init(&t->slot[i], atomic_load_explicit(&old->slot[i], memory_order_relaxed));
	for (; i < capacity; i++)
		atomic_init(&t->slot[i], NULL);
	atomic_store_explicit(&sb_fdtab, t, memory_order_release);
	return t;
}

int sb_fdtab_put(int fd, struct sb_circuit *c)
{
	if (fd < 0 || c == NULL)
		return -EBADF;
	pthread_mutex_lock(&sb_fdtab_lock);
	int rc = 0;
	struct sb_fdtab_slots *t = sb_fdtab_reserve(fd);
	if (t == NULL) {
		rc = -ENOMEM;
	} else {
		struct sb_circuit *expected = NULL;
		if (!atomic_compare_exchange_strong_explicit(&t->slot[fd], &expected, c, memory_order_release,
							     memory_order_relaxed))
			rc = -EEXIST;
	}
	pthread_mutex_unlock(&sb_fdtab_lock);
	return rc;
}

struct sb_circuit *sb_fdtab_take(int fd)
{
	if (fd < 0)
		return NULL;
	pthread_mutex_lock(&sb_fdtab_lock);
	struct sb_circuit *c = NULL;
	struct sb_fdtab_slots *t = atomic_load_explicit(&sb_fdtab, memory_order_relaxed);
	if (t != NULL && (size_t)fd < t->capacity)
		c = atomic_exchange_explicit(&t->slot[fd], NULL, memory_order_acq_rel);
	pthread_mutex_unlock(&sb_fdtab_lock);
	return c;
}

/* A stale entry under a new fd number: its fd was closed behind the shim's back (close_range, dup2 over it…). */
static void sb_fdtab_drop_stale(int fd)
{
	struct sb_circuit *stale = sb_fdtab_take(fd);
	if (stale != NULL) {
		sb_circuit_detach(stale);
		free(stale);
	}
}

static void sb_endpoint_free(struct sb_circuit *c)
{
	if (c == NULL)
		return;
	if (c->shm != NULL) {
		sb_sys_close(c->endpoint_fd);
		sb_circuit_detach(c);
	}
	free(c);
}

int sb_circuit_socketpair(int type, int sv[2])
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (sv == NULL)
		return -EFAULT;
	if (base != SOCK_STREAM && base != SOCK_DGRAM)
		return base & ~0xf ? -EINVAL : -ESOCKTNOSUPPORT;
	struct sb_circuit_geometry g = { .mode = base == SOCK_STREAM ? SB_CIRCUIT_STREAM : SB_CIRCUIT_DGRAM };
	struct sb_circuit *end[2] = { calloc(1, sizeof(struct sb_circuit)), calloc(1, sizeof(struct sb_circuit)) };
	int rc = -ENOMEM;
	if (end[0] == NULL || end[1] == NULL)
		goto fail;
	rc = sb_circuit_pair(&g, end[0], end[1], (type & SOCK_CLOEXEC) != 0);
	if (rc < 0)
		goto fail;
	for (int i = 0; i < 2; i++) {
		atomic_store_explicit(&end[i]->nonblock_hint, (type & SOCK_NONBLOCK) != 0, memory_order_relaxed);
		if (type & SOCK_NONBLOCK) {
			long fl = sb_sys_fcntl(end[i]->endpoint_fd, F_GETFL, 0);
			if (fl < 0 || (fl = sb_sys_fcntl(end[i]->endpoint_fd, F_SETFL, fl | O_NONBLOCK)) < 0) {
				rc = (int)fl;
				goto fail;
			}
		}
		sb_fdtab_drop_stale(end[i]->endpoint_fd);
	}
	rc = sb_fdtab_put(end[0]->endpoint_fd, end[0]);
	if (rc < 0)
		goto fail;
	rc = sb_fdtab_put(end[1]->endpoint_fd, end[1]);
	if (rc < 0) {
		sb_fdtab_take(end[0]->endpoint_fd);
		goto fail;
	}
	sv[0] = end[0]->endpoint_fd;
	sv[1] = end[1]->endpoint_fd;
	return 0;
fail:
	sb_endpoint_free(end[0]);
	sb_endpoint_free(end[1]);
	return rc;
}
