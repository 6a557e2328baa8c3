/*
 * The connect fast path: the common `connect` answered in C, inside the libuv
 * callback that finds a tenant's control connection readable, without
 * entering JavaScript at all.
 *
 * Why: answered by JavaScript, a connect cost ~150 µs of the operator's time,
 * most of it waking V8 with cold caches between connects (docs/performance.md,
 * "Where the time goes").  The decisions stay JavaScript's; this only replays
 * them.  FastPath holds what an answer depends on, pushed down by JavaScript
 * whenever it changes (operator/src/daemon/fastpath.ts):
 *
 *   decisions   (tenant, socket type, exact destination) → allow (the tenant
 *               owning the destination, the source IP) or deny (errno, rule,
 *               message); filled by JavaScript on a miss, cleared on a reload;
 *   listeners   listening reservations by (tenant, type, port): port fd, bound
 *               address, backlog;
 *   ports       per (tenant, type), free ephemeral ports JavaScript set aside;
 *   circuits    made ahead by a background thread (circuit_pool.h);
 *               JavaScript's own grants take theirs from here too.
 *
 * ControlSession reads one control connection.  A `connect` that is unbound,
 * has a decision, finds a listener with room in its backlog and a port and a
 * circuit at hand is answered here.  The `closed` and `shutdown` notices a
 * shim sends on every close (accounting, no reply) are taken here too and
 * handed on in the reports: through JavaScript they cost more than the
 * connect itself.  Every other message, every miss and every failure goes to
 * JavaScript exactly as read, and JavaScript answers it as it always did
 * (and fills the tables for next time).
 *
 * What the fast path did is reported in batches (drain()): grants (JavaScript
 * registers the circuit, counts and logs it), denials (the audit line) and
 * notices (JavaScript's accounting).
 * JavaScript drains before it handles anything, so it never decides on stale
 * tables; a timer drains otherwise.  Grants and notices travel as fixed-size
 * binary records (grants name the decision they replayed: JavaScript already
 * has its addresses): building objects through N-API cost more than the
 * grant itself.
 *
 * Order: a connection's requests are answered in order, and a notice's
 * effect is seen by the requests after it only.  Once a message went to
 * JavaScript the session is held (everything goes to JavaScript) until
 * JavaScript has answered all it has and calls hold(false).
 */
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <linux/sockios.h>
#include <memory>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include "circuit_pool.h"
#include "errors.h"
#include "grant_core.h"
#include "uv_poll_handle.h"

