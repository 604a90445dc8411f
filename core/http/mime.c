/*
 * MIME types by extension (SPEC §5 static). The built-in table is sorted by
 * extension for bsearch; the config's mime_types are checked first (a short
 * list, scanned) so they win. Text types say charset=utf-8 so browsers do not
 * guess. No entry for ".cgi": a script's source must not be one click away as
 * text (SPEC §5); unknown extensions are application/octet-stream.
 */
#include "mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct mime_entry {
    const char *ext; /* lower-case, no dot */
    const char *type;
} mime_entry;

/* Keep sorted by ext (strcmp order): lookups use bsearch; test_mime checks the order. */
static const mime_entry builtin[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml"},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"c", "text/x-c; charset=utf-8"},
    {"conf", "text/plain; charset=utf-8"},
    {"cpp", "text/x-c++; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"diff", "text/x-diff; charset=utf-8"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"exe", "application/octet-stream"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"go", "text/x-go; charset=utf-8"},
    {"gz", "application/gzip"},
    {"h", "text/x-c; charset=utf-8"},
    {"heic", "image/heic"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar; charset=utf-8"},
    {"ini", "text/plain; charset=utf-8"},
    {"iso", "application/octet-stream"},
    {"jar", "application/java-archive"},
    {"java", "text/x-java; charset=utf-8"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"jxl", "image/jxl"},
    {"log", "text/plain; charset=utf-8"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/mp4"},
    {"map", "application/json"},
    {"md", "text/markdown; charset=utf-8"},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/opus"},
    {"otf", "font/otf"},
    {"patch", "text/x-diff; charset=utf-8"},
    {"pdf", "application/pdf"},
    {"php", "text/x-php; charset=utf-8"},
    {"pl", "text/x-perl; charset=utf-8"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"py", "text/x-python; charset=utf-8"},
    {"rb", "text/x-ruby; charset=utf-8"},
    {"rs", "text/x-rust; charset=utf-8"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"sh", "application/x-sh"},
    {"svg", "image/svg+xml"},
    {"swf", "application/x-shockwave-flash"},
    {"tar", "application/x-tar"},
    {"tgz", "application/gzip"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml"},
    {"ts", "video/mp2t"},
    {"tsv", "text/tab-separated-values; charset=utf-8"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"vcf", "text/vcard; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wat", "text/plain; charset=utf-8"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml"},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml"},
    {"yml", "application/yaml"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

static const char *const *overrides;
static size_t n_overrides;

void mime_set_overrides(const char *const *pairs, size_t n_pairs)
{
    overrides = pairs;
    n_overrides = n_pairs;
}

static int cmp_entry(const void *key, const void *elem)
{
    return strcmp(key, ((const mime_entry *)elem)->ext);
}

/* The last extension of the last path segment, lower-cased into buf; NULL
 * when there is none ("README", ".bashrc", "dir.d/file") or it is too long
 * to be in any table. */
static const char *extension(const char *path, char *buf, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base || !dot[1])
        return NULL;
    size_t n = strlen(dot + 1);
    if (n >= len)
        return NULL;
    for (size_t i = 0; i <= n; i++) {
        char c = dot[1 + i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return buf;
}

const char *mime_lookup(const char *path)
{
    char buf[32];
    const char *ext = path ? extension(path, buf, sizeof buf) : NULL;
    if (!ext)
        return "application/octet-stream";
    for (size_t i = 0; i < n_overrides; i++)
        if (strcasecmp(overrides[2 * i], ext) == 0)
            return overrides[2 * i + 1];
    const mime_entry *e = bsearch(ext, builtin, sizeof builtin / sizeof builtin[0], sizeof builtin[0], cmp_entry);
    return e ? e->type : "application/octet-stream";
}

/* For test_mime: the table must stay sorted for bsearch. */
int mime_builtin_sorted(void);
int mime_builtin_sorted(void)
{
    for (size_t i = 1; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(builtin[i - 1].ext, builtin[i].ext) >= 0)
            return 0;
    return 1;
}
