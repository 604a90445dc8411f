/*
 * The response side of a request: the head (status line, core headers,
 * framing), conditional requests and Range applied to a handler's 200, the
 * body filter (HEAD, Range, chunked framing) and error pages.
 */
#include "response.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "file_open.h"
#include "fmt.h"
#include "filter.h"
#include "fs_cache.h"
#include "request.h"
#include "http_cond.h"
#include "httpdate.h"
#include "log.h"
#include "mime.h"
#include "modules.h"
#include "phase.h"
#include "server.h"

#define ERROR_REASON_MAX 300 /* bytes of an error_reason text kept */

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return status < 200 ? "Informational" : status < 300 ? "Success" : status < 400 ? "Redirection"
                    : status < 500 ? "Client Error" : "Server Error";
    }
}

/* RFC 9110 §6.4.1: these responses never carry content. */
static int status_has_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* RFC 9110 §14 for a 200 with a known length: 206 (the window to send,
 * Content-Range) or 416. v: the validators If-Range compares with. */
static void apply_range(request *r, const cond_request *rq, const cond_validators *v)
{
    int64_t start = 0, len = 0;
    int rc = range_check(rq, v, r->length, &start, &len);
    char buf[96];
    if (rc == 206) {
        snprintf(buf, sizeof buf, "bytes %lld-%lld/%lld", (long long)start, (long long)(start + len - 1),
                 (long long)r->length);
        resp_header_add(r, "Content-Range", 13, buf, strlen(buf));
        r->status = 206;
        r->skip = start;
        r->out_left = len;
        r->length = len;
    } else if (rc == 416) {
        snprintf(buf, sizeof buf, "bytes */%lld", (long long)r->length);
        resp_header_add(r, "Content-Range", 13, buf, strlen(buf));
        r->status = 416;
        r->length = 0;
        r->no_body = 1;
    }
}

/* Range after the header filters (a location with filters): the range is
 * cut from the representation as the filters made it. None when a filter
 * made the length unknown or removed the Accept-Ranges the core added; If-Range
 * compares with the ETag as the filters left it (a weakened one never
 * matches: a changed body is not the one the client holds part of). */
static void apply_range_late(request *r)
{
    if (r->status != 200 || r->length < 0 || strcmp(r->pub.method, "GET") != 0)
        return;
    /* The request's fields were looked at once already (cond_fields) for most 200s. */
    const char *range = r->cond_scanned ? r->range : req_header(r, "Range");
    if (!range)
        return;
    if (r->has_validators && !resp_header_get(r, "Accept-Ranges"))
        return;
    cond_request rq = {.is_get_or_head = 1, .range = range,
                      .if_range = r->cond_scanned ? r->if_range : req_header(r, "If-Range")};
    cond_validators v = {resp_header_get(r, "ETag"), resp_header_get(r, "Last-Modified") ? r->last_modified : 0};
    apply_range(r, &rq, &v);
    if (r->status == 416 && r->has_validators) {
        /* As without filters: a 416 carries no validators. */
        resp_header_remove(r, "ETag");
        resp_header_remove(r, "Last-Modified");
        resp_header_remove(r, "Accept-Ranges");
    }
}

/* The precondition and range fields of the request (the first of each
 * name, as req_header), in one pass over its fields instead of one per name:
 * this runs for every 200. True when any is present. */
static int cond_fields(request *r, cond_request *rq)
{
    int any = 0;
    for (size_t i = 0; i < r->pub.n_headers; i++) {
        const char *n = r->pub.headers[i].name, *val = r->pub.headers[i].value;
        const char **slot = NULL;
        if (n[0] == 'r' || n[0] == 'R') {
            if (strcasecmp(n, "Range") == 0)
                slot = &rq->range;
        } else if ((n[0] == 'i' || n[0] == 'I') && (n[1] == 'f' || n[1] == 'F') && n[2] == '-') {
            const char *t = n + 3;
            if (strcasecmp(t, "Match") == 0)
                slot = &rq->if_match;
            else if (strcasecmp(t, "None-Match") == 0)
                slot = &rq->if_none_match;
            else if (strcasecmp(t, "Modified-Since") == 0)
                slot = &rq->if_modified_since;
            else if (strcasecmp(t, "Unmodified-Since") == 0)
                slot = &rq->if_unmodified_since;
            else if (strcasecmp(t, "Range") == 0)
                slot = &rq->if_range;
        }
        if (slot && !*slot) {
            *slot = val;
            any = 1;
        }
    }
    r->range = rq->range;
    r->if_range = rq->if_range;
    r->cond_scanned = 1;
    return any;
}