namespace {

/* Messages read per readiness event, so one busy peer cannot starve the others (session.ts READ_BATCH). */
constexpr int kReadBatch = 64;
/* Listeners sharing one port (SO_REUSEPORT, exact and wildcard addresses) the fast path chooses among; more: JavaScript. */
constexpr size_t kMaxSharing = 16;

double WallMs()
{
	timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

uint64_t MonoNs()
{
	timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

bool ValidType(uint32_t t)
{
	return t == SB_PROTO_SOCKET_TYPE_STREAM || t == SB_PROTO_SOCKET_TYPE_DGRAM;
}

/* An IP as net/address.ts ipBytes() sees it: 4 bytes for IPv4 and IPv4-mapped IPv6, else 16. */
struct Ip {
	uint8_t len;
	uint8_t b[16];
};

Ip IpOf(const sb_proto_addr &a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	Ip ip{};
	if (a.family == AF_INET || memcmp(a.addr, mapped, 12) == 0) {
		ip.len = 4;
		memcpy(ip.b, a.family == AF_INET ? a.addr : a.addr + 12, 4);
	} else {
		ip.len = 16;
		memcpy(ip.b, a.addr, 16);
	}
	return ip;
}

bool IsZero(const Ip &x)
{
	for (int i = 0; i < x.len; i++)
		if (x.b[i])
			return false;
	return true;
}

/* reservations.ts overlaps(): whether some address is in both. */
bool Overlaps(const Ip &x, bool x_v6only, const Ip &y, bool y_v6only)
{
	if (x.len == y.len)
		return IsZero(x) || IsZero(y) || memcmp(x.b, y.b, x.len) == 0;
	/* One IPv4 (or v4-mapped), one real IPv6: only a dual-stack IPv6 wildcard covers IPv4. */
	return x.len == 16 ? IsZero(x) && !x_v6only : IsZero(y) && !y_v6only;
}

/* grant.ts asSeenBy(): how a listener bound to AF_INET6 sees an IPv4 address (IPv4-mapped). */
sb_proto_addr AsSeenBy(bool listener_inet6, const sb_proto_addr &a)
{
	if (!listener_inet6 || a.family != AF_INET)
		return a;
	sb_proto_addr m{};
	m.family = AF_INET6;
	m.port = a.port;
	m.addr[10] = m.addr[11] = 0xff;
	memcpy(m.addr + 12, a.addr, 4);
	return m;
}

struct Listener {
	uint64_t id;
	int fd;           /* the operator's end of the port pair: `incoming` goes here */
	uint32_t backlog;
	bool inet6;       /* bound to an AF_INET6 address */
	bool v6only;
	Ip ip;
	uint32_t tenant;
	int32_t pid;
	uint32_t uid;
};

uint64_t PortKey(uint32_t tenant, uint32_t type, uint32_t port)
{
	return (uint64_t)tenant << 24 | (uint64_t)type << 16 | port;
}

/* A decision is for the exact destination a connect names (family, address bytes, port). */
struct DecisionKey {
	uint8_t b[4 + 1 + 2 + 2 + 16];
	bool operator==(const DecisionKey &o) const { return memcmp(b, o.b, sizeof b) == 0; }
};

struct DecisionKeyHash {
	size_t operator()(const DecisionKey &k) const
	{
		uint64_t h = 1469598103934665603u; /* FNV-1a */
		for (uint8_t c : k.b)
			h = (h ^ c) * 1099511628211u;
		return (size_t)h;
	}
};

DecisionKey KeyOf(uint32_t tenant, uint32_t type, const sb_proto_addr &dest)
{
	DecisionKey k;
	memcpy(k.b, &tenant, 4);
	k.b[4] = (uint8_t)type;
	memcpy(k.b + 5, &dest.family, 2);
	memcpy(k.b + 7, &dest.port, 2);
	memcpy(k.b + 9, dest.addr, 16);
	return k;
}

struct Decision {
	bool allow;
	uint32_t id;          /* allow: JavaScript's name for it, in grant records */
	uint32_t to_tenant;   /* allow: the tenant owning the destination */
	sb_proto_addr source; /* allow: the connector's own IP (port 0) */
	int32_t errnum;       /* deny */
	std::string rule, message;
};

/* Who is asking: one control connection, as its ControlSession knows it. */
struct Peer {
	int fd;
	double session;
	uint32_t tenant;
	int32_t pid;
	uint32_t uid, gid;
};

/*
 * One grant as drain() hands it to JavaScript: GRANT offsets in fastpath.ts
 * read the same layout (little-endian, as every host this runs on).
 */
struct GrantRecord {
	uint64_t circuit;         /* 0 */
	uint64_t cookies[2];      /* 8: the connector's end, the acceptor's */
	uint64_t listener;        /* 24: the acceptor's reservation */
	uint64_t memfd_bytes;     /* 32 */
	uint64_t ring_offset[2];  /* 40: A, B */
	double session;           /* 56 */
	double created_ms;        /* 64: Date.now() */
	double setup_ns;          /* 72: from reading the request to sending the grant */
	uint32_t decision;        /* 80: the decision it replayed (its tenant, destination, source IP) */
	int32_t memfd;            /* 84: JavaScript's once drained */
	uint32_t ring_bytes[2];   /* 88 */
	int32_t pid;              /* 96: the connector's SO_PEERCRED */
	uint32_t uid;             /* 100 */
	int32_t acceptor_pid;     /* 104: the listener's binder */
	uint32_t acceptor_uid;    /* 108 */
	uint32_t acceptor_tenant; /* 112 */
	int32_t reply_errno;      /* 116: 0, or why connect_granted could not be sent */
	uint16_t port;            /* 120: the connector's own port */
	uint16_t layout;          /* 122 */
	uint8_t type;             /* 124: socket type */
	uint8_t acceptor_inet6;   /* 125: the listener is bound to AF_INET6 (sees IPv4 peers as v4-mapped) */
	uint8_t pad[2];
};
static_assert(sizeof(GrantRecord) == 128 && offsetof(GrantRecord, decision) == 80 && offsetof(GrantRecord, port) == 120,
	      "fastpath.ts reads these offsets");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fastpath.ts reads grant records as little-endian");

/* A `closed` or `shutdown` notice (fastpath.ts NOTICE reads the same layout). */
struct NoticeRecord {
	uint64_t circuit;        /* 0 */
	uint64_t bytes_sent;     /* 8: closed */
	uint64_t bytes_received; /* 16: closed */
	double session;          /* 24 */
	uint32_t tenant;         /* 32: of the session: whose claim it is */
	uint8_t type;            /* 36: SB_PROTO_MSG_CLOSED or _SHUTDOWN */
	uint8_t arg;             /* 37: closed: reset; shutdown: how */
	uint8_t pad[2];
};
static_assert(sizeof(NoticeRecord) == 40 && offsetof(NoticeRecord, tenant) == 32, "fastpath.ts reads these offsets");

struct DenialReport {
	Peer peer;
	uint8_t type;
	sb_proto_addr destination;
	std::string rule;
	int32_t errnum;
	double at_ms;
};

uv_timer_t *NewTimer(uv_loop_t *loop, void *data)
{
	uv_timer_t *t = new uv_timer_t;
	uv_timer_init(loop, t);
	uv_unref(reinterpret_cast<uv_handle_t *>(t)); /* never what keeps the operator running */
	t->data = data;
	return t;
}

void CloseTimer(uv_timer_t *&t)
{
	if (!t)
		return;
	uv_timer_stop(t);
	t->data = nullptr;
	uv_close(reinterpret_cast<uv_handle_t *>(t), [](uv_handle_t *h) { delete reinterpret_cast<uv_timer_t *>(h); });
	t = nullptr;
}

/*
 * new FastPath({ backlogUnit, pool: [stream, dgram], reportDelayMs }, onReports)
 *   onReports(): there is something to drain().
 */
class FastPath : public Napi::ObjectWrap<FastPath> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "FastPath",
				   {
					   InstanceMethod("decide", &FastPath::Decide),
					   InstanceMethod("clearDecisions", &FastPath::ClearDecisions),
					   InstanceMethod("listen", &FastPath::Listen),
					   InstanceMethod("unlisten", &FastPath::Unlisten),
					   InstanceMethod("addPorts", &FastPath::AddPorts),
					   InstanceMethod("reclaimPort", &FastPath::ReclaimPort),
					   InstanceMethod("takeFresh", &FastPath::TakeFresh),
					   InstanceMethod("closeSoon", &FastPath::CloseSoon),
					   InstanceMethod("newCircuitId", &FastPath::NewCircuitId),
					   InstanceMethod("pooled", &FastPath::Pooled),
					   InstanceMethod("drain", &FastPath::Drain),
					   InstanceMethod("close", &FastPath::Close),
				   });
	}

