/*
 * An idle HTTP/2 connection sleeps: after h2_sleep_after_ms with no stream
 * and no byte from the client, its nghttp2 session (frame buffer, HPACK
 * tables, stream map: ~25 KiB a connection) is freed and only the few
 * numbers that rebuild it are kept; the client's next byte rebuilds it, and
 * the client sees nothing of it (RFC 9113 has no idle state to signal). An
 * idle HTTP/2 connection then costs what an idle HTTP/1.1 one does.
 *
 * What a session holds between two frames, with no stream open and nothing
 * owed either way, and how the new one gets it:
 *   - the preface is behind: the new session does not expect it;
 *   - the client's SETTINGS: replayed as a SETTINGS frame fed to it (its ACK
 *     is dropped);
 *   - our SETTINGS: submitted again (the frame is dropped, the client has it)
 *     and, if the client had acknowledged them, a SETTINGS ACK fed to it;
 *   - the connection windows: ours is opened again as at the start (the
 *     client's view of it is whole: a sleep waits until every received byte
 *     was given back by WINDOW_UPDATE); the client's, for our DATA, by a
 *     WINDOW_UPDATE fed to it when larger than the initial 65,535, or by
 *     DATA sent (and dropped) on the replayed stream below when smaller;
 *   - the last stream the client opened (RFC 9113 §5.1.1: new ones must be
 *     higher; GOAWAY names it): a request HEADERS on that id is fed to it
 *     (static-table fields only) and the stream closed again;
 *   - HPACK: the client's fields in our decoder's table cannot be read out
 *     of nghttp2, so a second decoder (nghttp2's own, standalone) is fed
 *     what of the same header blocks changes the table (literals with
 *     incremental indexing, size updates: the blocks are scanned as they
 *     pass, the rest skipped, so a request whose fields are all indexed costs
 *     no second decoding); at sleep its entries become
 *     one header block of literals with incremental indexing (RFC 7541
 *     §6.2.1), oldest first, which is fed to the new session on the replayed
 *     stream once it is closed (nghttp2 decodes such a block and ignores it)
 *     and to a new second decoder. Our encoder starts again empty, which the
 *     client's decoder follows without a signal: its table holds our new
 *     entries at the same indexes, plus old ones we never name again and
 *     that it evicts first (RFC 7541 §4.4).
 * Anything else (a header block waiting for CONTINUATION, a GOAWAY either
 * way, unread TLS records, frames not yet written) keeps it awake.
 *
 * Freed memory goes back to the system only if malloc gives it back: a
 * sleep asks for malloc_trim shortly after (once for many sleeps). nghttp2's
 * big blocks are not in the malloc heap (h2_mem.c): the same moment gives
 * their pages back.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "h2_internal.h"
#include "h2_mem.h"
#include "log.h"
#include "server.h"

#define TRIM_MS 50 /* sleeps gathered into one malloc_trim */

unsigned h2_sleep_after_ms = 100;

static loop_timer *trim_timer;

