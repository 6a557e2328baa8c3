/* CPU time and context switches of this process (the rest is bench/common). */
#include <sys/resource.h>

#include "bench.h"

void usage_now(struct usage *u)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	u->user_ns = (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u;
	u->sys_ns = (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
	u->vcsw = (uint64_t)ru.ru_nvcsw;
	u->ivcsw = (uint64_t)ru.ru_nivcsw;
}

struct usage usage_diff(const struct usage *b, const struct usage *a)
{
	return (struct usage){ b->user_ns - a->user_ns, b->sys_ns - a->sys_ns, b->vcsw - a->vcsw, b->ivcsw - a->ivcsw };
}