	explicit FastPath(const Napi::CallbackInfo &info) : Napi::ObjectWrap<FastPath>(info)
	{
		Napi::Env env = info.Env();
		Napi::Object o = info[0].As<Napi::Object>();
		backlog_unit_ = o.Get("backlogUnit").As<Napi::Number>().Uint32Value();
		if (backlog_unit_ == 0)
			backlog_unit_ = 1;
		Napi::Array pool = o.Get("pool").As<Napi::Array>();
		uint32_t stream_target = pool.Get(0u).As<Napi::Number>().Uint32Value();
		uint32_t dgram_target = pool.Get(1u).As<Napi::Number>().Uint32Value();
		report_delay_ms_ = o.Get("reportDelayMs").As<Napi::Number>().Uint32Value();
		on_reports_ = Napi::Persistent(info[1].As<Napi::Function>());
		env_ = env;
		uv_loop_t *loop = nullptr;
		if (napi_get_uv_event_loop(env, &loop) != napi_ok)
			throw Napi::Error::New(env, "FastPath: no event loop");
		report_timer_ = NewTimer(loop, this);
		pool_ = std::make_unique<CircuitPool>(stream_target, dgram_target);
	}

	~FastPath() override { CloseAll(); }

	/* See the file comment: false (a miss: JavaScript handles it) or true (done here; *send_err: the reply's fate). */
	bool TryAnswer(const Peer &p, const unsigned char *buf, size_t n, uint64_t t0, int *send_err, const char **what);

private:
	/* decide(tenant, type, destination, { allow: true, toTenant, source } | { allow: false, errno, rule, message }) */
	Napi::Value Decide(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		uint32_t tenant = info[0].As<Napi::Number>().Uint32Value();
		uint32_t type = info[1].As<Napi::Number>().Uint32Value();
		if (!ValidType(type))
			throw Napi::TypeError::New(env, "decide: type is 1 (stream) or 2 (dgram)");
		sb_proto_addr dest = WireAddress(env, info[2]);
		Napi::Object o = info[3].As<Napi::Object>();
		Decision d{};
		d.allow = o.Get("allow").ToBoolean();
		if (d.allow) {
			d.id = o.Get("id").As<Napi::Number>().Uint32Value();
			d.to_tenant = o.Get("toTenant").As<Napi::Number>().Uint32Value();
			d.source = WireAddress(env, o.Get("source"));
			d.source.port = 0;
		} else {
			d.errnum = o.Get("errno").As<Napi::Number>().Int32Value();
			d.rule = o.Get("rule").As<Napi::String>().Utf8Value();
			d.message = o.Get("message").As<Napi::String>().Utf8Value();
			if (d.message.size() > 200) /* error.message is a string(200): JavaScript clips it already */
				throw Napi::RangeError::New(env, "decide: message longer than 200 bytes");
		}
		decisions_[KeyOf(tenant, type, dest)] = std::move(d); /* JavaScript bounds their number (fastpath.ts) */
		return env.Undefined();
	}

	Napi::Value ClearDecisions(const Napi::CallbackInfo &info)
	{
		decisions_.clear();
		return info.Env().Undefined();
	}

