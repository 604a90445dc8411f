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
 * And the head of a file response goes out on its own where the
 * connection's congestion control paces (BBR), instead of held back with
 * MSG_MORE for the file's first bytes (net/outq.h head_alone). Measured on
 * a VM whose default is BBR (issue 21, 100 KiB keep-alive, wrk -c50): with
 * the head held, every connection left BBR's start-up phase within a second
 * and was paced from then on at the bandwidth BBR estimates for a path of
 * microseconds; each pacing stop arms a high-resolution timer and the rest
 * goes out from the timer's interrupt, and the worker spent ~40 us per
 * response, 37 % of it enabling interrupts (perf). With the head sent alone
 * the connections stayed in start-up, unpaced, like nginx's (which writes
 * its head without MSG_MORE): ~21-24 us, nginx ~27. Under CUBIC, which does
 * not pace, nothing changes and the held head saves a segment, so it stays.
 */
#ifndef WEBSERV_SAME_HOST_H
#define WEBSERV_SAME_HOST_H

#include <sys/socket.h>

/* SO_SNDBUF asked for; the kernel doubles it (socket(7)): 512 KiB held. */
#define SAME_HOST_SNDBUF (256 * 1024)
/* File bytes waiting to go out from which the cap is worth its system call. */
#define SAME_HOST_BIG_SEND ((unsigned long long)1024 * 1024)

/* 1 when remote is on this machine: an IPv4 loopback address (127/8), ::1,
 * either as IPv4-mapped IPv6, or the same address as local (a client of
 * this host that dialled one of its own addresses: the kernel routes that
 * through the loopback device too). */
int peer_on_this_host(const struct sockaddr *local, const struct sockaddr *remote);

#endif