/* RFC 9110 §13 and §14 for a handler's 200 (with_range 0: §13 only, the
 * Range comes after the header filters). */
static void apply_conditionals(request *r, int with_range)
{
    if (r->status != 200)
        return;
    const ws_request *p = &r->pub;
    int get = strcmp(p->method, "GET") == 0, head = strcmp(p->method, "HEAD") == 0;
    cond_request rq = {.is_get_or_head = get || head};
    int any = cond_fields(r, &rq);
    cond_validators v = {r->has_validators ? r->etag : NULL, r->has_validators ? r->last_modified : 0};
    /* No precondition field: nothing to evaluate (RFC 9110 §13.2.2 starts from them). */
    if (r->has_validators && any) {
        int c = cond_check(&rq, &v);
        if (c == 304 || c == 412) {
            r->status = c;
            r->length = c == 412 ? 0 : -1;
            r->no_body = 1;
            return;
        }
    }
    if (!with_range || !get || r->length < 0 || !rq.range)
        return;
    apply_range(r, &rq, &v);
}

/* Last-Modified of the previous response, kept: most responses repeat it. */
static const char *last_modified_text(time_t t)
{
    static time_t cached = -1;
    static char text[HTTPDATE_LEN + 1];
    if (t != cached) {
        httpdate_format(t, text);
        cached = t;
    }
    return text;
}

/* The validators a module set (RFC 9110 §8.8) go out with 200, 206 and 304. */
static int add_validators(request *r)
{
    if (!r->has_validators || !(r->status == 200 || r->status == 206 || r->status == 304))
        return 0;
    const char *lm = last_modified_text(r->last_modified);
    if (resp_header_add_ref(r, "ETag", r->etag) < 0 || resp_header_add(r, "Last-Modified", 13, lm, strlen(lm)) < 0)
        return -1;
    return r->status != 304 ? resp_header_add_ref(r, "Accept-Ranges", "bytes") : 0;
}

int resp_commit_head(request *r)
{
    if (r->head_sent)
        return 0;
    if (r->status == 0)
        r->status = 200;
    /* Conditionals (304/412) and the validator fields first, so the header
     * filters see the response as it will go: 304, ETag, Last-Modified,
     * Accept-Ranges, the length (resp_header "Content-Length"), and may
     * still change them. Range comes after the filters when there are any
     * (it is cut from what they make of the body); without filters it is
     * applied here as it always was. */
    int late_range = !r->filters_ran && r->loc && r->loc->n_hooks[HOOK_HEADER_FILTER];
    if (!r->prepared) {
        r->prepared = 1;
        apply_conditionals(r, !late_range);
        if (add_validators(r) < 0)
            return -1;
    }
    int64_t handler_len = r->length;
    /* ABI 1.2 header filters (core/phases): once per response, before the
     * head is fixed. A failing filter gets the client a 500 (its page goes
     * out without filters). */
    if (!r->filters_ran) {
        r->filters_ran = 1;
        if (phase_header_filters(r) < 0) {
            resp_error(r, 500);
            return -1;
        }
        if (r->head_sent)
            return 0; /* a filter answered by itself */
    }
    r->head_sent = 1;
    r->logctx.doing = "sending the response";
    if (late_range)
        apply_range_late(r);
    if (status_has_no_body(r->status) || strcmp(r->pub.method, "HEAD") == 0)
        r->no_body = 1;
    if (r->filt && filter_active(r)) {
        /* The body goes through filters (core/phases/filter.c): the window
         * below keeps what the handler gives within its own length; the
         * Range (skip, out_left) is cut from the filters' output. The head
         * goes out with the chain's first output. */
        filter_window(r, r->skip, r->status == 206 ? r->out_left : r->length);
        r->skip = 0;
        r->out_left = handler_len >= 0 ? handler_len : -1;
        return 0;
    }
    if (r->carrier->send_head(r) < 0)
        return -1;
    /* Without a Range, the window ends at the promised length. */
    if (r->status != 206)
        r->out_left = r->length >= 0 && !r->no_body ? r->length : -1;
    return 0;
}

