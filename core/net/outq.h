/*
 * A connection's output queue: memory segments and file ranges, flushed
 * through the connection's transport (writev, and sendfile when it has one).
 * Memory is copied in; files are owned (closed when sent or dropped).
 */
#ifndef WEBSERV_OUTQ_H
#define WEBSERV_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct outq_seg outq_seg;
struct transport;

typedef struct outq {
    outq_seg *head, *tail;
    size_t mem_bytes;   /* bytes of memory segments not yet sent */
    uint64_t file_bytes;/* bytes of file ranges not yet sent */
    /* The connection ends (close or shutdown, in the same turn of the loop)
     * right after the queue's last byte: the write that empties the queue says
     * "more follows" (MSG_MORE), so the kernel holds its last partial segment
     * and the FIN that close or shutdown adds goes out in it, one segment less
     * for both ends per `Connection: close` response (issue 21). Never set when
     * anything else may come or the connection may wait: held bytes would
     * stay held. */
    int fin_follows;
} outq;

/* Copy n bytes in (coalesced into the last memory segment when it has room). 0 or -1 (ENOMEM). */
int outq_append(outq *q, const void *p, size_t n);
/* Queue n bytes at p without copying (module.h write_ref): release(arg) once
 * they are sent or dropped, or at once when this fails (-1, ENOMEM). */
int outq_append_ref(outq *q, const void *p, size_t n, void (*release)(void *), void *arg);
/* A file range; the queue owns fd from now on (closes it even on failure). */
int outq_append_file(outq *q, int fd, off_t off, uint64_t len);
/* A file range whose fd the queue does not own: release(arg) when it is sent or dropped. */
int outq_append_file_shared(outq *q, int fd, off_t off, uint64_t len, void (*release)(void *), void *arg);
/* Prepend n bytes (the response head, written after some body was queued). */
int outq_prepend(outq *q, const void *p, size_t n);
static inline int outq_empty(const outq *q) { return q->head == NULL; }
/* Bytes of files one outq_flush sends at most (a turn of the loop); the
 * rest waits for the next writable event, which on a socket with room comes
 * at once (issue 21: lighttpd's shape, cheaper for the receiver). */
#define OUTQ_FILE_BURST ((size_t)256 * 1024)

/* Send as much as the transport takes, and of files OUTQ_FILE_BURST bytes
 * at most. Returns bytes sent (>= 0; when the queue is not empty after it,
 * the transport's `want` says what to wait for: what TR_AGAIN asked, or
 * LOOP_WRITE after a burst), or -1 on a fatal error (peer gone, or a file
 * that shrank while being sent). */
ssize_t outq_flush(outq *q, struct transport *t);
/* Drop everything (closing files). */
void outq_clear(outq *q);
/* Free the recycled segments (at exit, so leak checkers see a clean heap). */
void outq_release_spares(void);

#endif
