/* Socket addresses; see addr.h. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/* The length Linux requires of an AF_INET6 address (RFC 2133's, without sin6_scope_id). */
#define SB_SIN6_LEN_RFC2133 24

int sb_addr_check_bind(int domain, const struct sockaddr *addr, socklen_t len)
{
	if (addr == NULL)
		return -EFAULT;
	if (domain == AF_INET) {
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
		const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
		/* inet_bind: AF_UNSPEC is tolerated for INADDR_ANY, for old programs. */
		if (sin->sin_family != AF_INET &&
		    !(sin->sin_family == AF_UNSPEC && sin->sin_addr.s_addr == htonl(INADDR_ANY)))
			return -EAFNOSUPPORT;
		return 0;
	}
	if (len < SB_SIN6_LEN_RFC2133)
		return -EINVAL;
	if (addr->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	return 0;
}

int sb_addr_check_connect(int domain, const struct sockaddr *addr, socklen_t len)
{
	if (addr == NULL)
		return -EFAULT;
	if (len < sizeof(sa_family_t))
		return -EINVAL;
	if (addr->sa_family == AF_UNSPEC)
		return 1;
	if (domain == AF_INET) {
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
		return addr->sa_family == AF_INET ? 0 : -EAFNOSUPPORT;
	}
	if (len < SB_SIN6_LEN_RFC2133)
		return -EINVAL;
	return addr->sa_family == AF_INET6 ? 0 : -EAFNOSUPPORT;
}

void sb_addr_to_proto(const struct sockaddr *addr, struct sb_proto_addr *out)
{
	memset(out, 0, sizeof *out);
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)addr;
		out->family = SB_PROTO_AF_INET6;
		out->port = ntohs(s6->sin6_port);
		out->flowinfo = ntohl(s6->sin6_flowinfo);
		out->scope_id = s6->sin6_scope_id;
		memcpy(out->addr, &s6->sin6_addr, 16);
		return;
	}
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)addr;
	out->family = SB_PROTO_AF_INET;
	out->port = ntohs(s4->sin_port);
	memcpy(out->addr, &s4->sin_addr, 4);
}

void sb_addr_bind_request(const struct sockaddr *addr, struct sb_proto_addr *out)
{
	sb_addr_to_proto(addr, out);
	if (addr->sa_family == AF_UNSPEC)
		out->family = SB_PROTO_AF_INET;
}

void sb_addr_connect_target(int domain, const struct sockaddr *addr, struct sb_proto_addr *out)
{
	(void)domain;
	sb_addr_to_proto(addr, out);
	static const uint8_t zero[16];
	/* Connecting to the wildcard address reaches this host (Linux: the route lookup turns it into loopback). */
	if (out->family == SB_PROTO_AF_INET && memcmp(out->addr, zero, 4) == 0) {
		out->addr[0] = 127;
		out->addr[3] = 1;
	} else if (out->family == SB_PROTO_AF_INET6 && memcmp(out->addr, zero, 16) == 0) {
		out->addr[15] = 1;
	}
}

socklen_t sb_addr_from_proto(int domain, const struct sb_proto_addr *in, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof *out);
	if (domain == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(in->port);
		if (in->family == SB_PROTO_AF_INET) {
			s6->sin6_addr.s6_addr[10] = 0xff;
			s6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&s6->sin6_addr.s6_addr[12], in->addr, 4);
		} else {
			memcpy(&s6->sin6_addr, in->addr, 16);
			s6->sin6_flowinfo = htonl(in->flowinfo);
			s6->sin6_scope_id = in->scope_id;
		}
		return sizeof *s6;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(in->port);
	if (in->family == SB_PROTO_AF_INET6)
		memcpy(&s4->sin_addr, &in->addr[12], 4); /* a v4-mapped peer of an AF_INET socket */
	else
		memcpy(&s4->sin_addr, in->addr, 4);
	return sizeof *s4;
}

socklen_t sb_addr_any(int domain, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof *out);
	if (domain == AF_INET6) {
		((struct sockaddr_in6 *)out)->sin6_family = AF_INET6;
		return sizeof(struct sockaddr_in6);
	}
	((struct sockaddr_in *)out)->sin_family = AF_INET;
	return sizeof(struct sockaddr_in);
}

void sb_addr_copy_out(const struct sockaddr_storage *a, socklen_t alen, struct sockaddr *out, socklen_t *len)
{
	if (out != NULL && len != NULL)
		memcpy(out, a, *len < alen ? *len : alen);
	if (len != NULL)
		*len = alen;
}

unsigned sb_addr_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return ntohs(((const struct sockaddr_in *)a)->sin_port);
}

void sb_addr_set_port(struct sockaddr_storage *a, unsigned port)
{
	if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)a)->sin_port = htons((uint16_t)port);
}

bool sb_addr_is_any(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
}

void sb_addr_reset_to_any(struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)a;
		memset(&s6->sin6_addr, 0, sizeof s6->sin6_addr);
		s6->sin6_flowinfo = 0;
		s6->sin6_scope_id = 0;
	} else {
		((struct sockaddr_in *)a)->sin_addr.s_addr = htonl(INADDR_ANY);
	}
}
