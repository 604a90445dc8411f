/*
 * libFuzzer target: the FastCGI record parser (modules/fastcgi/fcgi_record.c)
 * and the name-value pair decoder. The input is parsed twice, whole and in
 * pieces whose sizes come from the input itself: both must give the same
 * events and the same STDOUT/STDERR bytes, every slice must lie inside what
 * was offered, and nothing may be read outside the buffer (ASan).
 *   ./fuzz_fcgi_record tests/fuzz/corpus/fcgi_record
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastcgi/fcgi_record.c"

typedef struct trace {
    uint8_t out[1 << 16], err[1 << 16];
    size_t nout, nerr;
    int end, error;
    uint32_t app;
} trace;

static void run(const uint8_t *data, size_t size, size_t piece, trace *t)
{
    fcgi_parser p;
    fcgi_parser_init(&p, 1);
    memset(t, 0, sizeof *t);
    size_t at = 0;
    while (at < size && !t->error) {
        size_t n = piece && size - at > piece ? piece : size - at;
        const uint8_t *buf = data + at;
        size_t off = 0;
        for (;;) {
            fcgi_event ev;
            size_t used = fcgi_parse(&p, buf + off, n - off, &ev);
            if (used > n - off)
                abort();
            if (ev.data && (ev.data < buf + off || ev.data + ev.len > buf + off + used))
                abort();
            off += used;
            if (ev.kind == FCGI_EV_STDOUT || ev.kind == FCGI_EV_STDERR) {
                uint8_t *dst = ev.kind == FCGI_EV_STDOUT ? t->out : t->err;
                size_t *dn = ev.kind == FCGI_EV_STDOUT ? &t->nout : &t->nerr;
                size_t k = ev.len < sizeof t->out - *dn ? ev.len : sizeof t->out - *dn;
                memcpy(dst + *dn, ev.data, k);
                *dn += k;
            } else if (ev.kind == FCGI_EV_END) {
                t->end++;
                t->app = ev.app_status;
            } else if (ev.kind == FCGI_EV_ERROR) {
                if (!ev.why)
                    abort();
                t->error = 1;
                break;
            } else if (off < n) {
                abort(); /* NONE before everything was consumed */
            }
            if (off == n)
                break;
        }
        at += n;
    }
}

static trace whole, pieces;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t piece = data[0] % 17 + 1;
    run(data + 1, size - 1, 0, &whole);
    run(data + 1, size - 1, piece, &pieces);
    if (whole.end != pieces.end || whole.error != pieces.error || whole.app != pieces.app)
        abort();
    if (!whole.error && (whole.nout != pieces.nout || memcmp(whole.out, pieces.out, whole.nout) != 0 ||
                         whole.nerr != pieces.nerr || memcmp(whole.err, pieces.err, whole.nerr) != 0))
        abort();
    if (whole.end > 1)
        abort();

    /* Pairs: every decoded slice inside the input. */
    size_t at = 1, used, nl, vl;
    const uint8_t *n, *v;
    while (at < size && fcgi_get_pair(data + at, size - at, &used, &n, &nl, &v, &vl)) {
        if (used == 0 || used > size - at || n < data + at || v + vl > data + size)
            abort();
        at += used;
    }
    return 0;
}
