/* See circuit_pool.h. */
#include "circuit_pool.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

CircuitPool::CircuitPool(uint32_t stream_target, uint32_t dgram_target)
{
	target_[SB_PROTO_SOCKET_TYPE_STREAM] = stream_target;
	target_[SB_PROTO_SOCKET_TYPE_DGRAM] = dgram_target;
	/* The first fill, now: the first connects find circuits ready. */
	for (uint32_t type : {SB_PROTO_SOCKET_TYPE_STREAM, SB_PROTO_SOCKET_TYPE_DGRAM}) {
		while (pool_[type].size() < target_[type]) {
			FreshCircuit f;
			if (MakeFreshCircuit(type, &f) != 0)
				break; /* the thread tries again; Take() makes one when empty */
			pool_[type].push_back(f);
		}
	}
	thread_ = std::thread([this] { Run(); });
}

CircuitPool::~CircuitPool()
{
	{
		std::lock_guard<std::mutex> lock(mu_);
		stop_ = true;
	}
	cv_.notify_one();
	thread_.join();
	for (auto &pool : pool_)
		for (const FreshCircuit &f : pool)
			CloseFreshCircuit(f);
	for (int fd : to_close_)
		close(fd);
}

int CircuitPool::Take(uint32_t type, FreshCircuit *out)
{
	{
		std::lock_guard<std::mutex> lock(mu_);
		if (!pool_[type].empty()) {
			*out = pool_[type].back();
			pool_[type].pop_back();
			return 0;
		}
		misses_++;
	}
	return MakeFreshCircuit(type, out);
}

void CircuitPool::Put(uint32_t type, const FreshCircuit &f)
{
	std::lock_guard<std::mutex> lock(mu_);
	pool_[type].push_back(f);
}

void CircuitPool::Refill()
{
	bool wake;
	{
		std::lock_guard<std::mutex> lock(mu_);
		wake = asleep_ && (Low(SB_PROTO_SOCKET_TYPE_STREAM) || Low(SB_PROTO_SOCKET_TYPE_DGRAM));
		if (wake)
			asleep_ = false; /* one wake-up per refill, not one per connect */
	}
	if (wake)
		cv_.notify_one();
}

void CircuitPool::CloseSoon(const std::vector<int> &fds)
{
	{
		std::lock_guard<std::mutex> lock(mu_);
		to_close_.insert(to_close_.end(), fds.begin(), fds.end());
		asleep_ = false;
	}
	cv_.notify_one();
}

size_t CircuitPool::Size()
{
	std::lock_guard<std::mutex> lock(mu_);
	return pool_[SB_PROTO_SOCKET_TYPE_STREAM].size() + pool_[SB_PROTO_SOCKET_TYPE_DGRAM].size();
}

uint64_t CircuitPool::Misses()
{
	std::lock_guard<std::mutex> lock(mu_);
	return misses_;
}

void CircuitPool::Run()
{
	/* Spare CPU only: nice 19 (a thread's own nice value on Linux), yet never starved for good as SCHED_IDLE could be. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	std::unique_lock<std::mutex> lock(mu_);
	bool failed = false; /* making a circuit failed (out of fds or memory): wait to be asked again rather than spin */
	for (;;) {
		if (stop_)
			return;
		bool fill = !failed && (pool_[SB_PROTO_SOCKET_TYPE_STREAM].size() < target_[SB_PROTO_SOCKET_TYPE_STREAM] ||
					pool_[SB_PROTO_SOCKET_TYPE_DGRAM].size() < target_[SB_PROTO_SOCKET_TYPE_DGRAM]);
		if (!fill && to_close_.empty()) {
			asleep_ = true;
			cv_.wait(lock);
			failed = false;
			continue;
		}
		std::vector<int> closing;
		closing.swap(to_close_);
		lock.unlock();
		for (int fd : closing)
			close(fd);
		/* One circuit at a time, each available to Take() as soon as it is made. */
		for (uint32_t type : {SB_PROTO_SOCKET_TYPE_STREAM, SB_PROTO_SOCKET_TYPE_DGRAM}) {
			while (fill && !failed) {
				{
					std::lock_guard<std::mutex> check(mu_);
					if (stop_ || pool_[type].size() >= target_[type])
						break;
				}
				FreshCircuit f;
				if (MakeFreshCircuit(type, &f) != 0) {
					failed = true;
					break;
				}
				std::lock_guard<std::mutex> put(mu_);
				pool_[type].push_back(f);
			}
		}
		lock.lock();
	}
}