/* The body window: out of the next n body bytes the handler gives, how many
 * to drop first (*skip_now: the start of a Range) and how many to pass. The
 * window's end is the Range's end or the promised Content-Length: bytes past
 * it are dropped (and logged), so a handler that writes too much can never
 * corrupt the next response on the connection. */
static uint64_t body_window(request *r, uint64_t n, uint64_t *skip_now)
{
    uint64_t sk = 0;
    if (r->skip > 0) {
        sk = (uint64_t)r->skip < n ? (uint64_t)r->skip : n;
        r->skip -= (int64_t)sk;
    }
    uint64_t pass = n - sk;
    if (r->out_left >= 0 && (uint64_t)r->out_left < pass) {
        if (r->status != 206 && !r->overflow_logged) {
            r->overflow_logged = 1;
            log_msg(WS_LOG_WARN, "WS0302", "handler wrote more than its Content-Length of %lld for %s; extra bytes dropped",
                    (long long)r->length, r->pub.path ? r->pub.path : "-");
        }
        pass = (uint64_t)r->out_left;
    }
    if (r->out_left >= 0)
        r->out_left -= (int64_t)pass;
    *skip_now = sk;
    return pass;
}

/* WS_AGAIN above the high-water mark: the carrier calls on_writable when it drained. */
static int backpressure(request *r)
{
    if (r->carrier->queued(r) >= RESP_HIGH_WATER) {
        r->want_writable = 1;
        return WS_AGAIN;
    }
    return WS_OK;
}

/* A body filter may pass bytes on only with filter_next, never with write. */
static int refused(const request *r)
{
    return r->finished || r->hook_in == HOOK_BODY_FILTER;
}

int resp_write(request *r, const void *data, size_t len)
{
    if (refused(r))
        return WS_ERROR;
    if (resp_commit_head(r) < 0)
        return WS_ERROR;
    r->content_written += len;
    if (r->no_body || len == 0)
        return WS_OK;
    uint64_t sk;
    size_t pass = (size_t)body_window(r, len, &sk);
    if (r->filt)
        return pass ? filter_mem(r, (const char *)data + sk, pass) : WS_OK;
    if (pass) {
        if (r->carrier->send_mem(r, (const char *)data + sk, pass) < 0)
            return WS_ERROR;
        r->body_bytes_sent += pass;
    }
    return backpressure(r);
}

/* write_ref (ABI 1.2): the module's memory goes into the output queue as it
 * is. Its release callback is module code that may run after the request
 * ended (when the last bytes leave), so the module is kept loaded until then:
 * a reload that drops it cannot unload it under a queued callback. */
typedef struct ref_hold {
    loaded_module *m;
    ws_release_cb release;
    void *arg;
} ref_hold;

static void ref_released(void *p)
{
    ref_hold *h = p;
    if (h->release)
        h->release(h->arg);
    if (h->m)
        modules_release(h->m);
    free(h);
}

int resp_write_ref(request *r, const void *data, size_t len, ws_release_cb release, void *arg)
{
    ref_hold *h = malloc(sizeof *h);
    if (!h) {
        if (release)
            release(arg);
        return WS_ERROR;
    }
    *h = (ref_hold){r->owner, release, arg};
    if (h->m)
        h->m->refs++;
    if (refused(r) || resp_commit_head(r) < 0) {
        ref_released(h);
        return WS_ERROR;
    }
    r->content_written += len;
    uint64_t sk = 0;
    size_t pass = r->no_body || len == 0 ? 0 : (size_t)body_window(r, len, &sk);
    if (pass == 0) {
        ref_released(h); /* nothing of it is sent (HEAD, empty, past Content-Length) */
        return WS_OK;
    }
    if (r->filt)
        return filter_ref(r, (const char *)data + sk, pass, ref_released, h);
    if (r->carrier->send_ref(r, (const char *)data + sk, pass, ref_released, h) < 0)
        return WS_ERROR; /* released by the carrier */
    r->body_bytes_sent += pass;
    return backpressure(r);
}

