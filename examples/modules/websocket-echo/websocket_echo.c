/*
 * mod_websocket_echo: a WebSocket (RFC 6455) echo endpoint, built out of
 * tree against webserv's module API like examples/modules/hello, on the
 * connection upgrade of ABI 1.3 (docs/modules.md §11).
 *
 *   "websocket_echo": {"max_message": "1M", "origins": ["https://example.org"], "ping_interval": 20}
 *
 * The opening handshake (§4.2): a GET with "Upgrade: websocket",
 * "Connection: Upgrade", "Sec-WebSocket-Version: 13" and a
 * "Sec-WebSocket-Key" of 16 random bytes in base64 gets 101 with
 * "Sec-WebSocket-Accept" (SHA-1 of the key and the RFC's GUID, in base64);
 * a GET without Upgrade gets 426, another version 426 with
 * "Sec-WebSocket-Version: 13" (§4.4), a bad key or Connection 400, an Origin
 * not in "origins" (when set) 403.
 *
 * Then every text or binary message comes back as one frame; pings get
 * pongs; a close is answered with the same code and the connection ends.
 * Failing the connection (§7.1.7) sends a close with the reason: 1002 for a
 * protocol error (unmasked frame, reserved bits or opcodes, a fragmented or
 * long control frame, a continuation out of place, a bad close payload),
 * 1007 for a text message that is not UTF-8, 1009 for a message over
 * max_message. Memory per connection: at most about 2 × max_message.
 * With "ping_interval" (seconds, 0 = none) the server pings an idle client,
 * which keeps the connection inside the server's idle timeout (timeouts.body).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "webserv/module.h"
#include "ws_frame.h"

static const ws_host *host;

/* RFC 6455 §1.3 */
static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

typedef struct wse_conf {
    int64_t max_message;
    const char *const *origins;
    size_t n_origins;
    double ping_interval;
} wse_conf;

typedef struct wse {
    uint8_t *rx;          /* client bytes not yet decoded: rx[rx_pos..rx_len) */
    size_t rx_pos, rx_len, rx_cap;
    uint8_t *msg;         /* a fragmented message being put together */
    size_t msg_len, msg_cap;
    int msg_op;           /* its opcode (text/binary), 0: none under way */
    int paused;           /* the client's queue is full: stop until on_writable */
    int closing;          /* a close was sent: nothing more in, nothing more out */
} wse;

static int wse_init(const ws_host *h)
{
    host = h;
    return h->abi_minor >= 3 ? 0 : -1; /* the connection upgrade is ABI 1.3 */
}

static int wse_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    wse_conf *c = host->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    c->max_message = 1 << 20;
    c->ping_interval = 0;
    if (host->cfg_size(s, "max_message", &c->max_message) < 0 ||
        host->cfg_string_list(s, "origins", &c->origins, &c->n_origins) < 0 ||
        host->cfg_seconds(s, "ping_interval", &c->ping_interval) < 0)
        return -1;
    if (c->max_message < 125 || c->max_message > ((int64_t)1 << 30)) {
        host->cfg_error(s, "max_message", "must be between 125 bytes and 1G");
        return -1;
    }
    *out = c;
    return 0;
}

static int wse_match(ws_request *r)
{
    (void)r;
    return WS_TAKE;
}

/* ---- the opening handshake (RFC 6455 §4.2) ---- */

/* Does the comma-separated field value hold token (case-insensitive)? */
static int list_has(const char *list, const char *token)
{
    size_t tn = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tn && strncasecmp(s, token, tn) == 0)
            return 1;
    }
    return 0;
}

/* §4.1: the key is 16 random bytes in base64, so 24 characters ending "==". */
static int key_ok(const char *key)
{
    if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    unsigned char raw[24];
    return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18; /* 16 bytes + 2 of padding */
}

/* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)) (§4.2.2 item 5.4). */
static int accept_value(const char *key, char out[29])
{
    char joined[24 + sizeof GUID];
    memcpy(joined, key, 24);
    memcpy(joined + 24, GUID, sizeof GUID);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    if (!EVP_Digest(joined, 24 + sizeof GUID - 1, digest, &dn, EVP_sha1(), NULL) || dn != 20)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, digest, 20) == 28 ? 0 : -1;
}

static int origin_ok(const wse_conf *c, const char *origin)
{
    if (!c->n_origins)
        return 1;
    for (size_t i = 0; origin && i < c->n_origins; i++)
        if (strcasecmp(c->origins[i], origin) == 0)
            return 1;
    return 0;
}

/* A refusal with a short text body (and maybe Sec-WebSocket-Version). */
static int refuse(ws_request *r, int status, const char *text, int with_version)
{
    host->set_status(r, status);
    if (with_version)
        host->add_header(r, "Sec-WebSocket-Version", "13");
    host->add_header(r, "Content-Type", "text/plain; charset=utf-8");
    host->set_length(r, (int64_t)strlen(text));
    host->write(r, text, strlen(text));
    host->finish(r);
    return 0;
}