	/* listen(id, { tenant, type, port, inet6, ip: Uint8Array (ipBytes), v6only, backlog, fd, pid, uid }): (re)registers a listener. */
	Napi::Value Listen(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bool lossless;
		uint64_t id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
		Napi::Object o = info[1].As<Napi::Object>();
		Listener l{};
		l.id = id;
		l.tenant = o.Get("tenant").As<Napi::Number>().Uint32Value();
		uint32_t type = o.Get("type").As<Napi::Number>().Uint32Value();
		uint32_t port = o.Get("port").As<Napi::Number>().Uint32Value();
		l.inet6 = o.Get("inet6").ToBoolean();
		Napi::Uint8Array ip = o.Get("ip").As<Napi::Uint8Array>();
		if (!ValidType(type) || port > 65535 || (ip.ByteLength() != 4 && ip.ByteLength() != 16))
			throw Napi::TypeError::New(env, "listen: bad type, port or ip");
		l.ip.len = (uint8_t)ip.ByteLength();
		memcpy(l.ip.b, ip.Data(), l.ip.len);
		l.v6only = o.Get("v6only").ToBoolean();
		l.backlog = o.Get("backlog").As<Napi::Number>().Uint32Value();
		l.fd = o.Get("fd").As<Napi::Number>().Int32Value();
		l.pid = o.Get("pid").As<Napi::Number>().Int32Value();
		l.uid = o.Get("uid").As<Napi::Number>().Uint32Value();
		Forget(id);
		uint64_t key = PortKey(l.tenant, type, port);
		listeners_[key].push_back(l);
		listener_keys_[id] = key;
		return env.Undefined();
	}

	/* unlisten(id): the reservation stopped listening or is gone (before its fd is closed). */
	Napi::Value Unlisten(const Napi::CallbackInfo &info)
	{
		bool lossless;
		Forget(info[0].As<Napi::BigInt>().Uint64Value(&lossless));
		return info.Env().Undefined();
	}

	void Forget(uint64_t id)
	{
		auto k = listener_keys_.find(id);
		if (k == listener_keys_.end())
			return;
		std::vector<Listener> &v = listeners_[k->second];
		for (size_t i = 0; i < v.size(); i++) {
			if (v[i].id == id) {
				v.erase(v.begin() + (long)i);
				break;
			}
		}
		if (v.empty())
			listeners_.erase(k->second);
		listener_keys_.erase(k);
	}

	/* addPorts(tenant, type, [port…]): free ephemeral ports for unbound connects of that tenant. */
	Napi::Value AddPorts(const Napi::CallbackInfo &info)
	{
		uint32_t tenant = info[0].As<Napi::Number>().Uint32Value();
		uint32_t type = info[1].As<Napi::Number>().Uint32Value();
		Napi::Array a = info[2].As<Napi::Array>();
		std::vector<uint16_t> &v = ports_[PortKey(tenant, type, 0)];
		for (uint32_t i = 0; i < a.Length(); i++)
			v.push_back((uint16_t)a.Get(i).As<Napi::Number>().Uint32Value());
		return info.Env().Undefined();
	}

	/* reclaimPort(tenant, type, port) -> whether it was still set aside (and now is not). */
	Napi::Value ReclaimPort(const Napi::CallbackInfo &info)
	{
		uint32_t tenant = info[0].As<Napi::Number>().Uint32Value();
		uint32_t type = info[1].As<Napi::Number>().Uint32Value();
		uint16_t port = (uint16_t)info[2].As<Napi::Number>().Uint32Value();
		auto it = ports_.find(PortKey(tenant, type, 0));
		if (it != ports_.end()) {
			std::vector<uint16_t> &v = it->second;
			for (size_t i = 0; i < v.size(); i++) {
				if (v[i] == port) {
					v[i] = v.back();
					v.pop_back();
					return Napi::Boolean::New(info.Env(), true);
				}
			}
		}
		return Napi::Boolean::New(info.Env(), false);
	}

	/* takeFresh(type) -> a circuit from the pool (or made now): JavaScript owns its fds. */
	Napi::Value TakeFresh(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		uint32_t type = info[0].As<Napi::Number>().Uint32Value();
		if (!ValidType(type) || closed_)
			throw Napi::TypeError::New(env, "takeFresh: type is 1 (stream) or 2 (dgram), before close()");
		FreshCircuit f;
		int err = pool_->Take(type, &f);
		if (err != 0)
			throw ErrnoError(env, err, "make a circuit");
		pool_->Refill();
		return FreshCircuitValue(env, f);
	}

	/* closeSoon(fds: Int32Array): closes them on the pool's thread (memfds of circuits gone: freeing shmem is slow). */
	Napi::Value CloseSoon(const Napi::CallbackInfo &info)
	{
		Napi::Int32Array a = info[0].As<Napi::Int32Array>();
		std::vector<int> fds(a.Data(), a.Data() + a.ElementLength());
		if (closed_) {
			for (int fd : fds)
				close(fd);
		} else {
			pool_->CloseSoon(fds);
		}
		return info.Env().Undefined();
	}

