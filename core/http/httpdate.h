/* HTTP dates (RFC 9110 §5.6.7). */
#ifndef WEBSERV_HTTPDATE_H
#define WEBSERV_HTTPDATE_H

#include <stddef.h>
#include <time.h>

#define HTTPDATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Write the IMF-fixdate of t into out (at least HTTPDATE_LEN + 1 bytes), NUL-terminated. */
void httpdate_format(time_t t, char *out);
/* Parse IMF-fixdate, RFC 850 and asctime formats (all three must be accepted).
 * Returns 0 and *out, or -1 when s[0..n) is not a valid date. */
int httpdate_parse(const char *s, size_t n, time_t *out);

/* The Date header value for "now", formatted at most once per second. */
const char *httpdate_now(time_t now);

#endif
