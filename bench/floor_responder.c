/*
 * The floor for the 1 KiB keep-alive workloads: an epoll loop that answers
 * every request head it reads with the same canned 1 KiB response, without
 * parsing, routing, files or logs. What it costs per request on this machine
 * is what the kernel costs (accept, read, write, epoll); a real server can
 * only add to it. bench/floor.sh runs it beside webserv with the benchmark's
 * pinning and CPU accounting. Not part of the server.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY 1024

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 18095;
    static char resp[BODY + 256];
    int hl = snprintf(resp, sizeof resp,
                      "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Length: %d\r\n\r\n", BODY);
    memset(resp + hl, 'x', BODY);
    size_t rlen = (size_t)hl + BODY;

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
        perror("floor_responder: bind/listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[512];
    static char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t k = read(fd, buf, sizeof buf);
            if (k <= 0) {
                close(fd);
                continue;
            }
            /* One answer per request head in what was read (wrk sends whole heads). */
            int heads = 0;
            for (char *p = buf; (p = memmem(p, (size_t)(buf + k - p), "\r\n\r\n", 4)) != NULL; p += 4)
                heads++;
            for (int h = 0; h < heads; h++)
                if (write(fd, resp, rlen) < 0)
                    break;
        }
    }
}