	Napi::Value NewCircuitId(const Napi::CallbackInfo &info)
	{
		return Napi::BigInt::New(info.Env(), next_circuit_++);
	}

	/* pooled() -> [circuits made ahead and not handed out yet, circuits made on the spot because none was] (`switchboard status`). */
	Napi::Value Pooled(const Napi::CallbackInfo &info)
	{
		Napi::Array a = Napi::Array::New(info.Env(), 2);
		a.Set(0u, closed_ ? 0.0 : (double)pool_->Size());
		a.Set(1u, closed_ ? 0.0 : (double)pool_->Misses());
		return a;
	}

	/* drain() -> null, or { messages, grants: ArrayBuffer of GrantRecords, notices: ArrayBuffer of NoticeRecords, denials: […] } since the last drain. */
	Napi::Value Drain(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (messages_ == 0)
			return env.Null();
		Napi::ArrayBuffer grants = Napi::ArrayBuffer::New(env, grants_.size() * sizeof(GrantRecord));
		if (!grants_.empty())
			memcpy(grants.Data(), grants_.data(), grants_.size() * sizeof(GrantRecord));
		Napi::ArrayBuffer notices = Napi::ArrayBuffer::New(env, notices_.size() * sizeof(NoticeRecord));
		if (!notices_.empty())
			memcpy(notices.Data(), notices_.data(), notices_.size() * sizeof(NoticeRecord));
		Napi::Array denials = Napi::Array::New(env, denials_.size());
		for (size_t i = 0; i < denials_.size(); i++) {
			const DenialReport &d = denials_[i];
			Napi::Object o = Napi::Object::New(env);
			o.Set("session", d.peer.session);
			o.Set("tenant", d.peer.tenant);
			o.Set("pid", d.peer.pid);
			o.Set("uid", d.peer.uid);
			o.Set("gid", d.peer.gid);
			o.Set("type", d.type == SB_PROTO_SOCKET_TYPE_STREAM ? "stream" : "dgram");
			o.Set("destination", AddressValue(env, d.destination));
			o.Set("rule", d.rule);
			o.Set("errno", d.errnum);
			o.Set("at", d.at_ms);
			denials.Set((uint32_t)i, o);
		}
		Napi::Object out = Napi::Object::New(env);
		out.Set("messages", messages_);
		out.Set("grants", grants);
		out.Set("notices", notices);
		out.Set("denials", denials);
		messages_ = 0;
		grants_.clear(); /* the memfds are JavaScript's now */
		notices_.clear();
		denials_.clear();
		return out;
	}

	/* close(): after drain(); closes the pool.  Sessions still open answer nothing any more. */
	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		CloseAll();
		return info.Env().Undefined();
	}

	void CloseAll()
	{
		if (closed_)
			return;
		closed_ = true;
		CloseTimer(report_timer_);
		pool_.reset();
		for (const GrantRecord &g : grants_)
			close(g.memfd);
		grants_.clear();
		decisions_.clear();
		listeners_.clear();
		listener_keys_.clear();
		ports_.clear();
	}

	void Reported()
	{
		if (report_timer_ && !uv_is_active(reinterpret_cast<uv_handle_t *>(report_timer_)))
			uv_timer_start(report_timer_, OnReportTimer, report_delay_ms_, 0);
	}

	static void OnReportTimer(uv_timer_t *t)
	{
		FastPath *self = static_cast<FastPath *>(t->data);
		if (!self)
			return;
		Napi::HandleScope scope(self->env_);
		try {
			self->on_reports_.MakeCallback(self->env_.Global(), {});
		} catch (const Napi::Error &e) {
			napi_fatal_exception(self->env_, e.Value());
		}
	}

	bool Connect(const Peer &p, const sb_proto_msg &msg, uint64_t t0, int *send_err, const char **what);
	bool Deny(const Peer &p, uint32_t request_id, uint8_t type, const sb_proto_addr &dest, const Decision &d, int *send_err, const char **what);

	Napi::Env env_ = nullptr;
	Napi::FunctionReference on_reports_;
	uv_timer_t *report_timer_ = nullptr;
	uint32_t report_delay_ms_ = 10;
	uint32_t backlog_unit_ = 1;
	bool closed_ = false;
	std::unique_ptr<CircuitPool> pool_;

	std::unordered_map<DecisionKey, Decision, DecisionKeyHash> decisions_;
	std::unordered_map<uint64_t, std::vector<Listener>> listeners_; /* PortKey(tenant, type, port) */
	std::unordered_map<uint64_t, uint64_t> listener_keys_;          /* reservation id -> its PortKey */
	std::unordered_map<uint64_t, std::vector<uint16_t>> ports_;     /* PortKey(tenant, type, 0) */
	uint64_t next_circuit_ = 1;
	uint32_t turn_ = 0;

	uint32_t messages_ = 0;
	std::vector<GrantRecord> grants_;
	std::vector<NoticeRecord> notices_;
	std::vector<DenialReport> denials_;
};