static void ping_tick(ws_request *r, void *arg);

static int wse_handle(ws_request *r)
{
    const wse_conf *c = r->conf;
    if (!list_has(host->header(r, "Upgrade"), "websocket"))
        return refuse(r, 426, "This is a WebSocket endpoint: connect with a WebSocket client.\n", 0);
    const char *version = host->header(r, "Sec-WebSocket-Version");
    if (!version || strcmp(version, "13") != 0)
        return refuse(r, 426, "Sec-WebSocket-Version 13 is the only version spoken here.\n", 1);
    const char *key = host->header(r, "Sec-WebSocket-Key");
    if (r->http_minor != 1 || !list_has(host->header(r, "Connection"), "upgrade") || !key_ok(key))
        return refuse(r, 400, "Bad WebSocket handshake.\n", 0);
    if (!origin_ok(c, host->header(r, "Origin")))
        return refuse(r, 403, "Origin not allowed.\n", 0);
    char accept[29];
    wse *w = calloc(1, sizeof *w);
    if (!w || accept_value(key, accept) < 0) {
        free(w);
        return 500;
    }
    r->ctx = w;
    host->add_header(r, "Sec-WebSocket-Accept", accept);
    if (host->upgrade(r, "websocket") != WS_OK) {
        host->remove_header(r, "Sec-WebSocket-Accept");
        return refuse(r, 400, "This connection cannot be upgraded.\n", 0);
    }
    if (c->ping_interval > 0)
        host->timer_start(r, (uint64_t)(c->ping_interval * 1000), ping_tick, NULL);
    return 0;
}

/* ---- frames out ---- */

static void send_frame(ws_request *r, int opcode, const void *data, size_t n)
{
    wse *w = r->ctx;
    uint8_t h[10];
    size_t hn = wsf_header(h, opcode, n);
    int rc = host->write(r, h, hn);
    if (n && rc != WS_ERROR)
        rc = host->write(r, data, n);
    if (rc == WS_AGAIN)
        w->paused = 1;
}

/* Send a close (with code and reason) and end: the core closes the
 * connection once it is sent (§7.1.1: the server closes TCP first). */
static void close_with(ws_request *r, int code, const char *reason)
{
    wse *w = r->ctx;
    if (w->closing)
        return;
    uint8_t p[125];
    size_t n = 0;
    if (code != 1005) { /* 1005: the client's close had no code; ours has none either */
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t rn = reason ? strlen(reason) : 0;
        if (rn > sizeof p - 2)
            rn = sizeof p - 2;
        if (rn)
            memcpy(p + 2, reason, rn);
        n += rn;
    }
    send_frame(r, WSF_CLOSE, p, n);
    w->closing = 1;
    host->finish(r);
}

static void ping_tick(ws_request *r, void *arg)
{
    (void)arg;
    wse *w = r->ctx;
    const wse_conf *c = r->conf;
    if (w->closing)
        return;
    send_frame(r, WSF_PING, "webserv", 7);
    host->timer_start(r, (uint64_t)(c->ping_interval * 1000), ping_tick, NULL);
}

/* ---- frames in ---- */

static int msg_append(wse *w, const uint8_t *p, size_t n)
{
    if (!n)
        return 0;
    if (w->msg_len + n > w->msg_cap) {
        size_t cap = w->msg_cap ? w->msg_cap : 4096;
        while (cap < w->msg_len + n)
            cap *= 2;
        uint8_t *m = realloc(w->msg, cap);
        if (!m)
            return -1;
        w->msg = m;
        w->msg_cap = cap;
    }
    memcpy(w->msg + w->msg_len, p, n);
    w->msg_len += n;
    return 0;
}

/* A complete message: text must be UTF-8 (§8.1), then it goes back. */
static void deliver(ws_request *r, int op, const uint8_t *p, size_t n)
{
    if (op == WSF_TEXT && !wsf_utf8_valid(p, n)) {
        close_with(r, WSF_INVALID_DATA, "text is not UTF-8");
        return;
    }
    send_frame(r, op, p, n);
}

