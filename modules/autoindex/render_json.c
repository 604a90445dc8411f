/*
 * The JSON listing (SPEC §5): an array of {"name", "type", "size", "mtime"},
 * one entry per line. Names are made valid UTF-8 (invalid bytes become
 * U+FFFD), since a JSON text must be; a folder's size is 0 (st_size of a
 * folder says nothing useful and differs between file systems).
 */
#include "autoindex.h"

void ai_render_json(ai_buf *b, const ai_listing *l)
{
    if (l->n == 0) {
        ai_puts(b, "[]\n");
        return;
    }
    ai_puts(b, "[\n");
    for (size_t i = 0; i < l->n; i++) {
        const ai_entry *e = &l->entries[i];
        char when[21];
        ai_iso8601(e->mtime, when);
        ai_puts(b, "{\"name\":\"");
        ai_put_json(b, e->name, e->name_len);
        ai_puts(b, e->is_dir ? "\",\"type\":\"directory\",\"size\":" : "\",\"type\":\"file\",\"size\":");
        ai_put_dec(b, (uint64_t)e->size);
        ai_puts(b, ",\"mtime\":\"");
        ai_put(b, when, 20);
        ai_puts(b, i + 1 < l->n ? "\"},\n" : "\"}\n");
    }
    ai_puts(b, "]\n");
}
