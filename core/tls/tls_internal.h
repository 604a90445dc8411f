/* Shared between the files of core/tls; not for the rest of the core. */
#ifndef WEBSERV_TLS_INTERNAL_H
#define WEBSERV_TLS_INTERNAL_H

#include <openssl/ssl.h>

#include "config.h"

/* Install the shared, rotating ticket keys on ctx (tls_tickets.c). */
void tls_tickets_attach(SSL_CTX *ctx);

/* The client hello callback's view of the connection: where it came in, so
 * SNI can pick the server by the router's rules. Small on purpose: it lives
 * as long as the connection, and idle TLS connections are counted in
 * thousands (the name is allocated only when a client sends one). */
typedef struct tls_route {
    const bind_conf *bind;        /* the listener's bind in the current config; NULL: address removed */
    const struct sockaddr *local; /* the connection's local address (the connection's own copy) */
    char *sni;                    /* the name the client asked for, NULL when none */
} tls_route;

/* The route of the SSL whose handshake this thread is driving, for the
 * handshake callbacks (client hello, ALPN): NULL for any other SSL. It takes
 * the place of SSL app data, which costs each connection an ex_data stack
 * (two allocations, ~100 bytes) for one pointer that only the handshake
 * reads. transport_tls.c sets it around every SSL call that may run the
 * handshake. */
tls_route *tls_route_of(const SSL *ssl);

/* The session cache shared by the workers (tls_cache.c), in a zone of zones. */
struct shm_zone_set;
int tls_cache_attach(SSL_CTX *ctx, struct shm_zone_set *zones, char *err, size_t errlen);

/* Apply server s's context to ssl (certificate, versions, ciphers, groups, verify). */
int tls_switch_ctx(SSL *ssl, const server_conf *s);

#endif
