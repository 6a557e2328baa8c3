/*
 * Creating and attaching: the layout, what attach refuses, the default ring
 * size and its override, and that creation touches page 0 only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

static int endpoint(void)
{
	static int sv[2] = { -1, -1 };
	if (sv[0] < 0)
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	return sv[0];
}

static int create_stream(uint64_t a, uint64_t b)
{
	struct sb_circuit_geometry g = { .mode = SB_CIRCUIT_STREAM, .ring_size = { a, b } };
	return sb_circuit_create(&g);
}

static int attach(int memfd)
{
	struct sb_circuit c;
	int rc = sb_circuit_attach(&c, memfd, endpoint(), SB_ROLE_CONNECTOR);
	if (rc == 0)
		sb_circuit_detach(&c);
	return rc;
}

TEST(attach_layout_is_as_documented)
{
	int fd = create_stream(8192, 16384);
	CHECK(fd >= 0);
	CHECK_EQ(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	struct sb_circuit_header h;
	CHECK_EQ(pread(fd, &h, sizeof h, 0), sizeof h);
	CHECK_EQ(h.magic, SB_CIRCUIT_MAGIC);
	CHECK_EQ(h.version, SB_CIRCUIT_VERSION);
	CHECK_EQ(h.mode, SB_CIRCUIT_STREAM);
	CHECK_EQ(h.ring_offset[SB_RING_A], 4096);
	CHECK_EQ(h.ring_size[SB_RING_A], 8192);
	CHECK_EQ(h.ring_offset[SB_RING_B], 4096 + 8192);
	CHECK_EQ(h.ring_size[SB_RING_B], 16384);
	CHECK_EQ(h.total_size, 4096 + 8192 + 16384);
	struct sb_circuit c, d;
	CHECK_EQ(sb_circuit_attach(&c, fd, endpoint(), SB_ROLE_CONNECTOR), 0);
	CHECK_EQ(sb_circuit_attach(&d, fd, endpoint(), SB_ROLE_ACCEPTOR), 0);
	CHECK_EQ(c.tx.size, 8192); /* the connector sends on A */
	CHECK_EQ(c.rx.size, 16384);
	CHECK_EQ(d.tx.size, 16384);
	CHECK(c.tx.ctl == &c.shm->ring[SB_RING_A] && d.rx.ctl == &d.shm->ring[SB_RING_A]);
	/* Resizing is refused by the seals. */
	CHECK_EQ(ftruncate(fd, 4096), -1);
	CHECK_EQ(ftruncate(fd, 1 << 20), -1);
	CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	sb_circuit_detach(&c);
	sb_circuit_detach(&d);
	close(fd);
}

TEST(attach_create_refuses_bad_geometry)
{
	struct sb_circuit_geometry g = { .mode = 3 };
	CHECK_EQ(sb_circuit_create(&g), -EINVAL);
	CHECK_EQ(sb_circuit_create(NULL), -EINVAL);
	CHECK_EQ(create_stream(3000, 4096), -EINVAL);
	CHECK_EQ(create_stream(2048, 4096), -EINVAL);
	CHECK_EQ(create_stream(4096, (uint64_t)SB_RING_MAX_SIZE * 2), -EINVAL);
}

/* mincore() on a shared mapping tells which pages of the memfd exist. */
static size_t resident_pages(void *map, size_t len)
{
	unsigned char vec[1024];
	CHECK(len / 4096 <= sizeof vec);
	CHECK_EQ(mincore(map, len, vec), 0);
	size_t n = 0;
	for (size_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	return n;
}

TEST(attach_creation_touches_page_zero_only)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, 1 << 20);
	CHECK_EQ(p.a.map_len, 4096 + (2 << 20));
	CHECK_EQ(resident_pages(p.a.shm, p.a.map_len), 1);
	CHECK(sb_circuit_poll(&p.a) & POLLOUT);
	CHECK_EQ(resident_pages(p.a.shm, p.a.map_len), 1);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), 1); /* the first byte brings in one page of ring A */
	CHECK_EQ(resident_pages(p.a.shm, p.a.map_len), 2);
	pair_close(&p);
}