static void trim_fn(loop *l, void *arg)
{
    (void)l, (void)arg;
    trim_timer = NULL;
    h2_mem_trim(); /* nghttp2's big blocks (h2_mem.c) */
    if (log_level() >= WS_LOG_DEBUG) {
        h2_mem_stats st;
        h2_mem_get_stats(&st);
        log_msg(WS_LOG_DEBUG, "WS0308", "HTTP/2 memory: nghttp2's big blocks: %zu live, %zu free (pages given back), "
                "%zu from malloc", st.live_blocks, st.free_blocks, st.fallbacks);
    }
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

void h2_trim_soon(loop *l)
{
    if (!trim_timer)
        trim_timer = loop_timer_add(l, TRIM_MS, trim_fn, NULL);
}

/* ---- frames in the client's bytes ---- */

/* Feed a header block fragment to the second decoder; final: the block ends. */
static void shadow_feed(h2_session *h, const uint8_t *p, size_t n, int final)
{
    if (!h->shadow || h->shadow_bad)
        return;
    for (;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t k = nghttp2_hd_inflate_hd2(h->shadow, &nv, &fl, (uint8_t *)p, n, final);
        if (k < 0) {
            h->shadow_bad = 1;
            return;
        }
        p += k;
        n -= (size_t)k;
        if (fl & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(h->shadow);
            return;
        }
        if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
            return;
    }
}

/* Scan header block bytes (RFC 7541 §6): the representations that change
 * the dynamic table go to the second decoder, byte for byte; indexed fields
 * (§6.1) and literals not indexed (§6.2.2, §6.2.3) are skipped. */
enum { REP_START, REP_INT, REP_LEN, REP_LEN_INT, REP_STR };

static uint8_t after_string(h2_session *h)
{
    return --h->rep_strings ? REP_LEN : REP_START;
}

static void hpack_scan(h2_session *h, const uint8_t *p, size_t n)
{
    const uint8_t *run = NULL; /* the start of bytes for the second decoder */
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        switch (h->rep_state) {
        case REP_START: {
            if (!run && (b & 0x80) && b != 0xff) {
                /* Indexed fields of one byte (§6.1), what a client mostly
                 * sends once its table holds its fields: skipped at once. */
                while (++i < n && (p[i] & 0x80) && p[i] != 0xff)
                    ;
                h->rep_feed = 0, h->rep_strings = 0, h->rep_int_bytes = 0;
                break;
            }
            unsigned bits;
            if (b & 0x80) { /* indexed (§6.1) */
                bits = 7, h->rep_feed = 0, h->rep_strings = 0;
            } else if (b & 0x40) { /* literal with incremental indexing (§6.2.1) */
                bits = 6, h->rep_feed = 1, h->rep_strings = (b & 0x3f) ? 1 : 2;
            } else if (b & 0x20) { /* dynamic table size update (§6.3) */
                bits = 5, h->rep_feed = 1, h->rep_strings = 0;
            } else { /* literal without or never indexing (§6.2.2, §6.2.3) */
                bits = 4, h->rep_feed = 0, h->rep_strings = (b & 0x0f) ? 1 : 2;
            }
            if (h->rep_feed) {
                if (!run)
                    run = p + i;
                h->rep_any = 1;
            } else if (run) {
                shadow_feed(h, run, (size_t)(p + i - run), 0);
                run = NULL;
            }
            uint8_t max = (uint8_t)((1u << bits) - 1);
            h->rep_int_bytes = 0;
            h->rep_state = (b & max) == max ? REP_INT : h->rep_strings ? REP_LEN : REP_START;
            i++;
            break;
        }
        case REP_INT: /* the rest of an index or size (§5.1) */
            /* The counter saturates: a run of 256 continuation bytes must not
               wrap it back to "short" (fuzz_h2 found the wrap below). */
            if (h->rep_int_bytes < 6)
                h->rep_int_bytes++;
            if (h->rep_int_bytes > 5)
                h->shadow_bad = 1; /* larger than nghttp2 takes */
            if (!(b & 0x80))
                h->rep_state = h->rep_strings ? REP_LEN : REP_START;
            i++;
            break;
        case REP_LEN: /* a string's length (§5.2) */
            h->rep_len = b & 0x7f;
            h->rep_int_bytes = 0, h->rep_shift = 0;
            h->rep_state = h->rep_len == 0x7f ? REP_LEN_INT : h->rep_len ? REP_STR : after_string(h);
            i++;
            break;
        case REP_LEN_INT:
            if (h->rep_int_bytes < 4)
                h->rep_int_bytes++;
            if (h->rep_int_bytes > 3) {
                h->shadow_bad = 1; /* longer than nghttp2 takes */
                h->rep_len = 0;
            } else {
                h->rep_len += (uint32_t)(b & 0x7f) << h->rep_shift;
                h->rep_shift += 7;
            }
            if (!(b & 0x80))
                h->rep_state = h->rep_len ? REP_STR : after_string(h);
            i++;
            break;
        default: { /* REP_STR */
            size_t m = n - i < h->rep_len ? n - i : h->rep_len;
            h->rep_len -= (uint32_t)m;
            i += m;
            if (!h->rep_len)
                h->rep_state = after_string(h);
            break;
        }
        }
    }
    if (run)
        shadow_feed(h, run, (size_t)(p + n - run), 0);
}

/* A frame header was read: does its payload carry a header block fragment
 * (HEADERS, CONTINUATION; RFC 9113 §6.2, §6.10)? */
