/*
 * WebSocket frames (RFC 6455 §5), with no webserv dependency so that the
 * frame code can be unit-tested and fuzzed on its own (tests/fuzz/fuzz_ws_frame.c).
 */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum wsf_opcode {
    WSF_CONT = 0x0, WSF_TEXT = 0x1, WSF_BINARY = 0x2,
    WSF_CLOSE = 0x8, WSF_PING = 0x9, WSF_PONG = 0xA,
};

/* Close codes (RFC 6455 §7.4.1) this module sends. */
enum wsf_close {
    WSF_NORMAL = 1000, WSF_GOING_AWAY = 1001, WSF_PROTOCOL_ERROR = 1002, WSF_INVALID_DATA = 1007,
    WSF_TOO_BIG = 1009,
};

/* A decoded frame from a client. */
typedef struct wsf_frame {
    int fin;
    int opcode;
    const uint8_t *payload; /* inside the buffer handed to wsf_decode, still masked */
    uint64_t len;
    uint8_t mask[4];
    size_t header_len;
} wsf_frame;

/*
 * Decode the frame at the start of buf[0..n), as a server reads a client's:
 *   > 0  the frame's whole length (header + payload), *f filled;
 *   0    incomplete: more bytes needed;
 *   < 0  -(close code): WSF_PROTOCOL_ERROR for a malformed header (a reserved
 *        bit set, an unknown opcode, an unmasked frame, a fragmented or long
 *        control frame, a non-minimal or 64-bit-overflowing length) and
 *        WSF_TOO_BIG for a payload over max_payload. Known from the header
 *        alone: a client is refused before its payload arrives.
 */
long long wsf_decode(const uint8_t *buf, size_t n, uint64_t max_payload, wsf_frame *f);

/* XOR the payload with the mask (RFC 6455 §5.3), into out (may equal in).
 * offset: where in the payload `in` starts. */
void wsf_unmask(uint8_t *out, const uint8_t *in, size_t n, const uint8_t mask[4], uint64_t offset);

/* The header of an unmasked server frame with FIN set: returns its length (2..10). */
size_t wsf_header(uint8_t out[10], int opcode, uint64_t len);

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
int wsf_utf8_valid(const uint8_t *p, size_t n);

/* A close frame's payload (RFC 6455 §5.5.1, §7.4): 0 when valid (*code gets
 * its code, 1005 "none" for an empty payload), else the code to close with
 * (1002 for a one-byte payload or a code no endpoint may send, 1007 for a
 * reason that is not UTF-8). */
int wsf_close_check(const uint8_t *payload, size_t n, int *code);

#endif
