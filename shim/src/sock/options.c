/*
 * Names and options: getsockname/getpeername through the machine, and the
 * socket options, ioctls and fcntl flags a program can set and read back,
 * stored and reported as Linux would for a TCP socket.
 */
#include "options.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>

#include "addr.h"
#include "sb_machine_dgram.h"
#include "udp/flows.h"
#include "udp/udp.h"
#include "sb_libc.h"

int sb_sock_name(struct sb_sock *s, bool peer, struct sockaddr *addr, socklen_t *len)
{
	if (len == NULL)
		return -EFAULT;
	if ((int)*len < 0)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	sb_sock_sync(s);
	struct sb_call call = { .call = s->type == SOCK_DGRAM ? (peer ? SB_DGRAM_C_GETPEERNAME : SB_DGRAM_C_GETSOCKNAME)
							     : (peer ? SB_STREAM_C_GETPEERNAME : SB_STREAM_C_GETSOCKNAME) };
	const struct sb_case *k = sb_sock_decide(s, &call);
	int err = sb_sock_errno(s, &k->then);
	if (err == 0) {
		if (peer)
			sb_addr_copy_out(&s->peer, s->peer_len, addr, len);
		else
			sb_addr_copy_out(&s->local, s->local_len, addr, len);
	}
	pthread_mutex_unlock(&s->lock);
	return -err;
}

static int sb_put_int(void *val, socklen_t *len, int v)
{
	if (val == NULL || len == NULL)
		return -EFAULT;
	if ((int)*len < 0)
		return -EINVAL;
	/* Linux copies min(len, sizeof(int)) bytes. */
	socklen_t n = *len < sizeof v ? *len : sizeof v;
	memcpy(val, &v, n);
	*len = n;
	return 0;
}

static int sb_put_bytes(void *val, socklen_t *len, const void *v, socklen_t size)
{
	if (val == NULL || len == NULL)
		return -EFAULT;
	if ((int)*len < 0)
		return -EINVAL;
	socklen_t n = *len < size ? *len : size;
	memcpy(val, v, n);
	*len = n;
	return 0;
}

static struct timeval sb_tv(int64_t ns)
{
	return (struct timeval){ .tv_sec = ns / 1000000000, .tv_usec = (ns % 1000000000) / 1000 };
}

/* TCP_INFO with plausible values for a connection on this host (see docs/compatibility.md). */
static void sb_tcp_info(const struct sb_sock *s, struct tcp_info *ti)
{
	static const uint8_t tcp_state[] = {
		[SB_STREAM_S_FRESH] = 7 /* TCP_CLOSE */,      [SB_STREAM_S_BOUND] = 7,
		[SB_STREAM_S_LISTENING] = 10 /* TCP_LISTEN */, [SB_STREAM_S_CONNECTING] = 2 /* SYN_SENT */,
		[SB_STREAM_S_CONNECTED] = 1 /* ESTABLISHED */, [SB_STREAM_S_RD_SHUT] = 1,
		[SB_STREAM_S_WR_SHUT] = 5 /* FIN_WAIT2 */,    [SB_STREAM_S_BOTH_SHUT] = 5,
		[SB_STREAM_S_PEER_CLOSED] = 8 /* CLOSE_WAIT */, [SB_STREAM_S_FINISHED] = 7,
		[SB_STREAM_S_RESET] = 7,                      [SB_STREAM_S_FAILED] = 7,
	};
	memset(ti, 0, sizeof *ti);
	ti->tcpi_state = s->state < sizeof tcp_state ? tcp_state[s->state] : 7;
	ti->tcpi_rto = 200000;
	ti->tcpi_ato = 40000;
	ti->tcpi_snd_mss = 65483; /* loopback's MSS */
	ti->tcpi_rcv_mss = 536;
	ti->tcpi_pmtu = 65535;
	ti->tcpi_rtt = 50;
	ti->tcpi_rttvar = 25;
	ti->tcpi_snd_ssthresh = 0x7fffffff;
	ti->tcpi_snd_cwnd = 10;
	ti->tcpi_advmss = 65483;
	ti->tcpi_reordering = 3;
	ti->tcpi_rcv_space = 65483;
}

