/* FastCGI 1.0 record encoding and the response stream parser (fcgi_record.h). */
#include "fcgi_record.h"

#include <string.h>

enum { ST_HEADER = 0, ST_CONTENT = 1, ST_PADDING = 2, ST_DONE = 3, ST_ERROR = 4 };

void fcgi_put_header(uint8_t out[FCGI_HEADER_LEN], int type, uint16_t id, uint16_t clen, uint8_t plen)
{
    out[0] = FCGI_VERSION_1;
    out[1] = (uint8_t)type;
    out[2] = (uint8_t)(id >> 8);
    out[3] = (uint8_t)id;
    out[4] = (uint8_t)(clen >> 8);
    out[5] = (uint8_t)clen;
    out[6] = plen;
    out[7] = 0;
}

void fcgi_put_begin(uint8_t out[FCGI_BEGIN_LEN], uint16_t id, int keep_conn)
{
    fcgi_put_header(out, FCGI_BEGIN_REQUEST, id, 8, 0);
    memset(out + 8, 0, 8);
    out[8] = 0;
    out[9] = FCGI_RESPONDER;
    out[10] = keep_conn ? FCGI_KEEP_CONN : 0;
}

static size_t len_size(size_t n)
{
    return n < 128 ? 1 : 4;
}

size_t fcgi_pair_size(size_t nlen, size_t vlen)
{
    if (nlen > 0x7fffffffu || vlen > 0x7fffffffu)
        return 0;
    return len_size(nlen) + len_size(vlen) + nlen + vlen;
}

static uint8_t *put_len(uint8_t *o, size_t n)
{
    if (n < 128) {
        *o++ = (uint8_t)n;
        return o;
    }
    *o++ = (uint8_t)((n >> 24) | 0x80);
    *o++ = (uint8_t)(n >> 16);
    *o++ = (uint8_t)(n >> 8);
    *o++ = (uint8_t)n;
    return o;
}

size_t fcgi_put_pair(uint8_t *out, const char *name, size_t nlen, const char *value, size_t vlen)
{
    uint8_t *o = put_len(out, nlen);
    o = put_len(o, vlen);
    memcpy(o, name, nlen);
    memcpy(o + nlen, value, vlen);
    return (size_t)(o + nlen + vlen - out);
}

static int get_len(const uint8_t *buf, size_t len, size_t *at, size_t *n)
{
    if (*at >= len)
        return 0;
    if (!(buf[*at] & 0x80)) {
        *n = buf[(*at)++];
        return 1;
    }
    if (len - *at < 4)
        return 0;
    *n = ((size_t)(buf[*at] & 0x7f) << 24) | ((size_t)buf[*at + 1] << 16) | ((size_t)buf[*at + 2] << 8) |
         buf[*at + 3];
    *at += 4;
    return 1;
}

int fcgi_get_pair(const uint8_t *buf, size_t len, size_t *used, const uint8_t **name, size_t *nlen,
                  const uint8_t **value, size_t *vlen)
{
    size_t at = 0;
    if (!get_len(buf, len, &at, nlen) || !get_len(buf, len, &at, vlen))
        return 0;
    if (*nlen > len - at || *vlen > len - at - *nlen)
        return 0;
    *name = buf + at;
    *value = buf + at + *nlen;
    *used = at + *nlen + *vlen;
    return 1;
}

void fcgi_parser_init(fcgi_parser *p, uint16_t id)
{
    memset(p, 0, sizeof *p);
    p->id = id;
}

int fcgi_parser_idle(const fcgi_parser *p)
{
    return (p->state == ST_HEADER && p->hlen == 0) || p->state == ST_DONE || (p->state == ST_PADDING && p->pad == 0);
}

static size_t parse_error(fcgi_parser *p, fcgi_event *ev, size_t used, const char *why)
{
    p->state = ST_ERROR;
    ev->kind = FCGI_EV_ERROR;
    ev->why = why;
    return used;
}

/* A complete header is in p->hdr: check it and set up the record. */
static const char *start_record(fcgi_parser *p)
{
    if (p->hdr[0] != FCGI_VERSION_1)
        return "not FastCGI version 1";
    p->type = p->hdr[1];
    p->rid = (unsigned)p->hdr[2] << 8 | p->hdr[3];
    p->left = (size_t)p->hdr[4] << 8 | p->hdr[5];
    p->pad = p->hdr[6];
    p->hlen = 0;
    p->elen = 0;
    p->state = ST_CONTENT;
    if (p->rid == 0)
        return NULL; /* a management record (§4): skipped */
    if (p->rid != p->id)
        return "a record for another request id";
    switch (p->type) {
    case FCGI_STDOUT:
    case FCGI_STDERR:
        return NULL;
    case FCGI_END_REQUEST:
        return p->left == 8 ? NULL : "END_REQUEST of a length other than 8";
    default:
        return "a record type an application does not send to a web server";
    }
}

/* The current record's padding is over: 1 when it was our END_REQUEST. */
static int record_over(fcgi_parser *p, fcgi_event *ev)
{
    p->state = ST_HEADER;
    if (p->rid != p->id || p->type != FCGI_END_REQUEST || p->elen != 8)
        return 0;
    p->state = ST_DONE;
    ev->kind = FCGI_EV_END;
    ev->app_status = (uint32_t)p->end[0] << 24 | (uint32_t)p->end[1] << 16 | (uint32_t)p->end[2] << 8 | p->end[3];
    ev->protocol_status = p->end[4];
    return 1;
}

size_t fcgi_parse(fcgi_parser *p, const uint8_t *buf, size_t len, fcgi_event *ev)
{
    memset(ev, 0, sizeof *ev);
    size_t used = 0;
    for (;;) {
        if (p->state == ST_PADDING && p->pad == 0 && record_over(p, ev))
            return used;
        if (used == len)
            return used;
        switch (p->state) {
        case ST_DONE:
            return parse_error(p, ev, used, "bytes after END_REQUEST");
        case ST_ERROR:
            return parse_error(p, ev, used, "bytes after a protocol error");
        case ST_HEADER: {
            size_t n = FCGI_HEADER_LEN - p->hlen;
            if (n > len - used)
                n = len - used;
            memcpy(p->hdr + p->hlen, buf + used, n);
            p->hlen += n;
            used += n;
            if (p->hlen < FCGI_HEADER_LEN)
                break;
            const char *why = start_record(p);
            if (why)
                return parse_error(p, ev, used, why);
            if (p->left == 0)
                p->state = ST_PADDING; /* an empty STDOUT/STDERR ends that stream: nothing to say */
            break;
        }
        case ST_CONTENT: {
            size_t n = p->left < len - used ? p->left : len - used;
            const uint8_t *at = buf + used;
            used += n;
            p->left -= n;
            if (p->left == 0)
                p->state = ST_PADDING;
            if (p->rid == 0)
                break;
            if (p->type == FCGI_END_REQUEST) {
                memcpy(p->end + p->elen, at, n);
                p->elen += n;
                break;
            }
            ev->kind = p->type == FCGI_STDOUT ? FCGI_EV_STDOUT : FCGI_EV_STDERR;
            ev->data = at;
            ev->len = n;
            return used;
        }
        case ST_PADDING: {
            size_t n = p->pad < len - used ? p->pad : len - used;
            used += n;
            p->pad -= n;
            break;
        }
        }
    }
}
