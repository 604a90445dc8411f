/*
 * Read a folder: one readdir pass, one fstatat per entry (relative to the
 * open folder, so no path is rebuilt per name), then one qsort. This runs on
 * the core's offload pool (issue 21: no disk call on the event loop), so it
 * calls nothing of the host: the arrays grow with realloc and belong to the
 * listing until ai_list_free (the loop renders from them, then frees them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoindex.h"

typedef struct scratch {
    ai_entry *e;
    size_t n, cap;
    char *names; /* every name, NUL-terminated, back to back */
    size_t names_len, names_cap;
} scratch;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Names live in one block that may move, so entries hold offsets until the end. */
static int add(scratch *s, const char *name, const struct stat *st)
{
    size_t len = strlen(name);
    if (grow((void **)&s->e, &s->cap, s->n + 1, sizeof *s->e) ||
        grow((void **)&s->names, &s->names_cap, s->names_len + len + 1, 1))
        return ENOMEM;
    memcpy(s->names + s->names_len, name, len + 1);
    s->e[s->n++] = (ai_entry){.name = (const char *)(uintptr_t)s->names_len, .name_len = len,
                              .is_dir = S_ISDIR(st->st_mode), .size = S_ISDIR(st->st_mode) ? 0 : st->st_size,
                              .mtime = st->st_mtim.tv_sec};
    s->names_len += len + 1;
    return 0;
}

static int read_all(DIR *d, int show_hidden, scratch *s)
{
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de)
            return errno;
        const char *name = de->d_name;
        if (name[0] == '.' && (!show_hidden || !name[1] || (name[1] == '.' && !name[2])))
            continue; /* never "." and "..", hidden names only when asked */
        struct stat st;
        /* Follow symlinks (a link to a folder lists as a folder); a dangling
         * one still shows, as itself; one that vanished meanwhile does not. */
        if (fstatat(dirfd(d), name, &st, 0) != 0 && fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        int err = add(s, name, &st);
        if (err)
            return err;
    }
}

/* Folders first, then names byte by byte (strcmp compares as unsigned char). */
static int cmp_entry(const void *a, const void *b)
{
    const ai_entry *x = a, *y = b;
    if (x->is_dir != y->is_dir)
        return y->is_dir - x->is_dir;
    return strcmp(x->name, y->name);
}

int ai_list(const char *dir, int show_hidden, ai_listing *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        return err;
    }
    scratch s = {0};
    int err = read_all(d, show_hidden, &s);
    closedir(d);
    if (err) {
        free(s.e);
        free(s.names);
        return err;
    }
    /* The names block no longer moves: offsets become pointers. */
    for (size_t i = 0; i < s.n; i++) {
        s.e[i].name = s.names + (uintptr_t)s.e[i].name;
        out->n_dirs += (size_t)s.e[i].is_dir;
    }
    if (s.n)
        qsort(s.e, s.n, sizeof *s.e, cmp_entry);
    out->entries = s.e;
    out->n = s.n;
    out->names = s.names;
    return 0;
}

void ai_list_free(ai_listing *l)
{
    free(l->entries);
    free(l->names);
    l->entries = NULL;
    l->names = NULL;
    l->n = l->n_dirs = 0;
}
