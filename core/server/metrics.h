/*
 * Server-wide metrics (docs/operations.md "Metrics"): counters in one block of
 * shared memory made before the first fork, so every worker adds into the
 * same numbers and any worker can print the sum (the `metrics` module, in the
 * Prometheus text format 0.0.4). The block lives as long as the process that
 * made it (the master, or the single process): reloads and worker restarts
 * keep every counter.
 */
#ifndef WEBSERV_METRICS_H
#define WEBSERV_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "webserv/module.h"

struct request;
struct arena;

/* Map the block (once; later calls do nothing). Before config_load, so that
 * modules' init() can register counters, and before any fork. 0 or -1. */
int metrics_init(void);

/* A worker (or the single process) starts: it takes a gauge slot. */
void metrics_worker_start(void);
/* The master reaped `pid`: its slot is free again; `restarted` when it died on its own. */
void metrics_worker_gone(pid_t pid, int restarted);
void metrics_reload(void);
void metrics_connection_accepted(void);
void metrics_connection_dropped(void);
/* Copy this process's connection gauges into its slot. */
void metrics_publish(const ws_stats *st);

/* At the end of every request (the access log's moment); `duration_ns` from
 * the head to the end. Costs a few atomic adds once the series is known. */
void metrics_request(const struct request *r, uint64_t duration_ns);

/* CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call). */
uint64_t metrics_now_ns(void);

/* ws_host.counter / counter_add (ABI 1.2). */
ws_counter *metrics_counter(const char *name, const char *help);
void metrics_counter_add(ws_counter *c, uint64_t n);

/* The whole server's metrics, text format 0.0.4, in `pool`; NULL when out of memory. */
char *metrics_render(struct arena *pool, size_t *len);

#endif
