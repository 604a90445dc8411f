/*
 * WebSocket frames as a server sees them (RFC 6455 §5.2): decoding a
 * client's frame header with every rule that can be checked from it, the
 * mask, the header of a server frame, UTF-8 checks for text (§8.1) and
 * close payloads (§5.5.1, §7.4).
 */
#include "ws_frame.h"

#include <string.h>

long long wsf_decode(const uint8_t *buf, size_t n, uint64_t max_payload, wsf_frame *f)
{
    if (n < 2)
        return 0;
    uint8_t b0 = buf[0], b1 = buf[1];
    if (b0 & 0x70)
        return -WSF_PROTOCOL_ERROR; /* RSV1-3 without a negotiated extension (§5.2) */
    int op = b0 & 0x0F;
    int control = op & 0x8;
    if (op != WSF_CONT && op != WSF_TEXT && op != WSF_BINARY && op != WSF_CLOSE && op != WSF_PING && op != WSF_PONG)
        return -WSF_PROTOCOL_ERROR; /* reserved opcodes (§5.2) */
    if (!(b1 & 0x80))
        return -WSF_PROTOCOL_ERROR; /* a client MUST mask every frame (§5.1) */
    int fin = (b0 & 0x80) != 0;
    uint64_t len = b1 & 0x7F;
    size_t h = 2;
    if (control && (!fin || len > 125))
        return -WSF_PROTOCOL_ERROR; /* control frames: not fragmented, at most 125 bytes (§5.5) */
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        if (len < 126)
            return -WSF_PROTOCOL_ERROR; /* "the minimal number of bytes MUST be used" (§5.2) */
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        if (len >> 63)
            return -WSF_PROTOCOL_ERROR; /* the most significant bit MUST be 0 */
        if (len <= 0xFFFF)
            return -WSF_PROTOCOL_ERROR;
        h = 10;
    }
    if (len > max_payload)
        return -WSF_TOO_BIG;
    if (n < h + 4)
        return 0;
    memcpy(f->mask, buf + h, 4);
    h += 4;
    if ((uint64_t)(n - h) < len)
        return 0;
    f->fin = fin;
    f->opcode = op;
    f->len = len;
    f->payload = buf + h;
    f->header_len = h;
    return (long long)(h + len);
}

void wsf_unmask(uint8_t *out, const uint8_t *in, size_t n, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] ^ mask[(offset + i) & 3];
}

size_t wsf_header(uint8_t out[10], int opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

int wsf_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0; /* a continuation byte first, or 0xF8.. */
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Codes an endpoint may put in a close frame (§7.4.1, §7.4.2 and the IANA registry). */
static int close_code_ok(int code)
{
    if (code >= 3000 && code <= 4999)
        return 1; /* libraries, frameworks and applications */
    switch (code) {
    case 1000: case 1001: case 1002: case 1003: case 1007: case 1008: case 1009: case 1010: case 1011:
    case 1012: case 1013: case 1014:
        return 1;
    default:
        return 0; /* 1004-1006 and 1015 are never sent; the rest is unassigned */
    }
}

int wsf_close_check(const uint8_t *payload, size_t n, int *code)
{
    if (n == 0) {
        *code = 1005; /* no status code was present */
        return 0;
    }
    if (n == 1)
        return WSF_PROTOCOL_ERROR;
    int c = payload[0] << 8 | payload[1];
    if (!close_code_ok(c))
        return WSF_PROTOCOL_ERROR;
    if (!wsf_utf8_valid(payload + 2, n - 2))
        return WSF_INVALID_DATA;
    *code = c;
    return 0;
}