static void frame_begin(h2_session *h)
{
    uint8_t type = h->in_hd[3], flags = h->in_hd[4];
    h->in_hb = type == NGHTTP2_HEADERS || type == NGHTTP2_CONTINUATION;
    if (!h->in_hb)
        return;
    int headers = type == NGHTTP2_HEADERS;
    h->hb_padded = headers && (flags & NGHTTP2_FLAG_PADDED);
    h->hb_skip = (h->hb_padded ? 1u : 0u) + (headers && (flags & NGHTTP2_FLAG_PRIORITY) ? 5u : 0u);
    h->hb_frag = h->in_left > h->hb_skip ? h->in_left - h->hb_skip : 0; /* shorter: nghttp2 ends the session */
    h->hb_final = (flags & NGHTTP2_FLAG_END_HEADERS) != 0;
}

static void block_bytes(h2_session *h, const uint8_t *p, size_t n)
{
    while (n) {
        size_t m;
        if (h->hb_skip) {
            if (h->hb_padded) {
                h->hb_padded = 0;
                h->hb_frag = h->hb_frag >= *p ? h->hb_frag - *p : 0;
            }
            m = n < h->hb_skip ? n : h->hb_skip;
            h->hb_skip -= (uint32_t)m;
        } else if (h->hb_frag) {
            m = n < h->hb_frag ? n : h->hb_frag;
            h->hb_frag -= (uint32_t)m;
            hpack_scan(h, p, m);
        } else {
            return; /* padding */
        }
        p += m;
        n -= m;
    }
}

static void frame_end(h2_session *h)
{
    static const uint8_t none[1];
    if (h->in_hb && h->hb_final) {
        if (h->rep_state != REP_START)
            h->shadow_bad = 1; /* a block that ends inside a field: nghttp2 ends the session */
        if (h->rep_any)
            shadow_feed(h, none, 0, 1);
        h->rep_state = REP_START;
        h->rep_any = 0;
    }
    uint8_t type = h->in_hd[3], flags = h->in_hd[4];
    if (type == NGHTTP2_HEADERS || type == NGHTTP2_PUSH_PROMISE)
        h->in_block = !(flags & NGHTTP2_FLAG_END_HEADERS);
    else if (type == NGHTTP2_CONTINUATION && (flags & NGHTTP2_FLAG_END_HEADERS))
        h->in_block = 0;
    if (h->in_frames < 255)
        h->in_frames++;
}

void h2_track_input(h2_session *h, const uint8_t *p, size_t n)
{
    while (n) {
        size_t k;
        if (h->in_preface) {
            k = n < h->in_preface ? n : h->in_preface;
            h->in_preface -= (uint32_t)k;
        } else if (h->in_left) {
            k = n < h->in_left ? n : h->in_left;
            if (h->in_hb)
                block_bytes(h, p, k);
            h->in_left -= (uint32_t)k;
            if (!h->in_left)
                frame_end(h);
        } else { /* a frame header: what of it this piece holds, at once */
            k = n < 9u - h->in_hd_len ? n : 9u - h->in_hd_len;
            memcpy(h->in_hd + h->in_hd_len, p, k);
            h->in_hd_len = (uint8_t)(h->in_hd_len + k);
            if (h->in_hd_len == 9) {
                h->in_hd_len = 0;
                h->in_left = (uint32_t)h->in_hd[0] << 16 | (uint32_t)h->in_hd[1] << 8 | h->in_hd[2];
                frame_begin(h);
                if (!h->in_left)
                    frame_end(h);
            }
        }
        p += k;
        n -= k;
    }
}

/* ---- sleeping ---- */

uint64_t h2_sleep_at(const h2_session *h)
{
    uint64_t since = h->idle_since > h->last_in ? h->idle_since : h->last_in;
    return since + h2_sleep_after_ms;
}

/* The client's connection window for our DATA, short of the initial one:
 * owed again by the new session (only through a stream the client's
 * initial stream window lets carry it). */
static uint32_t window_owed(h2_session *h)
{
    int32_t w = nghttp2_session_get_remote_window_size(h->ng);
    return w < NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE ? (uint32_t)(NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE - w) : 0;
}

