/*
 * What a module may put into a response through the host table: the one rule
 * set shared by the server (host.c) and the test host (tests/testhost), so a
 * module that passes its unit tests is never refused by the real server.
 */
#ifndef WEBSERV_HEADER_RULES_H
#define WEBSERV_HEADER_RULES_H

#include <stddef.h>

/* A final status: 200-599 (1xx are interim responses the API has no use for). */
int header_rules_status_ok(int status);

/* A header a module may add: a token name that is not one of the core's own
 * (framing and per-connection fields, RFC 9112 §6 and §9.6), and a value
 * without control characters other than HTAB (no header injection). */
int header_rules_field_ok(const char *name, const char *value);
/* The same check, and the lengths it measured on the way (strlen of each),
 * so that a caller copying the field does not measure them again. */
int header_rules_field_len(const char *name, const char *value, size_t *name_len, size_t *value_len);

/* Does a comma-separated field value (Connection, Upgrade) hold token,
 * case-insensitively (RFC 9110 §5.6.1)? A token asked without a version
 * ("websocket") also matches one with ("websocket/13", §7.8). NULL → 0. */
int header_rules_list_has(const char *list, const char *token);

#endif
