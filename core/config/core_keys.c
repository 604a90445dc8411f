/*
 * Every core config key (SPEC §3, §6) in one table: what validation checks
 * (ranges and allowed values come from here) and what `webserv --schema`
 * prints. See core_keys.h. The `schema` texts are JSON Schema (draft 2020-12)
 * fragments for what a kind alone cannot say (patterns, alternatives); keep
 * them to rules the validation code really applies: the agreement tests
 * (tests/integration/test_schema.py) try every key both ways.
 */
#include "core_keys.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Pieces of regular expressions (ECMA 262, as JSON Schema uses). */
#define PORT_RE "0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
#define OCTET_RE "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
#define HOST_RE "(|\\\\*|[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|" OCTET_RE "(\\\\." OCTET_RE "){3})"
#define LISTEN_RE "^(" PORT_RE "|" HOST_RE ":" PORT_RE "|\\\\[[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\\\\]:" PORT_RE ")$"
#define LISTEN_ADDR "{\"anyOf\": [{\"type\": \"string\", \"pattern\": \"" LISTEN_RE "\"}, " \
                    "{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 65535}]}"
#define LISTEN_ONE "{\"anyOf\": [" LISTEN_ADDR ", {\"$ref\": \"#/$defs/listen\"}]}"
/* A listen object with "tls": true, alone or in the array. */
#define TLS_LISTEN "{\"type\": \"object\", \"required\": [\"tls\"], \"properties\": {\"tls\": {\"const\": true}}}"
/* RFC 9110 §5.6.2 token */
#define TOKEN_RE "^[-!#$%&'*+.^_`|~0-9A-Za-z]+$"
#define FILE_NAME "{\"type\": \"string\", \"pattern\": \"^[^/]+$\"}"
#define ERROR_PAGES "{\"type\": \"object\", \"propertyNames\": {\"pattern\": \"^[3-5][0-9]{2}$\"}, " \
                    "\"additionalProperties\": {\"type\": \"string\", \"minLength\": 1}}"
#define METHODS "{\"type\": \"array\", \"items\": {\"type\": \"string\", \"pattern\": \"" TOKEN_RE "\"}}"

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"combined", "json", NULL};

#define NOSUB -1, 0

