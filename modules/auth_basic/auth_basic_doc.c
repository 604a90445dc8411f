/*
 * Words for `webserv --schema` (module.h ws_module_doc): the keys and their
 * types come from ab_configure's getters; what is written here is what it
 * checks beyond them (realm and user_file required, no control character in
 * the realm). The user file's content is read by the server only.
 */
#include "webserv/module.h"

static const ws_key_doc auth_basic_keys[] = {
    {"realm", "Protection space named in WWW-Authenticate: Basic realm=\"…\", charset=\"UTF-8\" (required)", NULL,
     NULL, "{\"pattern\": \"^[^\\\\u0000-\\\\u001f\\\\u007f]*$\"}"},
    {"user_file",
     "htpasswd file of user:hash lines ($2y$/$2b$ bcrypt, $5$/$6$ SHA-crypt), relative to the config file; "
     "re-read when it changes (required)",
     NULL, NULL, NULL},
    {"cache_seconds", "Seconds a verified user:password pair is remembered (0: verify every request)", "60", NULL,
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "HTTP Basic authentication (RFC 7617) against an htpasswd file; missing or wrong "
                   "credentials get 401",
    .keys = auth_basic_keys,
    .schema = "{\"required\": [\"realm\", \"user_file\"]}",
};
