/* Named shared-memory zones: mapping, robust lock, registry (shm_zone.h). */
#include "shm_zone.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm_heap.h"

/* The start of the mapping, shared by every process. */
typedef struct zone_header {
    pthread_mutex_t lock;
    void *root;             /* the module's slot (shm_root) */
    uint64_t owner_deaths;  /* EOWNERDEAD seen */
    _Alignas(16) char heap[]; /* shm_heap.h */
} zone_header;

/* This process's handle (inherited by forked workers with the mapping). */
struct shm_zone {
    shm_zone *next;       /* the registry */
    char *owner, *name;
    size_t size;          /* usable bytes asked for */
    size_t map_len;
    zone_header *hdr;
    shm_heap *heap;
    int refs;             /* sets that hold it; unmapped (and out of the registry) at 0 */
};

static shm_zone *zones;

static void zone_unmap(shm_zone *z)
{
    for (shm_zone **p = &zones; *p; p = &(*p)->next)
        if (*p == z) {
            *p = z->next;
            break;
        }
    /* No pthread_mutex_destroy: other processes (workers forked with the
     * zone) may still use the lock; glibc marks a destroyed mutex unusable
     * for all of them. The mapping simply goes away with its last user. */
    munmap(z->hdr, z->map_len);
    free(z->owner);
    free(z->name);
    free(z);
}

static shm_zone *zone_new(const char *owner, const char *name, size_t size, char *err, size_t errlen)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t ps = page > 0 ? (size_t)page : 4096;
    /* The heap's own overhead and one block header come on top of `size`, so a
     * module asking for N bytes can allocate one N-byte object. */
    size_t want = sizeof(zone_header) + SHM_HEAP_OVERHEAD + SHM_HEAP_BLOCK_HEADER + size;
    size_t len = (want + ps - 1) / ps * ps;
    shm_zone *z = calloc(1, sizeof *z);
    void *mem = MAP_FAILED;
    pthread_mutexattr_t ma;
    int ma_ok = 0;
    if (!z || !(z->owner = strdup(owner)) || !(z->name = strdup(name))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        snprintf(err, errlen, "cannot map %zu bytes of shared memory: %s", len, strerror(errno));
        goto fail;
    }
    z->hdr = mem;
    z->map_len = len;
    z->size = size;
    /* Process-shared: every worker locks the same mutex. Robust: a holder
     * that dies hands EOWNERDEAD to the next locker instead of a deadlock.
     * Error-checking: a module that locks twice gets an error, not a hang. */
    int rc = pthread_mutexattr_init(&ma);
    ma_ok = rc == 0;
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    if (rc == 0)
        rc = pthread_mutex_init(&z->hdr->lock, &ma);
    if (ma_ok)
        pthread_mutexattr_destroy(&ma);
    if (rc != 0) {
        snprintf(err, errlen, "cannot make the zone's lock: %s", strerror(rc));
        goto fail;
    }
    z->heap = shm_heap_init(z->hdr->heap, len - sizeof(zone_header));
    z->next = zones;
    zones = z;
    return z;
fail:
    if (mem != MAP_FAILED)
        munmap(mem, len);
    if (z) {
        free(z->owner);
        free(z->name);
    }
    free(z);
    return NULL;
}

/* The newest zone of that owner and name (new zones go to the front): while
 * a reload's new zone and the old one it replaced both live, the new one is
 * the one to share; if that reload fails, its zone goes and the old one is
 * found again. */
static shm_zone *registry_find(const char *owner, const char *name)
{
    for (shm_zone *z = zones; z; z = z->next)
        if (strcmp(z->owner, owner) == 0 && strcmp(z->name, name) == 0)
            return z;
    return NULL;
}

static int set_add(shm_zone_set *set, shm_zone *z)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 4;
        shm_zone **v = realloc(set->v, cap * sizeof *v);
        if (!v)
            return -1;
        set->v = v;
        set->cap = cap;
    }
    set->v[set->n++] = z;
    z->refs++;
    return 0;
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SHM_ZONE_NAME_MAX)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return 0;
    return 1;
}

shm_zone *shm_zone_get(shm_zone_set *set, const char *owner, const char *name, size_t size, int *what,
                       size_t *old_size, char *err, size_t errlen)
{
    *what = SHM_ZONE_KEPT;
    if (!name || !valid_name(name)) {
        snprintf(err, errlen, "zone name must be 1 to %d letters, digits, '_', '-' or '.'", SHM_ZONE_NAME_MAX);
        return NULL;
    }
    if (size < SHM_ZONE_SIZE_MIN || size > SHM_ZONE_SIZE_MAX) {
        snprintf(err, errlen, "zone \"%s\": size %zu is out of range (%d bytes to 1T)", name, size, SHM_ZONE_SIZE_MIN);
        return NULL;
    }
    for (size_t i = 0; i < set->n; i++) {
        shm_zone *z = set->v[i];
        if (strcmp(z->owner, owner) != 0 || strcmp(z->name, name) != 0)
            continue;
        if (z->size != size) {
            snprintf(err, errlen, "zone \"%s\" is already asked for with size %zu in this configuration", name,
                     z->size);
            return NULL;
        }
        return z;
    }
    shm_zone *z = registry_find(owner, name);
    if (z && z->size == size)
        return set_add(set, z) == 0 ? z : (snprintf(err, errlen, "out of memory"), NULL);
    if (z) {
        *what = SHM_ZONE_RECREATED;
        *old_size = z->size;
    } else {
        *what = SHM_ZONE_NEW;
    }
    shm_zone *fresh = zone_new(owner, name, size, err, errlen);
    if (!fresh)
        return NULL;
    if (set_add(set, fresh) < 0) {
        zone_unmap(fresh);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return fresh; /* the old zone stays with the configurations that hold it */
}

void shm_zone_set_release(shm_zone_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        if (--set->v[i]->refs == 0)
            zone_unmap(set->v[i]);
    free(set->v);
    memset(set, 0, sizeof *set);
}

int shm_zone_lock(shm_zone *z)
{
    int rc = pthread_mutex_lock(&z->hdr->lock);
    if (rc == 0)
        return 0;
    if (rc == EOWNERDEAD) {
        /* The holder died, perhaps inside shm_alloc/shm_free: make the
         * allocator whole before anyone uses it, and mark the mutex usable
         * again (else the next unlock would make it unrecoverable). The
         * module's own data is the module's to check. */
        shm_heap_rebuild(z->heap);
        z->hdr->owner_deaths++;
        pthread_mutex_consistent(&z->hdr->lock);
        return 2;
    }
    return -1; /* EDEADLK: this process holds it already */
}

void shm_zone_unlock(shm_zone *z)
{
    pthread_mutex_unlock(&z->hdr->lock);
}

void *shm_zone_alloc(shm_zone *z, size_t n)
{
    return shm_heap_alloc(z->heap, n);
}

void shm_zone_free(shm_zone *z, void *p)
{
    shm_heap_free(z->heap, p);
}

void **shm_zone_root(shm_zone *z)
{
    return &z->hdr->root;
}

const char *shm_zone_name(const shm_zone *z) { return z->name; }
size_t shm_zone_size(const shm_zone *z) { return z->size; }
struct shm_heap *shm_zone_heap(shm_zone *z) { return z->heap; }
uint64_t shm_zone_owner_deaths(const shm_zone *z) { return z->hdr->owner_deaths; }
