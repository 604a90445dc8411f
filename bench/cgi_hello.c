/*
 * The compiled hello CGI of the cgi-c-10 workload (issue 21): no interpreter
 * start-up, so what a request costs is mostly the server's own cost per spawn
 * (fork/exec or posix_spawn, pipes, reaping). Built by bench/workloads.py into
 * the run's cgi-bin/hello.cgi. Not part of the server.
 */
#include <string.h>
#include <unistd.h>

int main(void)
{
    static const char out[] = "Content-Type: text/plain\r\n\r\nHello, world!\n";
    return write(1, out, sizeof out - 1) == (ssize_t)(sizeof out - 1) ? 0 : 1;
}