int h2_can_sleep(h2_session *h)
{
    nghttp2_session *ng = h->ng;
    if (h->asleep || !ng || h->n_streams || h->dead || h->fatal || h->going_away || h->shut || h->peer_goaway ||
        h->wbuf || h->in_progress)
        return 0;
    /* between two frames, the client's first SETTINGS behind */
    if (h->in_preface || h->in_hd_len || h->in_left || h->in_block || !h->in_frames)
        return 0;
    if (transport_pending(&h->c->tr) || nghttp2_session_want_write(ng) || !nghttp2_session_want_read(ng))
        return 0;
    /* the client's HPACK table: its entries as the second decoder has them */
    size_t table = nghttp2_session_get_hd_inflate_dynamic_table_size(ng);
    if (table && (!h->shadow || h->shadow_bad || nghttp2_hd_inflate_get_dynamic_table_size(h->shadow) != table ||
                  nghttp2_session_get_last_proc_stream_id(ng) <= 0))
        return 0;
    uint32_t owed = window_owed(h);
    if (owed) {
        /* DATA on the replayed stream needs a HEADERS first: our encoder
         * must owe the client no table size update (§4.2) that it would
         * swallow, so the client's table size is the one our last HEADERS
         * was encoded under. */
        if (nghttp2_session_get_last_proc_stream_id(ng) <= 0 ||
            owed > nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) ||
            nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_HEADER_TABLE_SIZE) != h->hts_sent)
            return 0;
    }
    return 1;
}

static const nghttp2_settings_id peer_ids[] = {
    NGHTTP2_SETTINGS_HEADER_TABLE_SIZE,     NGHTTP2_SETTINGS_ENABLE_PUSH,
    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
    NGHTTP2_SETTINGS_MAX_FRAME_SIZE,        NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
    NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES,
};
#define N_PEER_IDS (sizeof peer_ids / sizeof *peer_ids)
_Static_assert(N_PEER_IDS <= sizeof((h2_session *)0)->nap_settings / sizeof(uint32_t), "nap_settings too short");

/* RFC 7541 §5.1: an integer with an n-bit prefix after `first`'s high bits. */
static uint8_t *put_int(uint8_t *p, uint8_t first, unsigned bits, size_t v)
{
    size_t max = (1u << bits) - 1;
    if (v < max) {
        *p++ = (uint8_t)(first | v);
        return p;
    }
    *p++ = (uint8_t)(first | max);
    for (v -= max; v >= 128; v >>= 7)
        *p++ = (uint8_t)(0x80 | (v & 0x7f));
    *p++ = (uint8_t)v;
    return p;
}

/* RFC 7541 §5.2: a string literal, not Huffman-coded. */
static uint8_t *put_str(uint8_t *p, const uint8_t *s, size_t n)
{
    p = put_int(p, 0, 7, n);
    memcpy(p, s, n);
    return p + n;
}

/* The second decoder's table as one header block that rebuilds it: its
 * maximum size if not the default (§6.3), then every entry oldest first as a
 * literal with incremental indexing and a literal name (§6.2.1). */
static int save_table(h2_session *h)
{
    nghttp2_hd_inflater *d = h->shadow;
    size_t n = nghttp2_hd_inflate_get_num_table_entries(d) - 61, cap = 6;
    if (!n)
        return 0;
    for (size_t i = 1; i <= n; i++) {
        const nghttp2_nv *nv = nghttp2_hd_inflate_get_table_entry(d, 61 + i);
        if (!nv)
            return -1;
        cap += 1 + 2 * 10 + nv->namelen + nv->valuelen;
    }
    uint8_t *b = malloc(cap), *p = b;
    if (!b)
        return -1;
    size_t max = nghttp2_hd_inflate_get_max_dynamic_table_size(d);
    if (max != NGHTTP2_DEFAULT_HEADER_TABLE_SIZE)
        p = put_int(p, 0x20, 5, max);
    for (size_t i = n; i >= 1; i--) {
        const nghttp2_nv *nv = nghttp2_hd_inflate_get_table_entry(d, 61 + i);
        *p++ = 0x40;
        p = put_str(p, nv->name, nv->namelen);
        p = put_str(p, nv->value, nv->valuelen);
    }
    h->nap_hpack = b;
    h->nap_hpack_len = (uint32_t)(p - b); /* the table holds a few KiB (our SETTINGS_HEADER_TABLE_SIZE) */
    h->nap_hpack_size = (uint32_t)nghttp2_hd_inflate_get_dynamic_table_size(d);
    return 0;
}

int h2_shadow_new(h2_session *h)
{
    h->shadow_bad = 0;
    return nghttp2_hd_inflate_new(&h->shadow) == 0 ? 0 : -1;
}