/* A memfd with a valid header and the given seals. */
static int handmade(unsigned seals)
{
	int src = create_stream(4096, 4096);
	CHECK(src >= 0);
	struct sb_circuit_header h;
	CHECK_EQ(pread(src, &h, sizeof h, 0), sizeof h);
	close(src);
	int fd = memfd_create("handmade", MFD_ALLOW_SEALING);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)h.total_size), 0);
	CHECK_EQ(pwrite(fd, &h, sizeof h, 0), sizeof h);
	if (seals)
		CHECK_EQ(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

TEST(attach_refuses_unsealed_or_foreign_fds)
{
	int good = handmade(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	CHECK_EQ(attach(good), 0);
	int unsealed = handmade(0);
	CHECK_EQ(attach(unsealed), -EPROTO);
	int no_seal_seal = handmade(F_SEAL_SHRINK | F_SEAL_GROW);
	CHECK_EQ(attach(no_seal_seal), -EPROTO); /* could be unsealed (and resized) later */
	int write_sealed = handmade(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	CHECK_EQ(attach(write_sealed), -EPROTO);
	char path[] = "/tmp/sb-attach-XXXXXX";
	int file = mkstemp(path);
	CHECK(file >= 0);
	unlink(path);
	CHECK_EQ(ftruncate(file, 3 * 4096), 0);
	CHECK_EQ(attach(file), -EPROTO);
	int pipefd[2];
	CHECK_EQ(pipe(pipefd), 0);
	CHECK_EQ(attach(pipefd[0]), -EPROTO);
	close(file);
	CHECK_EQ(attach(file), -EBADF);
	struct sb_circuit c;
	CHECK_EQ(sb_circuit_attach(&c, good, endpoint(), (enum sb_circuit_role)7), -EINVAL);
}

/* Writes `value` (its first `size` bytes) at `offset` of a fresh sealed circuit's header, then attaches. */
static int attach_with(size_t offset, size_t size, uint64_t value)
{
	int fd = create_stream(4096, 4096);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, &value, size, (off_t)offset), (ssize_t)size);
	int rc = attach(fd);
	close(fd);
	return rc;
}

#define FIELD(f) offsetof(struct sb_circuit_header, f), sizeof(((struct sb_circuit_header *)0)->f)

TEST(attach_refuses_every_malformed_header_field)
{
	struct {
		const char *what;
		size_t offset, size;
		uint64_t value;
	} bad[] = {
		{ "magic", FIELD(magic), 0x12345678 },
		{ "version", FIELD(version), SB_CIRCUIT_VERSION + 1 },
		{ "version 1 (before datagram stamps)", FIELD(version), 1 },
		{ "mode", FIELD(mode), 0 },
		{ "mode", FIELD(mode), 3 },
		{ "reserved", FIELD(reserved), 1 },
		{ "total_size smaller than the file", FIELD(total_size), 2 * 4096 },
		{ "total_size larger than the file", FIELD(total_size), 4 * 4096 },
		{ "ring A over page 0", FIELD(ring_offset[0]), 0 },
		{ "ring A not page aligned", FIELD(ring_offset[0]), 4096 + 8 },
		{ "ring A over ring B", FIELD(ring_offset[0]), 8192 },
		{ "ring B past the end", FIELD(ring_offset[1]), 3 * 4096 },
		{ "ring B offset huge", FIELD(ring_offset[1]), UINT64_MAX - 4095 },
		{ "ring size not a power of two", FIELD(ring_size[0]), 4096 + 4096 / 2 },
		{ "ring size too small", FIELD(ring_size[0]), 2048 },
		{ "ring size too large", FIELD(ring_size[1]), (uint64_t)1 << 31 },
		{ "ring size past the end", FIELD(ring_size[1]), 8192 },
	};
	CHECK_EQ(attach_with(FIELD(magic), SB_CIRCUIT_MAGIC), 0); /* the unchanged value passes */
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = attach_with(bad[i].offset, bad[i].size, bad[i].value);
		if (rc != -EPROTO)
			fprintf(stderr, "accepted: %s\n", bad[i].what);
		CHECK_EQ(rc, -EPROTO);
	}
}

TEST(attach_default_ring_size_and_override)
{
	setenv("SWITCHBOARD_RING_SIZE", "64K", 1);
	CHECK_EQ(sb_circuit_default_ring_size(), 65536);
	int fd = create_stream(0, 0);
	struct sb_circuit_header h;
	CHECK_EQ(pread(fd, &h, sizeof h, 0), sizeof h);
	CHECK_EQ(h.ring_size[0], 65536);
	CHECK_EQ(h.ring_size[1], 65536);
	close(fd);
}

TEST(attach_bad_ring_size_override_is_ignored)
{
	setenv("SWITCHBOARD_RING_SIZE", "3000", 1);
	uint64_t v = sb_circuit_default_ring_size();
	CHECK(v >= SB_RING_MIN_SIZE && (v & (v - 1)) == 0);
	CHECK(v != 3000);
}

TEST(attach_spin_budget_from_environment)
{
	setenv("SWITCHBOARD_SPIN_NS", "1234", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, 4096);
	CHECK_EQ(p.a.tx.spin_ns, 1234);
	CHECK_EQ(p.b.rx.spin_ns, 1234);
	/* Fixed by the environment: a wait that had to sleep does not change it. */
	char c;
	struct sb_wait w = timeout_ms(5);
	CHECK_EQ(recv_buf_wait(&p.b, &c, 1, 0, &w), -ETIMEDOUT);
	CHECK_EQ(p.b.rx.spin_ns, 1234);
	pair_close(&p);
}

TEST(attach_spin_budget_adapts)
{
	unsetenv("SWITCHBOARD_SPIN_NS");
	if (sysconf(_SC_NPROCESSORS_ONLN) <= 1)
		return; /* one CPU: never spins */
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, 4096);
	uint32_t start = p.b.rx.spin_ns;
	CHECK(start > 0);
	char c;
	struct sb_wait w = timeout_ms(2);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(recv_buf_wait(&p.b, &c, 1, 0, &w), -ETIMEDOUT);
	CHECK(p.b.rx.spin_ns < start); /* spinning did not pay off: less of it */
	pair_close(&p);
}
