/*
 * Peers on this very machine (loopback addresses, or the server's own
 * address as the client's), and the send buffer a big file to one of them
 * gets.
 *
 * Why (issue 21, the 10 MiB row): Linux grows a socket's send buffer up to
 * tcp_wmem's maximum (4 MiB here) while a big file goes out, and whatever
 * does not fit the receiver's window waits in it. On a real network that is
 * what keeps a long fat path full. Between two processes of one machine the
 * path is microseconds long, and the queued data is transmitted by the
 * kernel when the receiver's ACK opens the window, in the context that
 * sends that ACK: the receiving process's own CPU, which then also runs the
 * loopback delivery. With 8 connections reading 10 MiB files, the client's
 * core paid ~4,200 µs per response and the server's ~1,630; with the send
 * buffer capped at 512 KiB, ~2,850 and ~1,350 (the same runs' lighttpd:
 * ~3,500 and ~1,800). The cap costs nothing there: the bandwidth-delay
 * product of a loopback path is a few tens of KiB.
 *
 * Only for a peer on this host: a remote client keeps the kernel's
 * autotuning (a fixed buffer would cap its throughput at buffer / RTT).
 *
 * And where the system's congestion control paces its sends (BBR), a
 * listener bound to a loopback address (every peer of it is on this host)
 * is switched to CUBIC, which its connections inherit (server/listen.c).
 * BBR models a path by its bottleneck bandwidth and round-trip time and
 * sends at that rate, stopping on a high-resolution timer between bursts;
 * on a path of microseconds the model says nothing useful and the stops are
 * pure cost: the timer, its interrupt, and the sending from that interrupt.
 * Measured on a VM whose default is BBR (issue 21): once a connection left
 * BBR's start-up phase (for every response over ~100 KiB, nginx's too), the
 * worker spent 37 % of its time enabling interrupts (perf); with CUBIC,
 * 100-128 KiB keep-alive responses cost the worker ~20 us instead of 34-42,
 * and 10 MiB ones 810-1,170 us instead of 1,330, at ~2.2 GB/s instead of
 * 1.7 and a p99 of 65-93 ms instead of 119 (wrk -c8). Only the listener can
 * choose: a connection switched after it was established keeps BBR's pacing
 * state, and was worse (10 MiB p99 over a second), so a wildcard listener,
 * whose peers may be anywhere, keeps the system's choice. CUBIC is built
 * into Linux; if the switch is refused, nothing changes.
 */
#ifndef WEBSERV_SAME_HOST_H
#define WEBSERV_SAME_HOST_H

#include <sys/socket.h>

/* SO_SNDBUF asked for; the kernel doubles it (socket(7)): 512 KiB held. */
#define SAME_HOST_SNDBUF (256 * 1024)
/* The congestion control a loopback listener gets instead of a pacing one. */
#define SAME_HOST_CONGESTION "cubic"
/* File bytes waiting to go out from which the cap is worth its system call. */
#define SAME_HOST_BIG_SEND ((unsigned long long)1024 * 1024)

/* 1 when remote is on this machine: an IPv4 loopback address (127/8), ::1,
 * either as IPv4-mapped IPv6, or the same address as local (a client of
 * this host that dialled one of its own addresses: the kernel routes that
 * through the loopback device too). */
int peer_on_this_host(const struct sockaddr *local, const struct sockaddr *remote);
/* 1 when a is an IPv4 loopback address (127/8, also IPv4-mapped) or ::1. */
int address_is_loopback(const struct sockaddr *a);
/* A listening socket fd bound to `bound`: when that is a loopback address
 * and fd's congestion control paces its sends (BBR), switch fd to
 * SAME_HOST_CONGESTION (its connections inherit it). 1 switched, 0 nothing
 * to do, -1 the kernel refused (fd keeps what it had). */
int same_host_unpace_listener(int fd, const struct sockaddr *bound);

#endif