bool FastPath::Deny(const Peer &p, uint32_t request_id, uint8_t type, const sb_proto_addr &dest, const Decision &d, int *send_err,
		    const char **what)
{
	sb_proto_error e{};
	e.errnum = d.errnum;
	memcpy(e.message, d.message.data(), d.message.size()); /* <= 200 bytes, checked in decide() */
	unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE];
	size_t len;
	if (sb_proto_encode_error(request_id, &e, buf, sizeof buf, &len) != SB_PROTO_OK)
		return false; /* JavaScript says it then */
	ssize_t n;
	do
		n = send(p.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	*send_err = n < 0 ? errno : 0;
	*what = "error";
	messages_++;
	denials_.push_back(DenialReport{p, type, dest, d.rule, d.errnum, WallMs()});
	Reported();
	return true;
}

bool FastPath::TryAnswer(const Peer &p, const unsigned char *buf, size_t n, uint64_t t0, int *send_err, const char **what)
{
	if (closed_ || (n != SB_PROTO_CONNECT_SIZE && n != SB_PROTO_CLOSED_SIZE && n != SB_PROTO_SHUTDOWN_SIZE))
		return false;
	sb_proto_msg msg;
	sb_proto_fault fault;
	if (sb_proto_decode(buf, n, SB_PROTO_ROUTE_SHIM_TO_OPERATOR, &msg, &fault) != SB_PROTO_OK)
		return false;
	if (msg.type == SB_PROTO_MSG_CONNECT)
		return Connect(p, msg, t0, send_err, what);
	if (msg.type != SB_PROTO_MSG_CLOSED && msg.type != SB_PROTO_MSG_SHUTDOWN)
		return false;
	/* A notice: no reply, only JavaScript's accounting, which checks whose circuit it is. */
	NoticeRecord r{};
	r.session = p.session;
	r.tenant = p.tenant;
	r.type = (uint8_t)msg.type;
	if (msg.type == SB_PROTO_MSG_CLOSED) {
		r.circuit = msg.as.closed.circuit;
		r.bytes_sent = msg.as.closed.bytes_sent;
		r.bytes_received = msg.as.closed.bytes_received;
		r.arg = msg.as.closed.reset;
	} else {
		r.circuit = msg.as.shutdown.circuit;
		r.arg = msg.as.shutdown.how;
	}
	notices_.push_back(r);
	messages_++;
	Reported();
	return true;
}

