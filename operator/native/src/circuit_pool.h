/*
 * Circuits made ahead of time, and memfds closed after their circuit is
 * gone, by one background thread at nice 19.
 *
 * Why a thread of its own: making a circuit (memfd_create, ftruncate, the
 * header page, seals, socketpair, cookies) and closing a circuit's memfd
 * (freeing its shmem inode) cost 10–20 µs of CPU each.  On the event loop
 * they stall every connect behind them (a sweep used to block it for ~20 ms);
 * on libuv's thread pool they ran at normal priority, competing with the very
 * processes whose connects they serve, and woke the loop once per batch.  At
 * nice 19 the work takes spare CPU, and the loop is never woken for it.
 *
 * Take() pops under a mutex (uncontended: tens of ns).  An empty pool is
 * not a miss: the caller makes one on the spot.
 */
#ifndef SB_NATIVE_CIRCUIT_POOL_H
#define SB_NATIVE_CIRCUIT_POOL_H

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "grant_core.h"

class CircuitPool {
public:
	/* target[type] circuits kept ready per socket type (1 stream, 2 dgram); fills them before returning. */
	CircuitPool(uint32_t stream_target, uint32_t dgram_target);
	~CircuitPool(); /* stops the thread; closes what it holds */

	/* A circuit of `type`, from the pool or made now; 0 or an errno. */
	int Take(uint32_t type, FreshCircuit *out);
	/* Gives back one that was taken but not handed out. */
	void Put(uint32_t type, const FreshCircuit &f);
	/* Wakes the thread if the pool ran low since it last looked (call once the grant is out). */
	void Refill();
	/* Closes these fds on the background thread. */
	void CloseSoon(const std::vector<int> &fds);
	size_t Size();
	/* Circuits Take() had to make on the spot because the pool was empty (`switchboard status`). */
	uint64_t Misses();

private:
	void Run();
	bool Low(uint32_t type) const { return pool_[type].size() <= target_[type] / 2; }

	std::mutex mu_;
	std::condition_variable cv_;
	std::vector<FreshCircuit> pool_[3]; /* by socket type */
	uint32_t target_[3] = {0, 0, 0};
	std::vector<int> to_close_;
	bool asleep_ = false, stop_ = false;
	uint64_t misses_ = 0;
	std::thread thread_;
};

#endif