const core_key core_keys[] = {
    /* ---- top level ---- */
    {SCOPE_TOP, "$schema", SETTINGS_STRING, 0, 0, NULL, NOSUB, NULL, NULL, 0,
     "The JSON Schema this file follows, for editors (webserv --schema writes it); the server ignores it"},
    {SCOPE_TOP, "modules", SETTINGS_STRING_LIST, 0, 0, NULL, NOSUB,
     "{\"items\": {\"minLength\": 1}}", "[]", 0,
     "Modules to load, in the order they are asked to take a request: a name loads "
     "<modules_dir>/mod_<name>.so, a value with a '/' is the path of a .so"},
    {SCOPE_TOP, "modules_dir", SETTINGS_PATH, 0, 0, NULL, NOSUB, NULL, NULL, 0,
     "Where module names are looked up (default: modules/ beside the executable, then the installed module folder)"},
    {SCOPE_TOP, "workers", SETTINGS_ANY, 1, 1024, NULL, NOSUB,
     "{\"anyOf\": [{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1024}, {\"const\": \"auto\"}]}", "1", 0,
     "Worker processes sharing the listen sockets, or \"auto\" for one per CPU"},
    {SCOPE_TOP, "max_connections", SETTINGS_INT, 1, 10000000, NULL, NOSUB, NULL, "1024", 0,
     "Open connections per worker; over it new connections wait in the backlog"},
    {SCOPE_TOP, "file_cache_entries", SETTINGS_INT, 64, 1048576, NULL, NOSUB, NULL, "4096", 0,
     "Paths whose stat each worker's file cache keeps (a quarter of them at most for names that "
     "do not exist); each costs about 300 bytes and an inotify watch"},
    {SCOPE_TOP, "error_log", SETTINGS_STRING, 0, 0, NULL, NOSUB, "{\"minLength\": 1}", "\"stderr\"", 0,
     "\"stderr\" or a file path for the error log"},
    {SCOPE_TOP, "log_level", SETTINGS_STRING, 0, 0, log_levels, NOSUB, NULL, "\"info\"", 0,
     "Lowest level written to the error log"},
    {SCOPE_TOP, "access_log", SETTINGS_STRING, 0, 0, NULL, NOSUB, "{\"minLength\": 1}", "\"off\"", 0,
     "\"off\", \"stdout\" or a file path for the access log"},
    {SCOPE_TOP, "access_log_format", SETTINGS_STRING, 0, 0, log_formats, NOSUB, NULL, "\"combined\"", 0,
     "Access log lines: Combined Log Format or one JSON object per line"},
    {SCOPE_TOP, "server_tokens", SETTINGS_BOOL, 0, 0, NULL, NOSUB, NULL, "true", 0,
     "Send the version in the Server header (false: \"webserv\" alone)"},
    {SCOPE_TOP, "timeouts", SETTINGS_OBJECT, 0, 0, NULL, SCOPE_TIMEOUTS, 0, NULL, NULL, 0,
     "Timeouts in seconds"},
    {SCOPE_TOP, "limits", SETTINGS_OBJECT, 0, 0, NULL, SCOPE_LIMITS, 0, NULL, NULL, 0, "Request size limits"},
    {SCOPE_TOP, "mime_types", SETTINGS_STRING_MAP, 0, 0, NULL, NOSUB,
     "{\"propertyNames\": {\"pattern\": \"^([.][^/]+|[^./][^/]*)$\"}, "
     "\"additionalProperties\": {\"minLength\": 1}}",
     "{}", 0, "File extension (with or without the dot) → media type, on top of the built-in table"},
    {SCOPE_TOP, "upstreams", SETTINGS_ANY, 0, 0, NULL, NOSUB,
     "{\"type\": \"object\", \"propertyNames\": {\"minLength\": 1}, \"additionalProperties\": {\"type\": \"object\", \"required\": [\"servers\"], \"additionalProperties\": false, \"properties\": {\"servers\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 256, \"items\": {\"type\": \"object\", \"required\": [\"address\"], \"additionalProperties\": false, \"properties\": {\"address\": {\"type\": \"string\", \"minLength\": 1}, \"weight\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000}}}}, \"balance\": {\"enum\": [\"round_robin\", \"least_conn\"]}, \"keepalive\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 100000}, \"max_fails\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 1000000}, \"fail_timeout\": {\"type\": \"number\", \"minimum\": 0}, \"keepalive_timeout\": {\"type\": \"number\", \"minimum\": 0}, \"timeouts\": {\"type\": \"object\", \"additionalProperties\": false, \"properties\": {\"connect\": {\"type\": \"number\", \"minimum\": 0}, \"send\": {\"type\": \"number\", \"minimum\": 0}, \"read\": {\"type\": \"number\", \"minimum\": 0}}}}}}", "{}", 0,
     "Named groups of upstream servers for the proxy and fastcgi modules (SPEC §6)"},
    {SCOPE_TOP, "servers", SETTINGS_OBJECT, 0, 0, NULL, SCOPE_SERVER, 1, "{\"minItems\": 1}", NULL, 1,
     "The virtual servers"},

    /* ---- timeouts ---- */
    {SCOPE_TIMEOUTS, "header", SETTINGS_SECONDS, 0, 0, NULL, NOSUB, NULL, "10", 0,
     "Seconds to receive a whole request head"},
    {SCOPE_TIMEOUTS, "body", SETTINGS_SECONDS, 0, 0, NULL, NOSUB, NULL, "30", 0,
     "Seconds between two reads of a request body"},
    {SCOPE_TIMEOUTS, "keepalive", SETTINGS_SECONDS, 0, 0, NULL, NOSUB, NULL, "15", 0,
     "Seconds an idle keep-alive connection stays open"},
    {SCOPE_TIMEOUTS, "send", SETTINGS_SECONDS, 0, 0, NULL, NOSUB, NULL, "60", 0,
     "Seconds between two writes of a response"},
    {SCOPE_TIMEOUTS, "shutdown", SETTINGS_SECONDS, 0, 0, NULL, NOSUB, NULL, "5", 0,
     "Seconds in-flight requests may take to finish on stop"},

    /* ---- limits ---- */
    {SCOPE_LIMITS, "header_size", SETTINGS_SIZE, 256, 1 << 30, NULL, NOSUB, NULL, "16384", 0,
     "Bytes of request line and header fields; over it 431 (414 for the request line alone)"},

    /* ---- server ---- */
    {SCOPE_SERVER, "listen", SETTINGS_ANY, 0, 0, NULL, NOSUB,
     "{\"anyOf\": [" LISTEN_ONE ", {\"type\": \"array\", \"minItems\": 1, \"items\": " LISTEN_ONE "}]}", NULL, 1,
     "Addresses to listen on: \"PORT\", \"HOST:PORT\" or \"[IPV6]:PORT\", one or an array"},
    {SCOPE_SERVER, "tls", SETTINGS_OBJECT, 0, 0, NULL, SCOPE_TLS, 0, NULL, NULL, 0,
     "Certificate, key and TLS settings; required when the server listens on a TLS address"},
    {SCOPE_SERVER, "server_names", SETTINGS_STRING_LIST, 0, 0, NULL, NOSUB,
     "{\"items\": {\"pattern\": \"^[^ \\t/]+$\"}}", "[]", 0,
     "Host names this server answers (case-insensitive) when several share an address"},
    {SCOPE_SERVER, "root", SETTINGS_PATH, 0, 0, NULL, NOSUB, NULL, NULL, 0,
     "Document root: a file maps to root + the request path"},
    {SCOPE_SERVER, "index", SETTINGS_STRING_LIST, 0, 0, NULL, NOSUB, "{\"items\": " FILE_NAME "}",
     "[\"index.html\"]", 0, "Files that stand for a folder, first existing one wins"},
    {SCOPE_SERVER, "client_max_body_size", SETTINGS_SIZE, 0, 0, NULL, NOSUB, NULL, "\"1M\"", 0,
     "Largest request body in bytes (\"10M\" style suffixes allowed); 0 = no limit"},
    {SCOPE_SERVER, "methods", SETTINGS_STRING_LIST, 0, 0, NULL, NOSUB, METHODS, NULL, 0,
     "Allowed methods (default: those of the location's modules); GET allows HEAD"},
    {SCOPE_SERVER, "error_pages", SETTINGS_STRING_MAP, 0, 0, NULL, NOSUB, ERROR_PAGES, "{}", 0,
     "HTTP status (300-599) → file served as its error page"},
    {SCOPE_SERVER, "locations", SETTINGS_OBJECT, 0, 0, NULL, SCOPE_LOCATION, 1, NULL, "[]", 0,
     "Locations, matched by longest path prefix on segment boundaries"},

    /* ---- location ---- */
    {SCOPE_LOCATION, "path", SETTINGS_STRING, 0, 0, NULL, NOSUB, "{\"pattern\": \"^/[^?#]*$\"}", NULL, 1,
     "Path prefix this location matches; starts with '/'"},
    {SCOPE_LOCATION, "root", SETTINGS_PATH, 0, 0, NULL, NOSUB, "{\"type\": [\"string\", \"null\"]}", NULL, 0,
     "Document root (overrides the server's); null: none here (for modules that serve no files)"},
    {SCOPE_LOCATION, "index", SETTINGS_STRING_LIST, 0, 0, NULL, NOSUB, "{\"items\": " FILE_NAME "}", NULL, 0,
     "Index files (override the server's)"},
    {SCOPE_LOCATION, "client_max_body_size", SETTINGS_SIZE, 0, 0, NULL, NOSUB, NULL, NULL, 0,
     "Largest request body (overrides the server's); 0 = no limit"},
    {SCOPE_LOCATION, "methods", SETTINGS_STRING_LIST, 0, 0, NULL, NOSUB, METHODS, NULL, 0,
     "Allowed methods (override the server's)"},
    {SCOPE_LOCATION, "error_pages", SETTINGS_STRING_MAP, 0, 0, NULL, NOSUB, ERROR_PAGES, NULL, 0,
     "Error pages (on top of the server's)"},
    {SCOPE_LOCATION, "return", SETTINGS_OBJECT, 0, 0, NULL, SCOPE_RETURN, 0, NULL, NULL, 0,
     "Answer every request here with a fixed status: a redirect or a short body"},

    {SCOPE_LOCATION, "timeouts", SETTINGS_OBJECT, 0, 0, NULL, SCOPE_LOC_TIMEOUTS, 0, NULL, NULL, 0,
     "Timeouts of this location, in seconds"},

    /* ---- location timeouts ---- */
    {SCOPE_LOC_TIMEOUTS, "handler", SETTINGS_SECONDS, 0, 0, NULL, NOSUB,
     "{\"exclusiveMinimum\": 0, \"maximum\": 86400}", NULL, 0,
     "Seconds a module may take from handle() to the end of its response (then 504); default: no limit"},

    /* ---- listen objects ---- */
    {SCOPE_LISTEN, "address", SETTINGS_ANY, 0, 0, NULL, NOSUB, LISTEN_ADDR, NULL, 1,
     "\"PORT\", \"HOST:PORT\" or \"[IPV6]:PORT\""},
    {SCOPE_LISTEN, "tls", SETTINGS_BOOL, 0, 0, NULL, NOSUB, NULL, "false", 0, "The address speaks TLS (HTTPS)"},
    {SCOPE_LISTEN, "protocols", SETTINGS_STRING_LIST, 0, 0, NULL, NOSUB,
     "{\"minItems\": 1, \"items\": {\"enum\": [\"http/1.1\", \"h2\", \"h2c\"]}}", NULL, 0,
     "Application protocols, at least one: \"http/1.1\", \"h2\" (TLS only) or \"h2c\" (cleartext only)"},

    /* ---- tls ---- */
    {SCOPE_TLS, "certificate", SETTINGS_PATH, 0, 0, NULL, NOSUB, NULL, NULL, 1, "PEM certificate chain"},
    {SCOPE_TLS, "key", SETTINGS_PATH, 0, 0, NULL, NOSUB, NULL, NULL, 1, "PEM private key (no passphrase)"},
    {SCOPE_TLS, "protocols", SETTINGS_STRING_LIST, 0, 0, NULL, NOSUB,
     "{\"minItems\": 1, \"items\": {\"enum\": [\"TLSv1.2\", \"TLSv1.3\"]}}", "[\"TLSv1.2\", \"TLSv1.3\"]", 0,
     "TLS versions; nothing older can be enabled"},
    {SCOPE_TLS, "ciphers", SETTINGS_STRING, 0, 0, NULL, NOSUB, "{\"minLength\": 1}", NULL, 0,
     "OpenSSL cipher list for TLS 1.2 (default: ECDHE with AEAD ciphers)"},
    {SCOPE_TLS, "groups", SETTINGS_ANY, 0, 0, NULL, NOSUB,
     "{\"anyOf\": [{\"type\": \"string\", \"pattern\": \"^[^ ,]+$\"}, "
     "{\"type\": \"array\", \"minItems\": 1, \"items\": {\"type\": \"string\", \"pattern\": \"^[^: ,]+$\"}}]}",
     "\"X25519:P-256\"", 0, "ECDH groups, as \"X25519:P-256\" or a list"},
    {SCOPE_TLS, "session_tickets", SETTINGS_BOOL, 0, 0, NULL, NOSUB, NULL, "true", 0,
     "Resume sessions with tickets (keys shared by the workers and rotated)"},
    {SCOPE_TLS, "ocsp_staple", SETTINGS_PATH, 0, 0, NULL, NOSUB, NULL, NULL, 0, "DER OCSP response to staple"},
    {SCOPE_TLS, "client_ca", SETTINGS_PATH, 0, 0, NULL, NOSUB, NULL, NULL, 0,
     "PEM CA certificates: ask for and verify client certificates"},

    /* ---- return ---- */
    {SCOPE_RETURN, "status", SETTINGS_INT, 100, 599, NULL, NOSUB, NULL, NULL, 1, "HTTP status to answer with"},
    {SCOPE_RETURN, "location", SETTINGS_STRING, 0, 0, NULL, NOSUB, NULL, NULL, 0,
     "Redirect target (URL or path), for 301, 302, 303, 307 and 308 only"},
    {SCOPE_RETURN, "body", SETTINGS_STRING, 0, 0, NULL, NOSUB, NULL, NULL, 0,
     "Response body, for statuses other than redirects"},
};
const size_t n_core_keys = sizeof core_keys / sizeof core_keys[0];