bool FastPath::Connect(const Peer &p, const sb_proto_msg &msg, uint64_t t0, int *send_err, const char **what)
{
	const sb_proto_connect &c = msg.as.connect;
	/* Bound sockets, port 0 and anything but AF_INET/AF_INET6 are JavaScript's. */
	if (c.reservation != 0 || c.source.family != AF_UNSPEC || c.destination.port == 0 ||
	    (c.destination.family != AF_INET && c.destination.family != AF_INET6))
		return false;
	auto found = decisions_.find(KeyOf(p.tenant, c.socket_type, c.destination));
	if (found == decisions_.end())
		return false;
	const Decision &d = found->second;
	sb_proto_addr dest = c.destination;
	dest.flowinfo = 0; /* as JavaScript's grants: the peer address carries neither */
	dest.scope_id = 0;
	if (!d.allow)
		return Deny(p, msg.request_id, c.socket_type, dest, d, send_err, what);

	/* The listener, as reservations.ts listenersFor(): exact address before wildcard, then take turns. */
	auto on_port = listeners_.find(PortKey(d.to_tenant, c.socket_type, dest.port));
	if (on_port == listeners_.end())
		return false;
	if (on_port->second.size() > kMaxSharing)
		return false;
	const Ip want = IpOf(dest);
	const Listener *exact[kMaxSharing], *any[kMaxSharing];
	size_t n_exact = 0, n_any = 0;
	for (const Listener &l : on_port->second) {
		if (!Overlaps(want, false, l.ip, l.v6only))
			continue;
		if (!IsZero(l.ip))
			exact[n_exact++] = &l;
		any[n_any++] = &l;
	}
	if (n_any == 0)
		return false; /* JavaScript: ECONNREFUSED */
	Listener l = n_exact ? *exact[turn_ % n_exact] : *any[turn_ % n_any];
	turn_++;
	/* SIOCOUTQ counts what the listener has not accepted yet; Linux lets backlog+1 wait.  Full: JavaScript (EAGAIN or wait). */
	int queued = 0;
	if (ioctl(l.fd, SIOCOUTQ, &queued) < 0 || (uint32_t)queued / backlog_unit_ > l.backlog)
		return false;

	auto ports = ports_.find(PortKey(p.tenant, c.socket_type, 0));
	if (ports == ports_.end() || ports->second.empty())
		return false;
	FreshCircuit f;
	if (pool_->Take(c.socket_type, &f) != 0)
		return false;
	uint16_t port = ports->second.back();

	GrantMessages m{};
	m.circuit = next_circuit_;
	m.stream = c.socket_type == SB_PROTO_SOCKET_TYPE_STREAM;
	m.request_id = msg.request_id;
	m.geometry = f.geometry;
	m.connector_local = d.source;
	m.connector_local.port = port;
	m.connector_peer = dest;
	m.acceptor_local = AsSeenBy(l.inet6, dest);
	m.acceptor_peer = AsSeenBy(l.inet6, m.connector_local);
	int reply_err = 0;
	int err = SendGrant(l.fd, p.fd, m, f.memfd, f.ends, &reply_err);
	if (err != 0) {
		/* Nothing went out (the listener's queue is full, or it is going away): put the circuit
		 * back and let JavaScript answer, as it would have. */
		pool_->Put(c.socket_type, f);
		return false;
	}
	double setup_ns = (double)(MonoNs() - t0);
	next_circuit_++;
	ports->second.pop_back();
	messages_++;
	*send_err = reply_err;
	*what = "connect_granted";
	GrantRecord r{};
	r.circuit = m.circuit;
	r.cookies[0] = f.cookies[0];
	r.cookies[1] = f.cookies[1];
	r.listener = l.id;
	r.memfd_bytes = f.geometry.memfd_bytes;
	r.ring_offset[0] = f.geometry.ring_a_offset;
	r.ring_offset[1] = f.geometry.ring_b_offset;
	r.session = p.session;
	r.created_ms = WallMs();
	r.setup_ns = setup_ns;
	r.decision = d.id;
	r.memfd = f.memfd;
	r.ring_bytes[0] = f.geometry.ring_a_bytes;
	r.ring_bytes[1] = f.geometry.ring_b_bytes;
	r.pid = p.pid;
	r.uid = p.uid;
	r.acceptor_pid = l.pid;
	r.acceptor_uid = l.uid;
	r.acceptor_tenant = l.tenant;
	r.reply_errno = reply_err;
	r.port = port;
	r.layout = f.geometry.layout;
	r.type = c.socket_type;
	r.acceptor_inet6 = l.inet6;
	grants_.push_back(r);
	Reported();
	pool_->Refill(); /* after the sends: waking the pool's thread is not the connector's business */
	return true;
}

bool HungUp(int fd)
{
	pollfd p{fd, POLLIN | POLLRDHUP, 0};
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

/*
 * new ControlSession(fastPath, fd, session, tenant, pid, uid, gid, callback)
 *   callback([record…]) with what JavaScript must handle, in order, as
 *   native.recvMessage() would have returned it:
 *     { kind: 'message', bytes, fds, truncated } | { kind: 'eof' } | { kind: 'error', errno }
 *   or { kind: 'send_failed', errno, what }: a reply of the fast path could not be sent.
 *   hold(on), pause(), resume(), close() (before closing the fd).
 */
class ControlSession : public Napi::ObjectWrap<ControlSession> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "ControlSession",
				   {
					   InstanceMethod("hold", &ControlSession::Hold),
					   InstanceMethod("pause", &ControlSession::Pause),
					   InstanceMethod("resume", &ControlSession::Resume),
					   InstanceMethod("close", &ControlSession::Close),
				   });
	}

	explicit ControlSession(const Napi::CallbackInfo &info) : Napi::ObjectWrap<ControlSession>(info)
	{
		Napi::Env env = info.Env();
		Napi::Object owner = info[0].As<Napi::Object>();
		fast_ = FastPath::Unwrap(owner);
		owner_ = Napi::Persistent(owner);
		peer_.fd = FdArg(info, 1);
		peer_.session = info[2].As<Napi::Number>().DoubleValue();
		peer_.tenant = info[3].As<Napi::Number>().Uint32Value();
		peer_.pid = info[4].As<Napi::Number>().Int32Value();
		peer_.uid = info[5].As<Napi::Number>().Uint32Value();
		peer_.gid = info[6].As<Napi::Number>().Uint32Value();
		callback_ = Napi::Persistent(info[7].As<Napi::Function>());
		env_ = env;
		uv_loop_t *loop = nullptr;
		if (napi_get_uv_event_loop(env, &loop) != napi_ok)
			throw Napi::Error::New(env, "ControlSession: no event loop");
		handle_ = new uv_poll_t;
		int r = uv_poll_init(loop, handle_, peer_.fd);
		if (r == 0)
			r = uv_poll_start(handle_, UV_READABLE | UV_DISCONNECT, OnEvent);
		if (r != 0) {
			delete handle_;
			handle_ = nullptr;
			throw Napi::Error::New(env, std::string("ControlSession: ") + uv_strerror(r));
		}
		handle_->data = this;
		Ref(); /* alive while reading, even if JavaScript drops it */
	}

	~ControlSession() override { Release(); }