void h2_idle_free(h2_session *h)
{
    if (h->shadow)
        nghttp2_hd_inflate_del(h->shadow);
    h->shadow = NULL;
    free(h->nap_hpack);
    h->nap_hpack = NULL;
}

void h2_sleep(h2_session *h)
{
    nghttp2_session *ng = h->ng;
    if (nghttp2_session_get_hd_inflate_dynamic_table_size(ng) && save_table(h) < 0)
        return; /* out of memory: stay awake */
    nghttp2_hd_inflate_del(h->shadow);
    h->shadow = NULL;
    for (size_t i = 0; i < N_PEER_IDS; i++)
        h->nap_settings[i] = nghttp2_session_get_remote_settings(ng, peer_ids[i]);
    h->nap_last_stream = nghttp2_session_get_last_proc_stream_id(ng);
    h->nap_window = nghttp2_session_get_remote_window_size(ng);
    /* We send ENABLE_PUSH 0; it applies once the client acknowledged. */
    h->nap_acked = nghttp2_session_get_local_settings(ng, NGHTTP2_SETTINGS_ENABLE_PUSH) == 0;
    nghttp2_session_del(ng);
    h->ng = NULL;
    h->asleep = 1;
    log_msg(WS_LOG_DEBUG, "WS0308", "HTTP/2 client %s: idle session asleep",
            h->c->lst->bind ? h->c->lst->bind->addr.text : "-");
    h2_trim_soon(h->c->srv->loop);
}

/* ---- taken while asleep ---- */

int h2_nap_input(h2_session *h, const uint8_t *p, size_t n)
{
    /* The acknowledgement of our SETTINGS (RFC 9113 §6.5.3), alone: a
     * client that reads our first frames late (bench/hold_conns.py sends its
     * request on hundreds of connections before it reads any answer) sends
     * it after the session slept. It changes only the bit the sleep keeps
     * for it (nap_acked), so it needs no session: waking for it built a
     * whole one (~27 KiB) per connection for another 100 ms, hundreds at once,
     * and the heap they left in pieces between the connections' long-lived
     * allocations stayed resident (h2-idle-1k: 17.5 KB a connection instead
     * of 16). Anything else, or the same bytes split over two reads, wakes
     * the session as before. */
    if (h->nap_acked || n != 9 || p[0] || p[1] || p[2] || p[3] != NGHTTP2_SETTINGS || !(p[4] & NGHTTP2_FLAG_ACK) ||
        (p[5] & 0x7f) || p[6] || p[7] || p[8])
        return 0;
    h->nap_acked = 1;
    h2_track_input(h, p, n);
    return 1;
}

/* ---- waking ---- */

/* Frames the session produces while it is rebuilt: the client has them. */
static int drop_output(nghttp2_session *ng)
{
    const uint8_t *data;
    ssize_t k;
    while ((k = nghttp2_session_mem_send(ng, &data)) > 0)
        ;
    return k < 0 ? -1 : 0;
}

static uint8_t *put_frame_head(uint8_t *p, size_t len, uint8_t type, uint8_t flags, uint32_t id)
{
    p[0] = (uint8_t)(len >> 16), p[1] = (uint8_t)(len >> 8), p[2] = (uint8_t)len;
    p[3] = type, p[4] = flags;
    p[5] = (uint8_t)(id >> 24), p[6] = (uint8_t)(id >> 16), p[7] = (uint8_t)(id >> 8), p[8] = (uint8_t)id;
    return p + 9;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

/* DATA that only takes back the client's connection window. */
static ssize_t owed_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)ng, (void)id, (void)ud;
    size_t *left = src->ptr;
    size_t k = len < *left ? len : *left;
    memset(buf, 0, k);
    *left -= k;
    if (!*left)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)k;
}