/* Rules between keys of one object. */
const char *const core_scope_schema[SCOPE_COUNT] = {
    /* A server on a TLS address needs its certificate. */
    [SCOPE_SERVER] = "{\"if\": {\"required\": [\"listen\"], \"properties\": {\"listen\": {\"anyOf\": ["
                     TLS_LISTEN ", {\"type\": \"array\", \"contains\": " TLS_LISTEN "}]}}}, "
                     "\"then\": {\"required\": [\"tls\"]}}",
    /* "h2" only with TLS, "h2c" only without. */
    [SCOPE_LISTEN] = "{\"if\": {\"required\": [\"tls\"], \"properties\": {\"tls\": {\"const\": true}}}, "
                     "\"then\": {\"properties\": {\"protocols\": {\"items\": {\"not\": {\"const\": \"h2c\"}}}}}, "
                     "\"else\": {\"properties\": {\"protocols\": {\"items\": {\"not\": {\"const\": \"h2\"}}}}}}",
    [SCOPE_RETURN] = "{\"if\": {\"properties\": {\"status\": {\"enum\": [301, 302, 303, 307, 308]}}}, "
                     "\"then\": {\"required\": [\"location\"], \"properties\": {\"location\": {\"minLength\": 1}, "
                     "\"body\": false}}, "
                     "\"else\": {\"properties\": {\"location\": false}}}",
};

