/*
 * Words for `webserv --schema` (module.h ws_module_doc): the keys and their
 * types come from hd_configure's getters; the patterns are what it checks
 * (header names are RFC 9110 §5.6.2 tokens and not one of the fields the core
 * owns, compared without case; values without control characters but tab;
 * expires keys ".ext", "type/subtype" or a whole type with a star; the cors object).
 */
#include "webserv/module.h"

#define TOKEN "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
/* core_owned() in headers.c, case-insensitively. */
#define OWNED                                                                                                       \
    "^(?:[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]|[Tt][Rr][Aa][Nn][Ss][Ff][Ee][Rr]-[Ee][Nn][Cc][Oo]"  \
    "[Dd][Ii][Nn][Gg]|[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]|[Dd][Aa][Tt][Ee]|[Ss][Ee][Rr][Vv][Ee][Rr]|[Kk][Ee]" \
    "[Ee][Pp]-[Aa][Ll][Ii][Vv][Ee]|[Uu][Pp][Gg][Rr][Aa][Dd][Ee]|[Tt][Rr][Aa][Ii][Ll][Ee][Rr]|[Tt][Ee])$"
#define NAME "{\"pattern\": \"" TOKEN "\", \"not\": {\"pattern\": \"" OWNED "\"}}"
/* Control characters but tab (RFC 9110 §5.5), as JSON text of a regular expression. */
#define CTL "\\\\u0000-\\\\u0008\\\\u000a-\\\\u001f\\\\u007f"
#define FIELDS "{\"propertyNames\": " NAME ", \"additionalProperties\": {\"pattern\": \"^[^" CTL "]*$\"}}"

static const ws_key_doc headers_keys[] = {
    {"set", "Fields set on every response of the location, replacing any the handler set", "{}", NULL, FIELDS},
    {"add", "Fields added to every response of the location, beside any of the same name", "{}", NULL, FIELDS},
    {"remove", "Field names removed from every response of the location", "[]", NULL, "{\"items\": " NAME "}"},
    {"always", "Also on error responses (false: only 2xx and 3xx)", "false", NULL, NULL},
    {"expires",
     "Cache lifetime in seconds by \".ext\" or \"type/subtype\" (\"type/*\"): Cache-Control: max-age and Expires",
     "{}", NULL,
     "{\"propertyNames\": {\"pattern\": \"^(?:[.][^/.]+|[^/]+/(?:[*]|[^*]+))$\"}, "
     "\"additionalProperties\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 315360000}}"},
    {"cors",
     "CORS: Access-Control-Allow-* for the listed origins; a preflight OPTIONS is answered 204",
     NULL, NULL,
     "{\"properties\": {"
     "\"origins\": {\"description\": \"\\\"*\\\" or a list of origins (scheme://host[:port])\", \"anyOf\": ["
     "{\"const\": \"*\"}, {\"type\": \"array\", \"items\": {\"type\": \"string\", "
     "\"pattern\": \"^[^" CTL " ]*://[^" CTL " ]*$\"}}]}, "
     "\"methods\": {\"description\": \"Allowed methods\", \"default\": [\"GET\", \"HEAD\", \"POST\"], \"type\": "
     "\"array\", \"items\": {\"type\": \"string\", \"pattern\": \"" TOKEN "\"}}, "
     "\"headers\": {\"description\": \"Allowed request fields\", \"type\": \"array\", \"items\": {\"type\": "
     "\"string\", \"pattern\": \"" TOKEN "\"}}, "
     "\"credentials\": {\"description\": \"Access-Control-Allow-Credentials (never with origins \\\"*\\\")\", "
     "\"type\": \"boolean\", \"default\": false}, "
     "\"max_age\": {\"description\": \"Seconds a browser may keep a preflight answer\", \"type\": \"integer\", "
     "\"minimum\": 0, \"maximum\": 604800, \"default\": 600}}, "
     "\"required\": [\"origins\"], \"additionalProperties\": false, "
     "\"if\": {\"properties\": {\"origins\": {\"const\": \"*\"}}, \"required\": [\"origins\"]}, "
     "\"then\": {\"properties\": {\"credentials\": {\"const\": false}}}, "
     "\"examples\": [{\"origins\": [\"https://app.example\"], \"credentials\": true}, {\"origins\": \"*\"}]}"},
    {NULL, NULL, NULL, NULL, NULL},
};

WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Sets, adds and removes response fields, Expires/Cache-Control by type, and CORS",
    .keys = headers_keys,
};
