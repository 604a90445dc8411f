/* Inside core/h2: the session (h2_session.c) and its streams (h2_stream.c). */
#ifndef WEBSERV_H2_INTERNAL_H
#define WEBSERV_H2_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "carrier.h"
#include "conn.h"
#include "h2.h"
#include "request.h"

/* Limits of our own (nghttp2 gives the mechanisms). */
#define H2_MAX_STREAMS 128          /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define H2_STREAM_WINDOW 65535      /* SETTINGS_INITIAL_WINDOW_SIZE: body bytes buffered per stream, at most */
#define H2_CONN_WINDOW (16 << 20)   /* the connection window (consumed as DATA arrives) */
#define H2_HPACK_TABLE 4096         /* SETTINGS_HEADER_TABLE_SIZE, and our encoder's table */
#define H2_OUT_LOW_WATER (64 * 1024) /* a stream's queued output below this: on_writable */
#define H2_WBUF 32768               /* frames gathered before one write */
/* Over TLS a DATA frame carries at most one record's plaintext (2^14 bytes,
 * RFC 8446 §5.1) less its 9-byte header, and one of at least H2_DIRECT bytes
 * goes to the transport from nghttp2's own buffer instead of being gathered
 * (h2_session.c flush): one copy less per response byte, one record a frame. */
#define H2_TLS_DATA (16384 - 9)
#define H2_DIRECT 4096

/* One piece of a stream's response body, in order. */
typedef struct h2_seg {
    struct h2_seg *next;
    enum { SEG_MEM, SEG_REF, SEG_FILE } kind;
    const char *p;              /* MEM, REF: the next byte */
    size_t n;                   /* MEM, REF: bytes left */
    int fd;                     /* FILE */
    off_t off;                  /* FILE: the next offset */
    uint64_t left;              /* FILE: bytes left */
    carrier_release_fn release; /* REF, FILE (FILE: close(fd) when NULL) */
    void *arg;
} h2_seg;

/* A request field as received, as offsets into the stream's field bytes. */
typedef struct h2_field {
    uint32_t name, name_len, value, value_len;
} h2_field;

typedef struct h2_session h2_session;

typedef struct h2_stream {
    int32_t id;
    h2_session *h;
    request *r;                 /* from the end of its head to its end */
    struct h2_stream *prev, *next;

    /* the request head, collected field by field */
    char *fb;                   /* field bytes */
    size_t fb_len, fb_cap;
    h2_field *fields;
    size_t n_fields, fields_cap;
    size_t head_bytes;          /* RFC 9113 §6.5.2 size: name + value + 32 per field */
    int head_too_large;         /* past limits.header_size: answered 431 */
    int in_trailers;            /* a second HEADERS (trailers): fields ignored */
    int head_done;              /* the head is complete: start the request */
    int end_at_head;            /* HEADERS carried END_STREAM: no body */
    int started;                /* a request was made for it */
    uint64_t opened_ms;         /* for the header timeout */

    /* the request body: DATA not yet consumed by the module (bounded by the
     * stream window, since the window reopens only for consumed bytes) */
    char *in;
    size_t in_off, in_len, in_cap;
    uint64_t in_seen;           /* DATA bytes received */
    int end_in;                 /* END_STREAM received */

    /* the response */
    h2_seg *out, *out_tail;
    size_t out_mem;             /* queued bytes of memory (mem and ref) */
    int submitted;              /* HEADERS submitted */
    int eof;                    /* finish: the body is complete */
    int deferred;               /* the data provider waits for pieces */
    int sent_end;               /* END_STREAM went out */
    int closed;                 /* nghttp2 closed the stream */
    uint32_t close_code;
    int reset_sent;
} h2_stream;

/* Every HTTP/2 connection keeps one, asleep too: 8-byte fields first, then
 * 4-byte ones, then bytes, so that it packs without holes (248 bytes: a
 * 256-byte malloc chunk; it was 312 with int flags, 320). */
struct h2_session {
    conn *c;
    nghttp2_session *ng;
    h2_stream *streams;         /* every stream with state of ours */
    size_t n_streams;
    uint8_t *wbuf;              /* frames not yet written */
    size_t wlen, woff;
    loop_timer *timer;
    uint64_t timer_at;
    uint64_t idle_since;        /* ms: no stream open since */
    uint64_t linger_until;      /* ms: the write side is shut: dropping input until the client closes, or until then */
    uint64_t last_write;        /* ms: the last write that moved bytes (send timeout) */
    /* flood accounting: frames that make the server work but carry no
     * request (PING, SETTINGS, PRIORITY, empty DATA, RST_STREAM, resets of
     * streams it had to set up); a token bucket refilled per second */
    double junk_tokens;
    uint64_t junk_at;
    uint64_t last_in;           /* ms: the last bytes from the client */
    /* nghttp2's HPACK decoder twice: a second one fed the same header
     * blocks, whose table (the client's indexed fields) can be read out */
    nghttp2_hd_inflater *shadow;
    uint8_t *nap_hpack;         /* asleep: a header block that rebuilds our decoder's table */

