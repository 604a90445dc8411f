/*
 * The HTML listing: a plain, readable page with a small inline stylesheet
 * and no JavaScript. Every name goes through two escapes: percent-encoding
 * in the href and HTML escaping (with U+FFFD for bytes that are not UTF-8)
 * in the text. Links are absolute paths, so they work whether or not the
 * request path ended in '/'.
 */
#include <string.h>

#include "autoindex.h"

static const char STYLE[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:2rem auto;max-width:64rem;"
    "padding:0 1rem;color:#1f2328;background:#fff;line-height:1.45}\n"
    "h1{font-size:1.35rem;font-weight:600;overflow-wrap:anywhere}\n"
    "table{width:100%;border-collapse:collapse;font-size:.95rem}\n"
    "th,td{padding:.3rem .7rem;text-align:left;vertical-align:top}\n"
    "th{border-bottom:2px solid #d0d7de;font-weight:600}\n"
    "tbody tr:nth-child(even){background:#f6f8fa}\n"
    "tbody tr:hover{background:#eaeef2}\n"
    "td.name{overflow-wrap:anywhere}\n"
    ".size,.mtime{white-space:nowrap;font-variant-numeric:tabular-nums;color:#57606a}\n"
    ".size{text-align:right}\n"
    "a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}\n"
    "tr.dir a{font-weight:600}\n"
    "footer{margin-top:1.5rem;color:#6e7781;font-size:.85rem}\n"
    "@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}"
    "th{border-color:#30363d}tbody tr:nth-child(even){background:#161b22}tbody tr:hover{background:#1f242c}"
    "a{color:#58a6ff}.size,.mtime,footer{color:#8d96a0}}\n";

/* The URL path of the parent folder of dir ("/a/b/" → "/a/"); dir is not "/". */
static size_t parent_len(const char *dir)
{
    size_t n = strlen(dir) - 1; /* skip the trailing '/' */
    while (n > 0 && dir[n - 1] != '/')
        n--;
    return n;
}

static void row(ai_buf *b, const char *dir, const ai_entry *e)
{
    char when[21], human[16];
    ai_iso8601(e->mtime, when);
    ai_puts(b, e->is_dir ? "<tr class=\"dir\"><td class=\"name\"><a href=\"" : "<tr class=\"file\"><td class=\"name\"><a href=\"");
    ai_put_url(b, dir, strlen(dir));
    ai_put_url(b, e->name, e->name_len);
    ai_puts(b, e->is_dir ? "/\">" : "\">");
    ai_put_html(b, e->name, e->name_len);
    if (e->is_dir) {
        ai_puts(b, "/</a></td><td class=\"size\">&#8212;</td>");
    } else {
        ai_human_size(e->size, human);
        ai_puts(b, "</a></td><td class=\"size\" title=\"");
        ai_put_dec(b, (uint64_t)e->size);
        ai_puts(b, " bytes\">");
        ai_puts(b, human);
        ai_puts(b, "</td>");
    }
    ai_puts(b, "<td class=\"mtime\"><time datetime=\"");
    ai_put(b, when, 20);
    ai_puts(b, "\">");
    ai_put(b, when, 20);
    ai_puts(b, "</time></td></tr>\n");
}

void ai_render_html(ai_buf *b, ws_request *r, const ai_listing *l)
{
    const char *dir = ai_dir_path(r);
    size_t dlen = strlen(dir);
    ai_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of ");
    ai_put_html(b, dir, dlen);
    ai_puts(b, "</title>\n<style>\n");
    ai_puts(b, STYLE);
    ai_puts(b, "</style>\n</head>\n<body>\n<h1>Index of ");
    ai_put_html(b, dir, dlen);
    ai_puts(b, "</h1>\n<table>\n<thead><tr><th>Name</th><th class=\"size\">Size</th>"
               "<th>Last modified (UTC)</th></tr></thead>\n<tbody>\n");
    if (strcmp(dir, "/") != 0) {
        ai_puts(b, "<tr class=\"dir parent\"><td class=\"name\"><a href=\"");
        ai_put_url(b, dir, parent_len(dir));
        ai_puts(b, "\">../</a></td><td class=\"size\"></td><td class=\"mtime\"></td></tr>\n");
    }
    for (size_t i = 0; i < l->n; i++)
        row(b, dir, &l->entries[i]);
    if (l->n == 0)
        ai_puts(b, "<tr><td colspan=\"3\"><em>This folder is empty.</em></td></tr>\n");
    size_t files = l->n - l->n_dirs;
    ai_printf(b, "</tbody>\n</table>\n<footer>%zu folder%s, %zu file%s &#183; ", l->n_dirs,
              l->n_dirs == 1 ? "" : "s", files, files == 1 ? "" : "s");
    ai_put_html(b, ai_host->server_software, strlen(ai_host->server_software));
    ai_puts(b, "</footer>\n</body>\n</html>\n");
}