/* What a datagram socket answers differently from a stream one; -ENOENT: the same. */
static int sb_udp_getsockopt(struct sb_sock *s, int level, int name, void *val, socklen_t *len)
{
	const struct sb_udp *u = s->udp;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR: {
			int value, rc = sb_udp_so_error(s, &value);
			return rc < 0 ? rc : sb_put_int(val, len, value);
		}
		case SO_TYPE:
			return sb_put_int(val, len, SOCK_DGRAM);
		case SO_PROTOCOL:
			return sb_put_int(val, len, IPPROTO_UDP);
		case SO_ACCEPTCONN:
			return sb_put_int(val, len, 0);
		case SO_LINGER:
		case SO_KEEPALIVE:
			break;
		default:
			break;
		}
		return -ENOENT;
	}
	if (level == IPPROTO_IP && name == IP_PKTINFO)
		return sb_put_int(val, len, u->pktinfo);
	if (level == IPPROTO_IPV6 && s->domain == AF_INET6 && name == IPV6_RECVPKTINFO)
		return sb_put_int(val, len, u->recvpktinfo6);
	if (level == IPPROTO_IP && name == IP_MTU_DISCOVER)
		return sb_put_int(val, len, IP_PMTUDISC_DONT);
	if (level == IPPROTO_TCP)
		return -ENOPROTOOPT; /* udp_getsockopt hands it to IP, which does not know the level */
	return -ENOENT;
}

static int sb_udp_setsockopt(struct sb_sock *s, int level, int name, const void *val, socklen_t len)
{
	struct sb_udp *u = s->udp;
	int v = 0;
	bool ip_flag = level == IPPROTO_IP && name == IP_PKTINFO;
	bool ip6_flag = level == IPPROTO_IPV6 && s->domain == AF_INET6 && name == IPV6_RECVPKTINFO;
	if (ip_flag || ip6_flag) {
		if (val == NULL)
			return -EFAULT;
		/* IP options take an int, or a single byte (do_ip_setsockopt); IPv6's need an int. */
		if (len >= sizeof(int))
			memcpy(&v, val, sizeof v);
		else if (len >= 1 && ip_flag)
			v = *(const unsigned char *)val;
		else
			return -EINVAL;
		if (ip_flag)
			u->pktinfo = v != 0;
		else
			u->recvpktinfo6 = v != 0;
		return 0;
	}
	if (level == IPPROTO_TCP)
		return -ENOPROTOOPT;
	if (level == IPPROTO_UDP)
		return 0; /* UDP_CORK, UDP_SEGMENT, UDP_GRO…: accepted; each datagram is one record anyway */
	return -ENOENT;
}

int sb_sock_getsockopt(struct sb_sock *s, int level, int name, void *val, socklen_t *len)
{
	const struct sb_sock_opts *o = &s->opts;
	if (s->udp != NULL) {
		int rc = sb_udp_getsockopt(s, level, name, val, len);
		if (rc != -ENOENT)
			return rc;
	}
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR: {
			pthread_mutex_lock(&s->lock);
			sb_sock_sync(s);
			struct sb_call call = { .call = SB_STREAM_C_SO_ERROR };
			const struct sb_case *k = sb_sock_decide(s, &call);
			int err = sb_sock_errno(s, &k->then);
			int value = 0;
			if (err == 0 && k->then.returns == SB_RETURNS_PENDING_ERROR) {
				struct sb_outcome pending = { .fails = SB_FAILS_PENDING };
				value = s->memory[SB_STREAM_F_ERROR] ? sb_sock_errno(s, &pending) : 0;
			}
			if (err == 0)
				sb_sock_apply(s, &k->then);
			pthread_mutex_unlock(&s->lock);
			return err ? -err : sb_put_int(val, len, value);
		}
		case SO_TYPE:
			return sb_put_int(val, len, SOCK_STREAM);
		case SO_DOMAIN:
			return sb_put_int(val, len, s->domain);
		case SO_PROTOCOL:
			return sb_put_int(val, len, IPPROTO_TCP);
		case SO_ACCEPTCONN:
			return sb_put_int(val, len, s->state == SB_STREAM_S_LISTENING);
		case SO_REUSEADDR:
			return sb_put_int(val, len, o->reuseaddr);
		case SO_REUSEPORT:
			return sb_put_int(val, len, o->reuseport);
		case SO_KEEPALIVE:
			return sb_put_int(val, len, o->keepalive);
		case SO_OOBINLINE:
			return sb_put_int(val, len, o->oobinline);
		case SO_BROADCAST:
			return sb_put_int(val, len, o->broadcast);
		case SO_RCVBUF:
			return sb_put_int(val, len, o->rcvbuf);
		case SO_SNDBUF:
			return sb_put_int(val, len, o->sndbuf);
		case SO_RCVLOWAT:
			return sb_put_int(val, len, o->rcvlowat);
		case SO_SNDLOWAT:
			return sb_put_int(val, len, 1);
		case SO_LINGER:
			return sb_put_bytes(val, len, &o->linger, sizeof o->linger);
		case SO_RCVTIMEO: {
			struct timeval tv = sb_tv(o->rcvtimeo_ns);
			return sb_put_bytes(val, len, &tv, sizeof tv);
		}
		case SO_SNDTIMEO: {
			struct timeval tv = sb_tv(o->sndtimeo_ns);
			return sb_put_bytes(val, len, &tv, sizeof tv);
		}
		case SO_BINDTODEVICE:
			*len = 0; /* bound to no device (sshd asks, for its VRF) */
			return 0;
		case SO_PRIORITY:
		case SO_MARK:
			return sb_put_int(val, len, 0);
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_IP && s->domain == AF_INET) {
		switch (name) {
		case IP_OPTIONS:
			*len = 0; /* no IP options on a circuit (sshd checks for source routing) */
			return 0;
		case IP_TOS:
			return sb_put_int(val, len, 0);
		case IP_TTL:
			return sb_put_int(val, len, 64);
		default:
			break;
		}
	}
	if (level == IPPROTO_IPV6 && s->domain == AF_INET6) {
		switch (name) {
		case IPV6_TCLASS:
			return sb_put_int(val, len, 0);
		case IPV6_UNICAST_HOPS:
			return sb_put_int(val, len, 64);
		default:
			break;
		}
	}
	if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_NODELAY:
			return sb_put_int(val, len, o->nodelay);
		case TCP_CORK:
			return sb_put_int(val, len, o->cork);
		case TCP_KEEPIDLE:
			return sb_put_int(val, len, o->keepidle);
		case TCP_KEEPINTVL:
			return sb_put_int(val, len, o->keepintvl);
		case TCP_KEEPCNT:
			return sb_put_int(val, len, o->keepcnt);
		case TCP_MAXSEG:
			if (s->circuit != NULL && !o->maxseg_set) {
				/* A connection's MSS as Linux shows it over loopback (MTU 65536), measured: the
				 * connecting side 32741, the accepted side 32768.  iperf3 sizes UDP datagrams by it. */
				return sb_put_int(val, len, s->circuit->role == SB_ROLE_CONNECTOR ? 32741 : 32768);
			}
			return sb_put_int(val, len, o->maxseg);
		case TCP_USER_TIMEOUT:
			return sb_put_int(val, len, o->user_timeout);
		case TCP_QUICKACK:
			return sb_put_int(val, len, o->quickack);
		case TCP_DEFER_ACCEPT:
			return sb_put_int(val, len, o->defer_accept);
		case TCP_INFO: {
			struct tcp_info ti;
			sb_tcp_info(s, &ti);
			return sb_put_bytes(val, len, &ti, sizeof ti);
		}
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_IPV6 && s->domain == AF_INET6 && name == IPV6_V6ONLY)
		return sb_put_int(val, len, o->v6only);
	return -ENOPROTOOPT;
}