const char *const core_scope_description[SCOPE_COUNT] = {
    [SCOPE_TOP] = "webserv configuration (SPEC §3)",
    [SCOPE_TIMEOUTS] = "Timeouts in seconds",
    [SCOPE_LIMITS] = "Request size limits",
    [SCOPE_SERVER] = "A virtual server",
    [SCOPE_LOCATION] = "A location: core keys plus one key per loaded module",
    [SCOPE_RETURN] = "A fixed answer",
    [SCOPE_LOC_TIMEOUTS] = "Timeouts of a location",
    [SCOPE_LISTEN] = "A listen address with its options",
    [SCOPE_TLS] = "TLS settings of a server",
};

const core_key *core_key_find(core_scope scope, const char *key)
{
    for (size_t i = 0; i < n_core_keys; i++)
        if (core_keys[i].scope == scope && strcmp(core_keys[i].key, key) == 0)
            return &core_keys[i];
    return NULL;
}

int core_key_int(const ws_settings *s, core_scope scope, const char *key, long long *out)
{
    const core_key *k = core_key_find(scope, key);
    return settings_int(s, key, k ? k->min : 0, k ? k->max : -1, out);
}

int core_key_size(const ws_settings *s, core_scope scope, const char *key, int64_t *out)
{
    const core_key *k = core_key_find(scope, key);
    int64_t v;
    int r = settings_size(s, key, &v);
    if (r == 1 && k && k->max > 0 && (v < k->min || v > k->max)) {
        settings_error(s, key, "must be between %lld and %lld bytes", k->min, k->max);
        return -1;
    }
    if (r == 1)
        *out = v;
    return r;
}

int core_key_enum(const ws_settings *s, core_scope scope, const char *key, int *index)
{
    const core_key *k = core_key_find(scope, key);
    const char *v = NULL;
    int r = settings_string(s, key, &v);
    if (r != 1)
        return r;
    for (int i = 0; k && k->values && k->values[i]; i++)
        if (strcmp(v, k->values[i]) == 0) {
            *index = i;
            return 1;
        }
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; k && k->values && k->values[i] && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s\"%s\"", i ? (k->values[i + 1] ? ", " : " or ") : "",
                                k->values[i]);
    settings_error(s, key, "expected %s", list);
    return -1;
}

int core_keys_check(const ws_settings *s, core_scope scope, const char *const *extra, size_t n_extra)
{
    const char *const *keys;
    size_t n = settings_key_list(s, &keys);
    for (size_t i = 0; i < n; i++) {
        if (core_key_find(scope, keys[i]))
            continue;
        size_t j = 0;
        while (j < n_extra && strcmp(extra[j], keys[i]) != 0)
            j++;
        if (j == n_extra) {
            settings_error(s, keys[i], "unknown key (read by the core but not declared in core/config/core_keys.c)");
            return -1;
        }
    }
    return 0;
}