static void on_frame(ws_request *r, wsf_frame *f)
{
    wse *w = r->ctx;
    const wse_conf *c = r->conf;
    uint8_t *payload = (uint8_t *)f->payload; /* inside w->rx: ours to unmask in place */
    size_t n = (size_t)f->len;
    wsf_unmask(payload, payload, n, f->mask, 0);
    switch (f->opcode) {
    case WSF_TEXT:
    case WSF_BINARY:
        if (w->msg_op) {
            close_with(r, WSF_PROTOCOL_ERROR, "a new message inside a fragmented one");
            return;
        }
        if (f->fin) {
            deliver(r, f->opcode, payload, n);
            return;
        }
        w->msg_op = f->opcode;
        w->msg_len = 0;
        if (msg_append(w, payload, n) < 0)
            close_with(r, 1011, "out of memory");
        return;
    case WSF_CONT:
        if (!w->msg_op) {
            close_with(r, WSF_PROTOCOL_ERROR, "a continuation with no message");
            return;
        }
        if ((int64_t)(w->msg_len + n) > c->max_message) {
            close_with(r, WSF_TOO_BIG, "message too big");
            return;
        }
        if (msg_append(w, payload, n) < 0) {
            close_with(r, 1011, "out of memory");
            return;
        }
        if (f->fin) {
            int op = w->msg_op;
            w->msg_op = 0;
            deliver(r, op, w->msg, w->msg_len);
            w->msg_len = 0;
        }
        return;
    case WSF_PING:
        send_frame(r, WSF_PONG, payload, n); /* §5.5.3: the same application data */
        return;
    case WSF_PONG:
        return; /* an answer to our ping, or unsolicited (§5.5.3): nothing to do */
    case WSF_CLOSE: {
        int code = 0;
        int bad = wsf_close_check(payload, n, &code);
        if (bad) {
            close_with(r, bad, "bad close frame");
            return;
        }
        close_with(r, code, NULL); /* §5.5.1: echo the status code */
        return;
    }
    }
}

/* Decode and act on every complete frame in rx, until the client's queue is full. */
static void process(ws_request *r)
{
    wse *w = r->ctx;
    const wse_conf *c = r->conf;
    while (!w->paused && !w->closing) {
        wsf_frame f;
        long long k = wsf_decode(w->rx + w->rx_pos, w->rx_len - w->rx_pos, (uint64_t)c->max_message, &f);
        if (k == 0)
            break;
        if (k < 0) {
            close_with(r, (int)-k, k == -WSF_TOO_BIG ? "message too big" : "protocol error");
            break;
        }
        w->rx_pos += (size_t)k;
        on_frame(r, &f);
    }
    if (w->rx_pos == w->rx_len)
        w->rx_pos = w->rx_len = 0;
}

/* Room for n more bytes in rx (it never holds more than one frame plus a header). */
static size_t rx_room(ws_request *r, size_t n)
{
    wse *w = r->ctx;
    const wse_conf *c = r->conf;
    if (w->rx_pos) {
        memmove(w->rx, w->rx + w->rx_pos, w->rx_len - w->rx_pos);
        w->rx_len -= w->rx_pos;
        w->rx_pos = 0;
    }
    size_t max = (size_t)c->max_message + 14;
    size_t room = max - w->rx_len;
    if (n > room)
        n = room;
    if (w->rx_len + n > w->rx_cap) {
        size_t cap = w->rx_cap ? w->rx_cap : 16384;
        while (cap < w->rx_len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *b = realloc(w->rx, cap);
        if (!b)
            return 0;
        w->rx = b;
        w->rx_cap = cap;
    }
    return n;
}

static size_t wse_on_data(ws_request *r, const char *data, size_t len)
{
    wse *w = r->ctx;
    size_t used = 0;
    while (used < len && !w->paused && !w->closing) {
        size_t k = rx_room(r, len - used);
        if (k == 0) {
            close_with(r, 1011, "out of memory");
            break;
        }
        memcpy(w->rx + w->rx_len, data + used, k);
        w->rx_len += k;
        used += k;
        process(r);
    }
    /* After a close nothing more is read (§5.5.1); a short count otherwise
     * means the client's queue is full: on_writable resumes. */
    return w->closing ? len : used;
}

static void wse_on_writable(ws_request *r)
{
    wse *w = r->ctx;
    if (!w || !w->paused)
        return;
    w->paused = 0;
    process(r);
    if (!w->paused && !w->closing)
        host->body_resume(r);
}

static void wse_on_data_end(ws_request *r)
{
    /* The client closed TCP without a close frame (§7.1.5: code 1006 for it): nothing to answer. */
    wse *w = r->ctx;
    w->closing = 1;
    host->finish(r);
}

static void wse_cleanup(ws_request *r, int how)
{
    (void)how;
    wse *w = r->ctx;
    if (!w)
        return;
    free(w->rx);
    free(w->msg);
    free(w);
    r->ctx = NULL;
}

static const char *const wse_methods[] = {"GET", NULL};

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "websocket_echo",
    .methods = wse_methods,
    .init = wse_init,
    .configure = wse_configure,
    .match = wse_match,
    .handle = wse_handle,
    .on_writable = wse_on_writable,
    .cleanup = wse_cleanup,
    .flags = WS_MODULE_NO_FILES,
    .on_data = wse_on_data,
    .on_data_end = wse_on_data_end,
};
