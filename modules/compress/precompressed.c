/*
 * Precompressed files ("precompressed": true): a GET or HEAD of file.html
 * whose folder also holds file.html.br, .zst or .gz — a regular file, not
 * older than file.html — gets that file as it is, through sendfile, with
 * Content-Encoding, the original's Content-Type and Vary: Accept-Encoding.
 * Its validators are the variant's own (set_validators on its stat), so its
 * ETag never matches the identity file's and the core's conditionals apply.
 *
 * This is the module's handler part: list "compress" before "static" in the
 * config's "modules" so it is asked first; it declines (static serves the
 * file) when no acceptable variant is there. A request with Range gets the
 * identity file with its ranges, as on the fly (compress.c).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "compress_mod.h"

typedef struct pre_choice {
    coding kind;
    int fd; /* the variant, opened by match (the request holds it) */
    struct stat st;
} pre_choice;

/* b is not older than a, to the second: the tools that write variants
 * (brotli, gzip, zstd keep the source's time) and HTTP dates (Last-Modified)
 * have whole seconds, so a variant made from the file carries its time
 * truncated — it must still count. */
static int not_older(const struct stat *b, const struct stat *a)
{
    return b->st_mtim.tv_sec >= a->st_mtim.tv_sec;
}

int cz_pre_match(ws_request *r)
{
    const cz_conf *c = r->conf;
    if (!c || !c->precompressed || r->fs_type != WS_FS_FILE || !r->fs_path || cz_host->header(r, "Range"))
        return WS_DECLINE;
    coding ranked[CODING_COUNT];
    size_t n = ae_rank(cz_host->header(r, "Accept-Encoding"), c->codings, c->n_codings, ranked);
    if (n == 0)
        return WS_DECLINE;
    size_t base = strlen(r->fs_path);
    char *path = cz_host->alloc(r, base + 5);
    if (!path)
        return WS_DECLINE;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, base + 5, "%s%s", r->fs_path, coding_suffix(ranked[i]));
        /* Opened here rather than looked at: the core's file cache answers
         * a variant it knows with its held fd and a missing one from its
         * own entry, with no system call either way (issue 21: a stat per
         * request before), and the file served is the one looked at. A
         * FIFO or a folder by that name opens without waiting, and is
         * passed over. */
        struct stat st;
        int fd = cz_host->open_file(r, path, &st);
        if (fd >= 0 && S_ISREG(st.st_mode) && not_older(&st, &r->fs_stat)) {
            pre_choice *p = cz_host->alloc(r, sizeof *p);
            if (!p)
                return WS_DECLINE;
            p->kind = ranked[i];
            p->fd = fd;
            p->st = st;
            r->ctx = p;
            return WS_TAKE;
        }
    }
    return WS_DECLINE;
}

/* Send the variant (fd from open_file) with these fields. */
static int serve(ws_request *r, int fd, const struct stat *st, coding k)
{
    cz_host->set_status(r, 200);
    /* The original's type, not the variant's (application/gzip …). */
    if (cz_host->add_header(r, "Content-Type", cz_host->mime_type(r->fs_path)) != WS_OK ||
        (k != CODING_IDENTITY && cz_host->add_header(r, "Content-Encoding", coding_name(k)) != WS_OK) ||
        cz_add_vary(r) != WS_OK)
        return 500;
    cz_host->set_length(r, st->st_size);
    cz_host->set_validators(r, st);
    if (cz_host->send_file(r, fd, 0, st->st_size) == WS_ERROR)
        return 500;
    cz_host->finish(r);
    return 0;
}

int cz_pre_handle(ws_request *r)
{
    const pre_choice *p = r->ctx;
    return serve(r, p->fd, &p->st, p->kind);
}