private:
	static void OnEvent(uv_poll_t *h, int, int)
	{
		ControlSession *self = static_cast<ControlSession *>(h->data);
		if (self)
			self->Readable();
	}

	void Readable()
	{
		Napi::HandleScope scope(env_);
		Napi::Array out;
		uint32_t count = 0;
		auto forward = [&](Napi::Object o) {
			if (count == 0)
				out = Napi::Array::New(env_);
			out.Set(count++, o);
			held_ = true;
		};
		for (int i = 0; i < kReadBatch && handle_ && !paused_; i++) {
			unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE + 1];
			char control[CMSG_SPACE(SB_PROTO_MAX_FDS * sizeof(int))];
			iovec iov{buf, sizeof buf};
			msghdr mh{};
			mh.msg_iov = &iov;
			mh.msg_iovlen = 1;
			mh.msg_control = control;
			mh.msg_controllen = sizeof control;
			ssize_t n;
			do
				n = recvmsg(peer_.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
			while (n < 0 && errno == EINTR);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				Napi::Object o = Napi::Object::New(env_);
				o.Set("kind", "error");
				o.Set("errno", errno);
				forward(o);
				break;
			}
			uint64_t t0 = MonoNs();
			bool truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || (size_t)n > SB_PROTO_MAX_MESSAGE_SIZE;
			std::vector<int> fds;
			for (cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
					size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
					for (size_t j = 0; j < k; j++) {
						int fd;
						memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof fd);
						fds.push_back(fd);
					}
				} else {
					truncated = true; /* nothing else is ever sent on these sockets */
				}
			}
			if (n == 0 && fds.empty() && HungUp(peer_.fd)) {
				Napi::Object o = Napi::Object::New(env_);
				o.Set("kind", "eof");
				forward(o);
				break;
			}
			if (!held_ && !truncated && fds.empty()) {
				int send_err = 0;
				const char *what = "";
				if (fast_->TryAnswer(peer_, buf, (size_t)n, t0, &send_err, &what)) {
					if (send_err == 0)
						continue;
					/* The peer cannot take its answer (gone, or not reading): JavaScript closes the session. */
					Napi::Object o = Napi::Object::New(env_);
					o.Set("kind", "send_failed");
					o.Set("errno", send_err);
					o.Set("what", what);
					forward(o);
					break;
				}
			}
			Napi::Array a = Napi::Array::New(env_, fds.size());
			for (size_t j = 0; j < fds.size(); j++)
				a.Set((uint32_t)j, fds[j]);
			Napi::Object o = Napi::Object::New(env_);
			o.Set("kind", "message");
			o.Set("bytes", Napi::Buffer<unsigned char>::Copy(env_, buf, (size_t)n > SB_PROTO_MAX_MESSAGE_SIZE ? SB_PROTO_MAX_MESSAGE_SIZE : (size_t)n));
			o.Set("fds", a);
			o.Set("truncated", truncated);
			forward(o);
		}
		if (count == 0)
			return;
		try {
			callback_.MakeCallback(env_.Global(), {out});
		} catch (const Napi::Error &e) {
			napi_fatal_exception(env_, e.Value());
		}
	}

	Napi::Value Hold(const Napi::CallbackInfo &info)
	{
		held_ = info[0].ToBoolean();
		return info.Env().Undefined();
	}

	Napi::Value Pause(const Napi::CallbackInfo &info)
	{
		if (handle_ && !paused_)
			uv_poll_stop(handle_);
		paused_ = true;
		return info.Env().Undefined();
	}

	Napi::Value Resume(const Napi::CallbackInfo &info)
	{
		if (handle_ && paused_) {
			int r = uv_poll_start(handle_, UV_READABLE | UV_DISCONNECT, OnEvent);
			if (r != 0)
				throw Napi::Error::New(info.Env(), std::string("ControlSession: ") + uv_strerror(r));
		}
		paused_ = false;
		return info.Env().Undefined();
	}

	void Release() { sb_uv_poll_release(&handle_); }

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		if (handle_) {
			Release();
			Unref();
		}
		return info.Env().Undefined();
	}

	FastPath *fast_ = nullptr;
	Napi::ObjectReference owner_; /* keeps the FastPath alive while this session may use it */
	Peer peer_{};
	bool held_ = true; /* until JavaScript has seen hello and answered everything */
	bool paused_ = false;
	uv_poll_t *handle_ = nullptr;
	Napi::FunctionReference callback_;
	Napi::Env env_ = nullptr;
};

} // namespace

void InitFastPath(Napi::Env env, Napi::Object exports)
{
	exports.Set("FastPath", FastPath::Define(env));
	exports.Set("ControlSession", ControlSession::Define(env));
}
