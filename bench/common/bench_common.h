/*
 * What every benchmark under bench/ needs: a clock, dying with a message
 * (prefixed with the program's name), processes and shared memory for a
 * process pair, quantiles, and the placement probe, so that every benchmark
 * classifies its measurements with the same probe.
 */
#ifndef SB_BENCH_COMMON_H
#define SB_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

uint64_t now_ns(void); /* CLOCK_MONOTONIC */
void die(const char *what) __attribute__((noreturn));                                 /* "prog: what: strerror(errno)" */
void dief(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2))); /* "prog: ..." */

/* Anonymous shared memory that survives fork (results, probe lines); zeroed. */
void *shared_alloc(size_t len);
/* Runs fn(arg) in a child that then _exit()s with its return value. */
pid_t spawn(int (*fn)(void *), void *arg);
/* Waits for pid; dies unless it exited 0. */
void reap(pid_t pid, const char *who);
/* Sorts v (n entries) and returns the q-quantile (0..1), nearest rank. */
double quantile(double *v, size_t n, double q);

/*
 * The placement probe (probe.c): a spinning cache-line ping-pong between
 * two processes; the median round trip in ns.  On these virtual machines it
 * tells whether the two vCPUs sit close or far apart right now.
 */
double probe_placement(void);

#endif
