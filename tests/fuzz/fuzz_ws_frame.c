/*
 * libFuzzer target: the WebSocket frame decoder of examples/modules/websocket-echo
 * (ws_frame.c, RFC 6455 §5.2) and its UTF-8 and close-payload checks. The
 * first byte picks the payload limit; the rest is decoded frame after frame
 * as the module does. Every decoded frame must lie inside the buffer, every
 * shorter prefix of it must decode as "incomplete" (never as another frame
 * or an error: a client's bytes may arrive in any pieces), errors are only
 * 1002 or 1009, and nothing is read outside the buffer (ASan).
 *   ./fuzz_ws_frame tests/fuzz/corpus/ws_frame
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/modules/websocket-echo/ws_frame.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const uint64_t limits[] = {125, 1000, 65535, 65536, 1 << 20};
    uint64_t max = limits[data[0] % 5];
    data++, size--;
    uint8_t *buf = malloc(size ? size : 1); /* exact size: ASan sees any over-read */
    memcpy(buf, data, size);
    size_t at = 0;
    while (at < size) {
        wsf_frame f;
        long long k = wsf_decode(buf + at, size - at, max, &f);
        if (k == 0)
            break;
        if (k < 0) {
            if (k != -WSF_PROTOCOL_ERROR && k != -WSF_TOO_BIG)
                abort();
            break;
        }
        if ((size_t)k > size - at || f.header_len + f.len != (uint64_t)k || f.len > max ||
            f.payload != buf + at + f.header_len)
            abort();
        if ((f.opcode & 8) && (f.len > 125 || !f.fin))
            abort();
        for (size_t p = 0; p < (size_t)k && p < 64; p++) {
            wsf_frame g;
            if (wsf_decode(buf + at, p, max, &g) != 0)
                abort();
        }
        uint8_t *payload = buf + at + f.header_len;
        wsf_unmask(payload, payload, (size_t)f.len, f.mask, 0);
        if (f.opcode == WSF_TEXT)
            (void)wsf_utf8_valid(payload, (size_t)f.len);
        if (f.opcode == WSF_CLOSE) {
            int code = 0;
            int bad = wsf_close_check(payload, (size_t)f.len, &code);
            if (bad && bad != WSF_PROTOCOL_ERROR && bad != WSF_INVALID_DATA)
                abort();
        }
        /* a server header for the same length decodes back (once masked) */
        uint8_t h[14];
        size_t hn = wsf_header(h, WSF_BINARY, f.len);
        h[1] |= 0x80;
        memset(h + hn, 0, 4);
        wsf_frame e;
        if (wsf_decode(h, hn + 4, UINT64_MAX >> 1, &e) < 0)
            abort();
        at += (size_t)k;
    }
    free(buf);
    return 0;
}
