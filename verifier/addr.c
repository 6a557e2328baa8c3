/* Socket addresses of the kinds the sequences name, for either family. */
#include "executor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

socklen_t sbv_make_addr(int domain, unsigned kind, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (kind == SBV_ADDR_UNSPEC) {
		ss->ss_family = AF_UNSPEC;
		return domain == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	}
	if (domain == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(kind == SBV_ADDR_LOOPBACK ? INADDR_LOOPBACK : INADDR_ANY);
		return sizeof *sin;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	if (kind == SBV_ADDR_LOOPBACK)
		sin6->sin6_addr = in6addr_loopback;
	else if (kind == SBV_ADDR_MAPPED)
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6->sin6_addr);
	else
		sin6->sin6_addr = in6addr_any;
	return sizeof *sin6;
}

void sbv_classify_addr(const struct sockaddr_storage *ss, unsigned *kind, int *port)
{
	*kind = 255;
	*port = -1;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		uint32_t a = ntohl(sin->sin_addr.s_addr);
		*port = ntohs(sin->sin_port);
		if (a == INADDR_ANY)
			*kind = SBV_ADDR_ANY;
		else if (a == INADDR_LOOPBACK)
			*kind = SBV_ADDR_LOOPBACK;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		struct in6_addr mapped;
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped);
		*port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			*kind = SBV_ADDR_ANY;
		else if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			*kind = SBV_ADDR_LOOPBACK;
		else if (memcmp(&sin6->sin6_addr, &mapped, sizeof mapped) == 0)
			*kind = SBV_ADDR_MAPPED;
	} else if (ss->ss_family == AF_UNSPEC) {
		*kind = SBV_ADDR_UNSPEC;
	}
}

const char *sbv_addr_kind_name(unsigned kind)
{
	switch (kind) {
	case SBV_ADDR_NONE: return "none";
	case SBV_ADDR_ANY: return "wildcard";
	case SBV_ADDR_LOOPBACK: return "loopback";
	case SBV_ADDR_MAPPED: return "v4-mapped";
	case SBV_ADDR_UNSPEC: return "AF_UNSPEC";
	default: return "other";
	}
}