/* The reference of an fd the module got from open_file, or NULL (the fd is the queue's). */
static fs_file *opened_file(const request *r, int fd)
{
    for (const req_file *f = r->files; f; f = f->next)
        if (f->fd == fd)
            return f->ref;
    return NULL;
}

/* Let go of fd when no byte of it is queued. */
static int drop_fd(int fd, fs_file *shared, int status)
{
    if (!shared)
        close(fd);
    return status;
}

int resp_send_file(request *r, int fd, off_t off, int64_t len)
{
    fs_file *shared = opened_file(r, fd);
    if (refused(r))
        return drop_fd(fd, shared, WS_ERROR);
    if (len < 0) {
        struct stat st;
        if (fstat(fd, &st) < 0 || st.st_size < off)
            return drop_fd(fd, shared, WS_ERROR);
        len = st.st_size - off;
    }
    if (resp_commit_head(r) < 0)
        return drop_fd(fd, shared, WS_ERROR);
    r->content_written += (uint64_t)len;
    if (r->no_body || len == 0)
        return drop_fd(fd, shared, WS_OK);
    uint64_t skip;
    uint64_t pass = body_window(r, (uint64_t)len, &skip);
    if (pass == 0)
        return drop_fd(fd, shared, WS_OK);
    if (shared)
        fs_file_hold(shared); /* the carrier's own reference: the request may end before the bytes go */
    if (r->filt)
        return filter_file(r, fd, off + (off_t)skip, pass, shared); /* read in pieces as the output drains */
    if (r->carrier->send_file(r, fd, off + (off_t)skip, pass, shared ? fs_file_release : NULL, shared) < 0)
        return WS_ERROR; /* released by the carrier */
    r->body_bytes_sent += pass;
    return WS_OK;
}

int resp_finish(request *r)
{
    if (r->finished)
        return WS_OK;
    if (r->hook_in == HOOK_BODY_FILTER)
        return WS_ERROR;
    if (resp_commit_head(r) < 0)
        return WS_ERROR;
    r->finished = 1;
    if (r->filt)
        return filter_finish(r) == WS_ERROR ? WS_ERROR : WS_OK;
    if (r->carrier->finish(r) < 0)
        return WS_ERROR;
    /* A handler that promised more than it gave: the framing is broken. */
    if (!r->no_body && r->out_left > 0) {
        log_msg(WS_LOG_ERROR, "WS0300", "response %lld bytes shorter than its Content-Length of %lld for %s",
                (long long)r->out_left, (long long)r->length, r->pub.path ? r->pub.path : "-");
        r->close_after = 1;
        r->broken = 1;
    }
    return WS_OK;
}

/* ---- error pages ---- */

static const char *find_error_page(const request *r, int status)
{
    const error_page *pages = NULL;
    size_t n = 0;
    if (r->loc) {
        pages = r->loc->error_pages;
        n = r->loc->n_error_pages;
    } else if (r->server) {
        pages = r->server->error_pages;
        n = r->server->n_error_pages;
    }
    for (size_t i = 0; i < n; i++)
        if (pages[i].status == status)
            return pages[i].file;
    return NULL;
}

/* Framing errors and requests whose body we will not read safely end the
 * connection. So does a 501 (SPEC §4): a client using a method or coding we
 * do not know may frame what follows in a way we cannot tell (nginx and
 * Apache close there too). */
static int error_closes(int status)
{
    switch (status) {
    case 400: case 408: case 413: case 414: case 431: case 501: case 505:
        return 1;
    default:
        return 0;
    }
}

/* Does the client ask for JSON? Accept (RFC 9110 §12.5.1) names
 * application/json, and not text/html (a browser's list may hold both). */
static int wants_json(const request *r)
{
    const char *a = req_header(r, "Accept");
    return a && strcasestr(a, "application/json") && !strcasestr(a, "text/html");
}

