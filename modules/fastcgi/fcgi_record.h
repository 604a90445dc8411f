/*
 * FastCGI 1.0 records (the FastCGI Specification, Open Market, 1996): the
 * 8-byte header (§3.3), name-value pairs (§3.4), BEGIN_REQUEST (§5.1) and a
 * stream parser for what an application sends back (STDOUT, STDERR,
 * END_REQUEST, §5.3 and §5.5). Pure: no I/O, no allocation, so it is unit
 * tested and fuzzed alone (tests/fuzz/fuzz_fcgi_record.c).
 */
#ifndef WEBSERV_FCGI_RECORD_H
#define WEBSERV_FCGI_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define FCGI_VERSION_1 1
#define FCGI_HEADER_LEN 8
#define FCGI_MAX_CONTENT 65535
#define FCGI_KEEP_CONN 1
#define FCGI_RESPONDER 1

enum fcgi_type {
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_STDERR = 7,
    FCGI_DATA = 8,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11,
};

enum { FCGI_REQUEST_COMPLETE = 0, FCGI_CANT_MPX_CONN = 1, FCGI_OVERLOADED = 2, FCGI_UNKNOWN_ROLE = 3 };

/* A record header for `clen` content bytes followed by `plen` padding bytes. */
void fcgi_put_header(uint8_t out[FCGI_HEADER_LEN], int type, uint16_t id, uint16_t clen, uint8_t plen);

/* A whole BEGIN_REQUEST record (header and body) for the Responder role. */
#define FCGI_BEGIN_LEN 16
void fcgi_put_begin(uint8_t out[FCGI_BEGIN_LEN], uint16_t id, int keep_conn);

/* Bytes one name-value pair takes (§3.4: a length below 128 in one byte,
 * else four with the high bit set); 0 when a length exceeds 2^31-1. */
size_t fcgi_pair_size(size_t nlen, size_t vlen);
/* Encode it at out (fcgi_pair_size bytes); returns that size. */
size_t fcgi_put_pair(uint8_t *out, const char *name, size_t nlen, const char *value, size_t vlen);
/* Decode one pair at buf: 1 and the slices (pointing into buf) and *used;
 * 0 when buf ends inside it. */
int fcgi_get_pair(const uint8_t *buf, size_t len, size_t *used, const uint8_t **name, size_t *nlen,
                  const uint8_t **value, size_t *vlen);

/* What an application sends, as events. */
enum fcgi_event_kind {
    FCGI_EV_NONE = 0,   /* every offered byte is consumed; feed more */
    FCGI_EV_STDOUT = 1, /* data/len: a piece of the response (possibly part of a record) */
    FCGI_EV_STDERR = 2, /* data/len: a piece of the error stream */
    FCGI_EV_END = 3,    /* END_REQUEST: app_status, protocol_status; the exchange is over */
    FCGI_EV_ERROR = -1, /* a protocol violation: why says which; drop the connection */
};

typedef struct fcgi_event {
    int kind;
    const uint8_t *data;
    size_t len;
    uint32_t app_status;
    int protocol_status;
    const char *why;
} fcgi_event;

typedef struct fcgi_parser {
    uint16_t id;     /* our request id: records of others are refused, id 0 (management) skipped */
    int state;       /* internal */
    uint8_t hdr[FCGI_HEADER_LEN];
    size_t hlen;
    int type;
    unsigned rid;
    size_t left;     /* content bytes left in the current record */
    size_t pad;      /* padding bytes left */
    uint8_t end[8];  /* END_REQUEST body */
    size_t elen;
} fcgi_parser;

void fcgi_parser_init(fcgi_parser *p, uint16_t id);

/* Consume bytes from buf[0..len) up to the next event: returns how many were
 * consumed and fills *ev. Call again with the rest until it returns
 * FCGI_EV_NONE (all consumed). After FCGI_EV_END or FCGI_EV_ERROR every
 * further byte is an error (an application that keeps talking after
 * END_REQUEST would desynchronise a kept connection). */
size_t fcgi_parse(fcgi_parser *p, const uint8_t *buf, size_t len, fcgi_event *ev);

/* At a record boundary with nothing half-read (the connection can be reused). */
int fcgi_parser_idle(const fcgi_parser *p);

#endif
