/* The runtime's side of the convention: sock/ functions return -errno; libc returns -1 and sets errno. */
#ifndef SB_SOCK_RESULT_H
#define SB_SOCK_RESULT_H

#include <errno.h>

static inline long sb_result(long rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

#endif