/* The reason, cut to a short line at a UTF-8 character boundary. */
static size_t reason_len(const char *reason)
{
    size_t n = strlen(reason);
    if (n > ERROR_REASON_MAX) {
        n = ERROR_REASON_MAX;
        while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

/* Escaped for HTML text (RFC 9110 gives no rule; the HTML spec's five). */
static size_t html_escape(char *out, const char *in, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = NULL;
        switch (in[i]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        }
        if (e) {
            memcpy(out + o, e, strlen(e));
            o += strlen(e);
        } else {
            out[o++] = (unsigned char)in[i] < 0x20 ? ' ' : in[i];
        }
    }
    return o;
}

/* Escaped for a JSON string (RFC 8259 §7): quote, backslash, controls. */
static size_t json_escape(char *out, const char *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

void resp_reset(request *r)
{
    r->status = 0;
    resp_headers_clear(r);
    r->length = -1;
    r->has_validators = 0;
    r->finished = 0;
    r->want_writable = 0;
    r->redirect_to = NULL;
    r->skip = 0;
    r->out_left = -1;
    r->prepared = 0;
    filter_drop(r);
}

int resp_error(request *r, int status)
{
    return resp_error_reason(r, status, NULL);
}

int resp_error_reason(request *r, int status, const char *reason)
{
    if (status < 400 || status > 599)
        status = 500;
    if (reason && r->owner)
        log_msg(WS_LOG_INFO, "WS0303", "[%s] %s %s: %d: %s", r->owner->name, r->pub.method ? r->pub.method : "-",
                r->pub.path ? r->pub.path : "-", status, reason);
    if (r->head_sent) {
        if (!r->filt || !filter_cancel(r)) {
            /* Too late for an error page: the client sees a cut response. */
            filter_drop(r);
            r->finished = 1;
            r->carrier->abort(r);
            return WS_OK;
        }
        /* Body filters held the head back and nothing reached the carrier:
         * the error page replaces the response (without filters). */
        r->head_sent = 0;
        r->no_body = 0;
    }
    r->hook_in = -1; /* host->error from a body filter: the page is the core's */
    /* A phase module's denial keeps the fields it added (WWW-Authenticate …):
     * they are the first keep_headers of the list (core/phases/phase.c). */
    size_t keep = r->keep_headers && r->keep_headers <= r->resp_headers.n ? r->keep_headers : 0;
    resp_reset(r);
    r->resp_headers.n = keep;
    r->keep_headers = 0;
    r->status = status;
    if (error_closes(status))
        r->close_after = 1;
    if (status == 405 && r->loc)
        resp_header_add_ref(r, "Allow", r->loc->allow); /* the config outlives the request */

    const char *page = find_error_page(r, status);
    if (page) {
        struct stat st;
        int fd = file_open_read(page, &st);
        if (fd >= 0 && S_ISREG(st.st_mode)) {
            resp_header_add_ref(r, "Content-Type", mime_lookup(page));
            r->length = st.st_size;
            resp_send_file(r, fd, 0, st.st_size);
            return resp_finish(r);
        }
        if (fd >= 0)
            close(fd);
        log_msg(WS_LOG_ERROR, "WS0301", "error page %s for status %d cannot be read: %s", page, status, strerror(errno));
    }
    /* A reason escapes to at most 6 bytes per byte (JSON's \u00XX). */
    size_t rn = reason ? reason_len(reason) : 0;
    char *esc = rn ? arena_alloc(r->pool, rn * 6 + 1) : NULL;
    size_t en = 0;
    char *body = arena_alloc(r->pool, 512 + rn * 6);
    if (!body)
        return WS_ERROR;
    int n;
    if (esc && wants_json(r)) {
        en = json_escape(esc, reason, rn);
        n = snprintf(body, 512 + rn * 6, "{\"status\": %d, \"error\": \"%s\", \"reason\": \"%.*s\"}\n", status,
                     http_reason(status), (int)en, esc);
        resp_header_add_ref(r, "Content-Type", "application/json");
    } else {
        if (esc)
            en = html_escape(esc, reason, rn);
        n = snprintf(body, 512 + rn * 6,
                     "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
                     "<body><h1>%d %s</h1>%s%.*s%s<hr><p>webserv</p></body></html>\n",
                     status, http_reason(status), status, http_reason(status), esc ? "<p>" : "", (int)en,
                     esc ? esc : "", esc ? "</p>" : "");
        resp_header_add_ref(r, "Content-Type", "text/html; charset=utf-8");
    }
    r->length = n;
    resp_write(r, body, (size_t)n);
    return resp_finish(r);
}