    /* the client's bytes cut into frames, to know when nghttp2 stands
     * between two frames (h2_idle.c) */
    uint32_t in_preface;        /* connection preface bytes still to come */
    uint32_t in_left;           /* payload bytes of the current frame still to come */
    uint32_t hb_skip;           /* pad length and priority bytes before the fragment */
    uint32_t hb_frag;           /* fragment bytes still to come */
    uint32_t rep_len;           /* string bytes still to come (the header-block scan, below) */
    uint32_t hts_sent;          /* the client's SETTINGS_HEADER_TABLE_SIZE at our last HEADERS */
    /* asleep (h2_idle.c): the nghttp2 session is freed; what rebuilds it */
    uint32_t nap_settings[8];   /* the client's settings, in the order of h2_idle.c's peer_ids */
    int32_t nap_last_stream;    /* the last stream the client opened */
    int32_t nap_window;         /* the client's connection window for our DATA */
    uint32_t nap_hpack_len;
    uint32_t nap_hpack_size;    /* the table's size (RFC 7541 §4.1) */

    uint8_t in_hd[9];           /* the frame header being read */
    uint8_t in_hd_len;
    uint8_t in_block;           /* a header block waits for its CONTINUATION */
    uint8_t in_frames;          /* whole frames seen (stops counting at 255) */
    uint8_t in_hb;              /* the current frame carries a header block fragment */
    uint8_t hb_padded;          /* … and its pad length byte is next */
    uint8_t hb_final;           /* … and ends the header block */
    /* the second decoder is fed only the representations that change the
     * table (RFC 7541 §6.2.1, §6.3): the header block is scanned, not decoded */
    uint8_t rep_state;          /* where in a representation the scan is */
    uint8_t rep_feed;           /* the current one goes to the second decoder */
    uint8_t rep_strings;        /* string literals still to come in it */
    uint8_t rep_any;            /* something of this block went to it */
    uint8_t rep_int_bytes;      /* continuation bytes of the current integer */
    uint8_t rep_shift;
    uint8_t shadow_bad;         /* the second decoder failed where nghttp2's may not have */

    uint8_t in_progress;
    uint8_t want_write;         /* the transport blocked a write */
    uint8_t going_away;         /* GOAWAY submitted (drain) */
    uint8_t dead;               /* close after what is queued (flood, fatal error) */
    uint8_t fatal;              /* nghttp2 gave up on the session: call it no more */
    uint8_t had_stream;
    uint8_t reap;               /* a stream closed: end its request */
    uint8_t shut;               /* the write side is shut: dropping input until the client closes */
    uint8_t peer_goaway;        /* the client sent GOAWAY */
    uint8_t asleep;
    uint8_t replaying;          /* rebuilding: the callbacks ignore what they see */
    uint8_t nap_acked;          /* the client acknowledged our SETTINGS */
};
/* Kept by every HTTP/2 connection, idle ones included (h2-idle-1k). */
_Static_assert(sizeof(struct h2_session) <= 248, "h2_session grew: every HTTP/2 connection keeps one");

/* ---- streams (h2_stream.c) ---- */
extern const carrier_ops h2_carrier;
h2_stream *h2_stream_new(h2_session *h, int32_t id);
/* Free the stream: its request ends (how), its queued pieces are released. */
void h2_stream_free(h2_stream *s, int how);
int h2_stream_add_field(h2_stream *s, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen);
/* The head is complete: a request on the stream's carrier. */
void h2_stream_start(h2_stream *s);
/* Deliver buffered body bytes while the module takes them. */
void h2_stream_pump(h2_stream *s);
int h2_stream_body_in(h2_stream *s, const uint8_t *p, size_t n);
/* The data provider's read callback (nghttp2_data_source_read_callback). */
ssize_t h2_stream_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                       nghttp2_data_source *src, void *ud);

/* ---- the session (h2_session.c) ---- */
uint64_t h2_now(const h2_session *h);
/* A new nghttp2 server session with our settings submitted and the
 * connection window opened; rebuild: the preface is not expected again. */
int h2_ng_new(h2_session *h, int rebuild);

/* ---- idle sessions (h2_idle.c) ---- */
/* Count the client's bytes (given to nghttp2 next) into frames. */
void h2_track_input(h2_session *h, const uint8_t *p, size_t n);
/* Can the session sleep now (idle, between frames, nothing owed either way,
 * and every state it holds rebuildable)? */
int h2_can_sleep(h2_session *h);
/* When it may: h2_sleep_after_ms after the last stream and the last byte. */
uint64_t h2_sleep_at(const h2_session *h);
/* Give freed memory back to the system shortly (once for many calls):
 * after a sleep, or a session freed. */
void h2_trim_soon(loop *l);
/* Free the nghttp2 session, keeping the few numbers that rebuild it. */
void h2_sleep(h2_session *h);
/* The second HPACK decoder (h2_start); freed with the session (h2_free). */
int h2_shadow_new(h2_session *h);
void h2_idle_free(h2_session *h);
/* Bytes the client sent to a sleeping session that it takes without waking
 * (the acknowledgement of our SETTINGS): 1 taken, 0 wake it for them. */
int h2_nap_input(h2_session *h, const uint8_t *p, size_t n);
/* Rebuild it (a byte came in, or the server must send GOAWAY). -1: out of memory. */
int h2_wake(h2_session *h);
/* Reset a stream with this error code (once). */
void h2_stream_reset(h2_stream *s, uint32_t code);

#endif