static int rebuild(h2_session *h)
{
    if (h2_shadow_new(h) < 0 || h2_ng_new(h, 1) < 0)
        return -1;
    nghttp2_session *ng = h->ng;
    if (drop_output(ng) < 0)
        return -1;
    uint8_t in[9 + 6 * N_PEER_IDS + 9 + 13 + 9 + 6], *p = in;
    /* the client's SETTINGS: the ones that differ from a new session's */
    uint8_t *set = p;
    p += 9;
    for (size_t i = 0; i < N_PEER_IDS; i++) {
        if (h->nap_settings[i] == nghttp2_session_get_remote_settings(ng, peer_ids[i]))
            continue;
        p[0] = (uint8_t)(peer_ids[i] >> 8), p[1] = (uint8_t)peer_ids[i];
        p = put32(p + 2, h->nap_settings[i]);
    }
    put_frame_head(set, (size_t)(p - set - 9), NGHTTP2_SETTINGS, 0, 0);
    if (h->nap_acked)
        p = put_frame_head(p, 0, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0);
    int32_t w0 = nghttp2_session_get_remote_window_size(ng);
    if (h->nap_window > w0)
        p = put32(put_frame_head(p, 4, NGHTTP2_WINDOW_UPDATE, 0, 0), (uint32_t)(h->nap_window - w0));
    if (h->nap_last_stream > 0) {
        /* GET / http from the static table (2, 6, 4) and ":authority: a"
         * as a literal never added to the table (RFC 7541 §6.2.2), with
         * END_STREAM | END_HEADERS */
        static const uint8_t get[] = {0x82, 0x86, 0x84, 0x01, 0x01, 'a'};
        p = put_frame_head(p, sizeof get, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS,
                           (uint32_t)h->nap_last_stream);
        memcpy(p, get, sizeof get);
        p += sizeof get;
    }
    ssize_t rv = nghttp2_session_mem_recv(ng, in, (size_t)(p - in));
    if (rv != p - in || drop_output(ng) < 0)
        return -1;
    if (h->nap_last_stream > 0) {
        size_t owed = h->nap_window < w0 ? (size_t)(w0 - h->nap_window) : 0;
        int rc;
        if (owed) {
            nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NO_INDEX};
            nghttp2_data_provider prd = {.source.ptr = &owed, .read_callback = owed_read};
            rc = nghttp2_submit_response(ng, h->nap_last_stream, &nv, 1, &prd);
        } else {
            rc = nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, h->nap_last_stream, NGHTTP2_NO_ERROR);
        }
        if (rc != 0 || drop_output(ng) < 0 || owed)
            return -1;
    }
    if (h->nap_hpack) {
        /* The client's table, in a HEADERS on the replayed stream, closed
         * now: decoded and ignored (RFC 9113 §5.1.1, nghttp2 keeps the
         * decoder in step); and the same block to the second decoder. */
        uint8_t *f = malloc(9 + h->nap_hpack_len);
        if (!f)
            return -1;
        put_frame_head(f, h->nap_hpack_len, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS,
                       (uint32_t)h->nap_last_stream);
        memcpy(f + 9, h->nap_hpack, h->nap_hpack_len);
        rv = nghttp2_session_mem_recv(ng, f, 9 + h->nap_hpack_len);
        free(f);
        shadow_feed(h, h->nap_hpack, h->nap_hpack_len, 1);
        if (rv != (ssize_t)(9 + h->nap_hpack_len) || drop_output(ng) < 0 || h->shadow_bad ||
            nghttp2_session_get_hd_inflate_dynamic_table_size(ng) != h->nap_hpack_size ||
            nghttp2_hd_inflate_get_dynamic_table_size(h->shadow) != h->nap_hpack_size)
            return -1;
        free(h->nap_hpack);
        h->nap_hpack = NULL;
    }
    /* The new session must stand where the old one stood. */
    if (nghttp2_session_get_remote_window_size(ng) != h->nap_window ||
        nghttp2_session_get_last_proc_stream_id(ng) != h->nap_last_stream || nghttp2_session_want_write(ng) ||
        !nghttp2_session_want_read(ng))
        return -1;
    return 0;
}

int h2_wake(h2_session *h)
{
    h->replaying = 1;
    int rc = rebuild(h);
    h->replaying = 0;
    if (rc < 0) {
        log_msg(WS_LOG_ERROR, "WS0307", "HTTP/2 client %s: the idle session could not be rebuilt: connection closed",
                h->c->lst->bind ? h->c->lst->bind->addr.text : "-");
        if (h->ng)
            nghttp2_session_del(h->ng);
        h->ng = NULL;
        h2_idle_free(h);
        h->dead = 1;
        return -1;
    }
    h->asleep = 0;
    log_msg(WS_LOG_DEBUG, "WS0308", "HTTP/2 client %s: idle session woken",
            h->c->lst->bind ? h->c->lst->bind->addr.text : "-");
    return 0;
}