static int sb_get_int(const void *val, socklen_t len, int *out)
{
	if (len < sizeof(int))
		return -EINVAL;
	if (val == NULL)
		return -EFAULT;
	memcpy(out, val, sizeof *out);
	return 0;
}

static int sb_get_timeout(const void *val, socklen_t len, int64_t *ns)
{
	struct timeval tv;
	if (len < sizeof tv)
		return -EINVAL;
	if (val == NULL)
		return -EFAULT;
	memcpy(&tv, val, sizeof tv);
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	*ns = tv.tv_sec < 0 ? 0 : (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
	return 0;
}

int sb_sock_setsockopt(struct sb_sock *s, int level, int name, const void *val, socklen_t len)
{
	struct sb_sock_opts *o = &s->opts;
	int v = 0, rc;
	if (s->udp != NULL && (rc = sb_udp_setsockopt(s, level, name, val, len)) != -ENOENT)
		return rc;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_RCVTIMEO:
			return sb_get_timeout(val, len, &o->rcvtimeo_ns);
		case SO_SNDTIMEO:
			return sb_get_timeout(val, len, &o->sndtimeo_ns);
		case SO_LINGER:
			if (len < sizeof o->linger)
				return -EINVAL;
			if (val == NULL)
				return -EFAULT;
			memcpy(&o->linger, val, sizeof o->linger);
			o->linger.l_onoff = o->linger.l_onoff != 0;
			return 0;
		default:
			break;
		}
		if ((rc = sb_get_int(val, len, &v)) < 0)
			return rc;
		switch (name) {
		case SO_REUSEADDR:
			o->reuseaddr = v != 0;
			return 0;
		case SO_REUSEPORT:
			o->reuseport = v != 0;
			return 0;
		case SO_KEEPALIVE:
			o->keepalive = v != 0;
			return 0;
		case SO_OOBINLINE:
			o->oobinline = v != 0;
			return 0;
		case SO_BROADCAST:
			o->broadcast = v != 0;
			return 0;
		case SO_RCVBUF:
		case SO_RCVBUFFORCE:
			/* Linux doubles the value (for its bookkeeping) and enforces a floor. */
			o->rcvbuf = v < 1152 ? 2304 : (v > 212992 && name == SO_RCVBUF ? 425984 : v * 2);
			return 0;
		case SO_SNDBUF:
		case SO_SNDBUFFORCE:
			o->sndbuf = v < 2304 ? 4608 : (v > 212992 && name == SO_SNDBUF ? 425984 : v * 2);
			return 0;
		case SO_RCVLOWAT:
			o->rcvlowat = v < 1 ? 1 : v;
			return 0;
		case SO_PRIORITY:
		case SO_MARK:
		case SO_BINDTODEVICE:
		case SO_DONTROUTE:
		case SO_TIMESTAMP:
		case SO_ZEROCOPY:
			return 0; /* accepted, no effect on a circuit */
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_TCP) {
		if ((rc = sb_get_int(val, len, &v)) < 0)
			return rc;
		switch (name) {
		case TCP_NODELAY:
			o->nodelay = v != 0;
			return 0;
		case TCP_CORK:
			o->cork = v != 0;
			return 0;
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
		case TCP_KEEPCNT:
			if (v < 1 || v > (name == TCP_KEEPCNT ? 127 : 32767))
				return -EINVAL;
			*(name == TCP_KEEPIDLE ? &o->keepidle : name == TCP_KEEPINTVL ? &o->keepintvl : &o->keepcnt) = v;
			return 0;
		case TCP_MAXSEG:
			if (v < 88 || v > 32767)
				return -EINVAL;
			o->maxseg = v;
			o->maxseg_set = true;
			return 0;
		case TCP_USER_TIMEOUT:
			if (v < 0)
				return -EINVAL;
			o->user_timeout = v;
			return 0;
		case TCP_QUICKACK:
			o->quickack = v != 0;
			return 0;
		case TCP_DEFER_ACCEPT:
			o->defer_accept = v < 0 ? 0 : v;
			return 0;
		case TCP_FASTOPEN:
		case TCP_CONGESTION:
		case TCP_NOTSENT_LOWAT:
			return 0; /* accepted, no effect on a circuit */
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_IPV6 && s->domain == AF_INET6) {
		if (name == IPV6_V6ONLY) {
			if ((rc = sb_get_int(val, len, &v)) < 0)
				return rc;
			if (s->state != SB_STREAM_S_FRESH)
				return -EINVAL; /* only before bind, as Linux */
			o->v6only = v != 0;
			return 0;
		}
		return 0; /* traffic class, hop limits…: accepted, no effect on a circuit */
	}
	if (level == IPPROTO_IP)
		return 0; /* TOS, TTL…: accepted, no effect on a circuit */
	return -ENOPROTOOPT;
}

/* An ioctl's int result: the program's buffer need not be aligned (the kernel's put_user copies bytes). */
static void sb_put_arg_int(void *arg, int v)
{
	memcpy(arg, &v, sizeof v);
}

int sb_sock_ioctl(struct sb_sock *s, int fd, unsigned long request, void *arg)
{
	struct sb_circuit_view v;
	memset(&v, 0, sizeof v);
	switch (request) {
	case FIONREAD: /* also SIOCINQ */
		if (s->udp != NULL) {
			if (arg == NULL)
				return -EFAULT;
			sb_put_arg_int(arg, sb_udp_next_len(s)); /* udp_ioctl: the next datagram's size */
			return 0;
		}
		if (s->state == SB_STREAM_S_LISTENING)
			return -EINVAL;
		if (s->circuit != NULL)
			sb_circuit_view(s->circuit, &v);
		if (arg == NULL)
			return -EFAULT;
		sb_put_arg_int(arg, (int)(v.readable > INT32_MAX ? INT32_MAX : v.readable));
		return 0;
	case SIOCOUTQ:
		if (s->udp != NULL) {
			if (arg == NULL)
				return -EFAULT;
			sb_put_arg_int(arg, 0); /* a datagram is in the peer's ring (or dropped) once send returns */
			return 0;
		}
		if (s->state == SB_STREAM_S_LISTENING)
			return -EINVAL;
		if (s->circuit != NULL)
			sb_circuit_view(s->circuit, &v);
		if (arg == NULL)
			return -EFAULT;
		sb_put_arg_int(arg, (int)v.unread_by_peer);
		return 0;
	case FIONBIO: {
		if (arg == NULL)
			return -EFAULT;
		int on;
		memcpy(&on, arg, sizeof on);
		on = on != 0;
		if (libc_ioctl(fd, FIONBIO, arg) < 0)
			return -errno;
		s->nonblock = on;
		return 0;
	}
	default:
		return libc_ioctl(fd, request, arg) < 0 ? -errno : 0;
	}
}
