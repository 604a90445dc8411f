/*
 * The worker's file-system cache (see fs_cache.h for what it promises).
 *
 * An open-addressing table of entries keyed by path. Entries are never
 * removed one by one: any inotify event empties the table, which keeps the
 * invariant simple — a path is cached only while its folder is cached, so
 * every folder from "/" down to a cached path is watched.
 *
 * Emptying keeps the watches (the events are read and dropped): the paths
 * served again are watched already, and adding a watch that exists with the
 * same mask changes nothing in the kernel. Dropping and re-adding them would
 * cost the kernel a walk over every name cached under each watched folder,
 * twice per flush (fsnotify marks the children of a folder watched for
 * child events): with the document root under a busy /tmp that walk took a
 * quarter of the worker's CPU (issue 21 profile). Only when the instance
 * holds more than MAX_WATCHES watches (paths no longer served keep theirs)
 * is it replaced by a fresh one, which drops them all at once.
 */
#include "fs_cache.h"
#include "file_open.h"
#include "offload.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Entries the table keeps at most: "file_cache_entries" (fs_cache_start). */
#define MAX_ENTRIES C.max_entries
/* Of them, names found missing (ENOENT) at most. Nothing leaves the table
 * before the next flush, so without a share of their own the misses (a
 * scanner's random 404s, the variants precompressed looks for beside every
 * file) could fill it and leave the files that are there to the kernel.
 * Past this share a missing name is asked of the kernel each time (one
 * lstat), as when the cache is full. */
#define MAX_MISSING FS_CACHE_MISSING_SHARE(C.max_entries)
#define N_SLOTS C.n_slots /* a power of two, at least twice MAX_LIVE: short probe runs */
#define MAX_OPEN 256  /* cached descriptors; past that a caller gets its own */
#define MAX_DEPTH 64  /* folders above a cached path */
#define MAX_LISTED 20000 /* entries of a folder fs_cache_dir_version watches */
#define MAX_WATCHES (MAX_ENTRIES + MAX_LISTED) /* kept across flushes up to this many */
#define MAX_WATCH_JOBS 2 /* folders whose entries the pool watches at once */
#define MAX_WATCHED_DIRS 32 /* folders remembered as watched entry by entry, across flushes */
/* Entries in the table at most: MAX_ENTRIES is checked before a path's
 * folders are looked up, which may add up to MAX_DEPTH more on the way. */
#define MAX_LIVE (MAX_ENTRIES + MAX_DEPTH + 1)

/* A folder's watch: its own attributes, and names appearing or vanishing in
 * it. Not IN_MODIFY: writes to files in a watched folder (a log, an upload)
 * must not empty the cache; the files that are cached have their own watch. */
#define DIR_EVENTS (IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)
/* A file's watch: content, attributes and link count (unlink is IN_ATTRIB). */
#define FILE_EVENTS (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF)

struct fs_file {
    uint64_t hash;
    int err;         /* 0: st is the path's lstat; ENOENT: the path does not exist */
    struct stat st;
    int fd;          /* -1: not opened through the cache */
    unsigned refs;   /* fs_cache_open references not yet released */
    int detached;    /* emptied out of the table while referenced */
    int entries_watched; /* 1: a folder whose every entry has a watch (fs_cache_dir_version);
                            -1: one that cannot have (a symbolic link in it, too many) */
    int wd;          /* the path's own watch, -1: none */
    size_t slot;     /* its place in C.slots */
    size_t len;
    char path[];
};

static struct {
    loop *l;
    int ifd; /* -1: the cache is off */
    size_t max_entries, n_slots; /* MAX_ENTRIES, N_SLOTS */
    fs_file **slots;
    /* The entries of the table, densely: emptying it walks these, not all
     * N_SLOTS slots (a flush per file created in a busy /tmp made that walk
     * of 8,192 slots the cache's main cost under callgrind). */
    fs_file **live;
    size_t live_cap; /* grown as entries come, up to MAX_LIVE */
    size_t n_entries, n_open;
    size_t n_missing; /* of the entries, ENOENT ones (MAX_MISSING) */
    uint64_t hits, misses, flushes;
    int max_wd; /* the highest watch descriptor of this instance: they only grow */
    unsigned instance; /* counts the instances opened: a job of an older one is dropped */
    struct watch_job *jobs; /* watch jobs on the pool (fs_cache_dir_version) */
    unsigned n_jobs;
    struct watched_dir *dirs[MAX_WATCHED_DIRS]; /* (below) NULL: a free place */
    unsigned dirs_next, n_dirs; /* the place a new one takes (oldest first); how many */
} C = {.ifd = -1};

/*
 * A folder every entry of which was watched, remembered across flushes by
 * its own watch (the inode the path led to, in this instance). Until an event
 * on that watch says a name came in (IN_CREATE, IN_MOVED_TO), or the folder
 * itself went (IN_DELETE_SELF, IN_MOVE_SELF, IN_IGNORED), every name in it
 * still leads to a watched inode: a flush caused elsewhere (a busy /tmp above
 * the root) then needs no new readdir and no watch per entry. A name that
 * went is harmless (its watch stays, or went with its inode).
 */
struct watched_dir {
    unsigned instance;
    int wd;
    size_t len;
    char path[];
};

static uint64_t path_hash(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3u;
    return h;
}

static fs_file *find(const char *p, size_t len, uint64_t h)
{
    for (size_t i = h & (N_SLOTS - 1);; i = (i + 1) & (N_SLOTS - 1)) {
        fs_file *e = C.slots[i];
        if (!e)
            return NULL;
        if (e->hash == h && e->len == len && memcmp(e->path, p, len) == 0)
            return e;
    }
}

static void insert(const char *p, size_t len, uint64_t h, int err, const struct stat *st, int wd)
{
    if (C.n_entries == C.live_cap) {
        size_t cap = C.live_cap ? 2 * C.live_cap : 64;
        if (cap > MAX_LIVE)
            cap = MAX_LIVE;
        fs_file **live = cap > C.live_cap ? realloc(C.live, cap * sizeof *live) : NULL;
        if (!live)
            return; /* not cached: the next request asks the kernel again */
        C.live = live;
        C.live_cap = cap;
    }
    fs_file *e = malloc(sizeof *e + len + 1);
    if (!e)
        return;
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->err = err;
    if (err)
        C.n_missing++;
    else
        e->st = *st;
    e->fd = -1;
    e->wd = wd;
    e->len = len;
    memcpy(e->path, p, len);
    e->path[len] = '\0';
    size_t i = h & (N_SLOTS - 1);
    while (C.slots[i])
        i = (i + 1) & (N_SLOTS - 1);
    C.slots[i] = e;
    e->slot = i;
    C.live[C.n_entries++] = e;
}

static void entry_free(fs_file *e)
{
    if (e->fd >= 0) {
        close(e->fd);
        C.n_open--;
    }
    free(e);
}

/* ---- the inotify fd ---- */

static void reset(void);

static void on_change(loop *l, int fd, unsigned events, void *arg)
{
    (void)l, (void)fd, (void)events, (void)arg;
    /* Any event empties the table; reset reads the events (ending the
     * readiness) or replaces the fd. */
    reset();
}

static void close_watches(void)
{
    if (C.ifd < 0)
        return;
    loop_set_first(C.l, -1);
    loop_del(C.l, C.ifd);
    close(C.ifd);
    C.ifd = -1;
}

static int open_watches(void)
{
    C.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    C.max_wd = 0;
    C.instance++;
    if (C.ifd < 0)
        return -1;
    if (loop_add(C.l, C.ifd, LOOP_READ, on_change, NULL) < 0) {
        close(C.ifd);
        C.ifd = -1;
        return -1;
    }
    loop_set_first(C.l, C.ifd);
    return 0;
}

/* The slots for a table of entries entries (at least 1): C.slots and the
 * sizes that go with them, or -1 with everything as it was. */
static int size_table(size_t entries)
{
    /* Room for twice what the table can hold: entries, plus the folders of
     * the path that took the last one (MAX_LIVE). A table with no empty
     * slot would make a probe run forever. */
    size_t n = 2;
    while (n < 2 * (entries + MAX_DEPTH + 1))
        n *= 2;
    fs_file **slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    free(C.slots);
    C.slots = slots;
    C.n_slots = n;
    C.max_entries = entries;
    return 0;
}

int fs_cache_start(loop *l, size_t entries)
{
    const char *env = getenv("WEBSERV_FS_CACHE");
    if (env && (strcmp(env, "off") == 0 || strcmp(env, "0") == 0))
        return -1;
    if (entries == 0 || size_table(entries) < 0)
        return -1;
    C.l = l;
    if (open_watches() < 0) {
        free(C.slots);
        C.slots = NULL;
        return -1;
    }
    return 0;
}

static void empty_table(void)
{
    for (size_t i = 0; i < C.n_entries; i++) {
        fs_file *e = C.live[i];
        C.live[i] = NULL;
        C.slots[e->slot] = NULL;
        if (e->refs)
            e->detached = 1; /* a response still sends from its fd */
        else
            entry_free(e);
    }
    C.n_entries = 0;
    C.n_missing = 0;
}

static void jobs_spoil(int wd, int all);

static void dirs_forget(int wd, int all)
{
    for (unsigned i = 0; i < MAX_WATCHED_DIRS && C.n_dirs; i++)
        if (C.dirs[i] && (all || C.dirs[i]->wd == wd)) {
            free(C.dirs[i]);
            C.dirs[i] = NULL;
            C.n_dirs--;
        }
}

/* Read the pending events: they all mean "empty the table"; those on the
 * own watch of a remembered folder, or of one the pool is watching (names
 * coming in, the folder going), also end what was remembered of it, or what
 * that watching will say. */
static void drain_events(void)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(C.ifd, buf, sizeof buf)) > 0)
        for (ssize_t at = 0; (C.n_dirs || C.n_jobs) && at + (ssize_t)sizeof(struct inotify_event) <= n;) {
            const struct inotify_event *ev = (const void *)(buf + at);
            if (ev->mask & IN_Q_OVERFLOW) { /* events were lost */
                dirs_forget(-1, 1);
                jobs_spoil(-1, 1);
            } else if (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
                dirs_forget(ev->wd, 0);
                jobs_spoil(ev->wd, 0);
            }
            at += (ssize_t)sizeof *ev + ev->len;
        }
}

/* The entries of folder path (len bytes), whose own watch is wd, are all
 * watched now: remember it across flushes. */
static void dirs_remember(const char *path, size_t len, int wd)
{
    if (wd < 0)
        return;
    for (unsigned i = 0; i < MAX_WATCHED_DIRS; i++)
        if (C.dirs[i] && C.dirs[i]->len == len && memcmp(C.dirs[i]->path, path, len) == 0) {
            C.dirs[i]->instance = C.instance;
            C.dirs[i]->wd = wd;
            return;
        }
    struct watched_dir *d = malloc(sizeof *d + len + 1);
    if (!d)
        return;
    *d = (struct watched_dir){.instance = C.instance, .wd = wd, .len = len};
    memcpy(d->path, path, len);
    d->path[len] = '\0';
    unsigned i = C.dirs_next;
    C.dirs_next = (i + 1) % MAX_WATCHED_DIRS;
    if (C.dirs[i])
        free(C.dirs[i]); /* the oldest */
    else
        C.n_dirs++;
    C.dirs[i] = d;
}

/* Whether folder e (just cached again) is remembered with every entry
 * watched: the same path, leading to the same watched inode. */
static int dirs_remembered(const fs_file *e)
{
    for (unsigned i = 0; i < MAX_WATCHED_DIRS && C.n_dirs; i++) {
        const struct watched_dir *d = C.dirs[i];
        if (d && d->len == e->len && memcmp(d->path, e->path, e->len) == 0)
            return e->wd >= 0 && d->wd == e->wd && d->instance == C.instance;
    }
    return 0;
}

static void reset(void)
{
    empty_table();
    C.flushes++;
    if ((size_t)C.max_wd <= MAX_WATCHES) { /* max_wd >= 0 */
        drain_events();
        return;
    }
    C.max_wd = 0;
    dirs_forget(-1, 1); /* their watches go with the instance */
    /* The new instance is open before the old one closes, so the worker never
     * holds fewer descriptors in between (what leak checks from outside see). */
    int old = C.ifd;
    C.ifd = -1;
    loop_set_first(C.l, -1);
    loop_del(C.l, old);
    open_watches(); /* on failure the cache is off from now on */
    close(old);
}

void fs_cache_flush(void)
{
    if (C.slots && C.ifd >= 0) {
        dirs_forget(-1, 1); /* everything: a reload says so where inotify cannot see */
        jobs_spoil(-1, 1);
        reset();
    }
}

int fs_cache_resize(size_t entries)
{
    if (!C.slots || entries == C.max_entries)
        return 0;
    if (entries == 0) {
        errno = EINVAL;
        return -1;
    }
    fs_cache_flush(); /* the slots are empty now: none points into the old array */
    if (size_table(entries) < 0)
        return -1;
    /* A smaller table: the dense list regrows to the new bound, and watches
     * beyond the new MAX_WATCHES go now (a fresh instance), not at some
     * later change. */
    free(C.live);
    C.live = NULL;
    C.live_cap = 0;
    if (C.ifd >= 0 && (size_t)C.max_wd > MAX_WATCHES)
        reset();
    return 0;
}

void fs_cache_stop(void)
{
    if (!C.slots)
        return;
    empty_table();
    close_watches();
    dirs_forget(-1, 1);
    free(C.slots);
    free(C.live);
    C.slots = NULL;
    C.live = NULL;
    C.live_cap = 0;
    C.l = NULL;
}

/* ---- stat ---- */

/* Add (or widen) the watch of path in instance ifd: its wd, or -1. is_file:
 * readdir said a regular file (one call, not a folder's first that fails
 * with ENOTDIR). *max_wd grows to it (a new watch: an existing one keeps its
 * number). Safe on any thread: the kernel serialises an instance's watches. */
static int watch_in(int ifd, const char *path, int is_file, int *max_wd)
{
    int wd = is_file ? -1 : inotify_add_watch(ifd, path, DIR_EVENTS | IN_ONLYDIR | IN_DONT_FOLLOW | IN_MASK_ADD);
    if (is_file || (wd < 0 && errno == ENOTDIR))
        wd = inotify_add_watch(ifd, path, FILE_EVENTS | IN_DONT_FOLLOW | IN_MASK_ADD);
    if (wd > *max_wd)
        *max_wd = wd;
    return wd;
}

static int watch(const char *path)
{
    return watch_in(C.ifd, path, 0, &C.max_wd);
}

/* The stat of buf[0..len) with len > 0 and no trailing slash (but "/"): 0 or
 * an errno. buf must have room for a NUL at len. *found: the cache entry that
 * answered or now holds the answer (NULL when it is not cached). */
static int lookup(char *buf, size_t len, int depth, struct stat *st, fs_file **found)
{
    uint64_t h = path_hash(buf, len);
    fs_file *e = find(buf, len, h);
    *found = e;
    if (e) {
        C.hits++;
        if (!e->err)
            *st = e->st;
        return e->err;
    }
    C.misses++;
    if (depth == 0 && C.n_entries >= MAX_ENTRIES) {
        /* The table is full, so nothing found now is kept: walking up the
         * folders would cost an lstat for each one not in the table (on a
         * tree larger than the table, most), where the kernel answers the
         * whole path in one call. */
        char saved = buf[len];
        buf[len] = '\0';
        int err = stat(buf, st) < 0 ? errno : 0;
        buf[len] = saved;
        return err;
    }
    int keep = C.n_entries < MAX_ENTRIES && depth < MAX_DEPTH;
    if (len > 1) {
        size_t plen = len;
        while (plen > 0 && buf[plen - 1] != '/')
            plen--;
        while (plen > 1 && buf[plen - 1] == '/')
            plen--;
        struct stat pst;
        fs_file *parent;
        int perr = lookup(buf, plen, depth + 1, &pst, &parent);
        if (perr)
            return perr; /* what stat would say of the path below it too */
        if (!S_ISDIR(pst.st_mode))
            return ENOTDIR;
        /* Only a name in a watched folder can be kept fresh. */
        keep = keep && parent && C.ifd >= 0;
    }
    char saved = buf[len];
    buf[len] = '\0';
    /* Watch before looking: a change after this point empties the cache. */
    int wd = keep ? watch(buf) : -1;
    int err = lstat(buf, st) < 0 ? errno : 0;
    if (!err && S_ISLNK(st->st_mode)) {
        keep = 0; /* the folders of its target are not watched */
        err = stat(buf, st) < 0 ? errno : 0;
    }
    if (keep && ((!err && wd >= 0 && (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))) ||
                 (err == ENOENT && C.n_missing < MAX_MISSING))) {
        insert(buf, len, h, err, st, wd);
        *found = find(buf, len, h);
    }
    buf[len] = saved;
    return err;
}

/* 1 when the table can keep path (len bytes): the cache is on, and the path
 * is absolute (inotify watches name no working folder) and fits a buffer. */
static int cacheable(const char *path, size_t len)
{
    return C.ifd >= 0 && path[0] == '/' && len < PATH_MAX;
}

/* As stat(path, st), and *e: the cache entry behind the answer (NULL when the
 * kernel was asked because path cannot be cached). */
static int stat_entry(const char *path, struct stat *st, fs_file **e)
{
    *e = NULL;
    size_t len = strlen(path);
    if (!cacheable(path, len))
        return stat(path, st);
    char buf[PATH_MAX];
    memcpy(buf, path, len + 1);
    size_t klen = len;
    while (klen > 1 && buf[klen - 1] == '/')
        klen--;
    int err = lookup(buf, klen, 0, st, e);
    if (!err && klen < len && !S_ISDIR(st->st_mode))
        err = ENOTDIR; /* "file/" */
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

int fs_cache_stat(const char *path, struct stat *st)
{
    fs_file *e;
    return stat_entry(path, st, &e);
}

/* ---- folder versions ---- */

/* Watch every entry of folder path (len bytes) in instance ifd, so that a
 * change to any of them (content, attributes, or a subfolder's own entries)
 * empties the cache. 0; -2 when some entry can never be watched closely (a
 * symbolic link: its target is elsewhere; more than MAX_LISTED entries); -1
 * when the folder or an entry cannot be watched now (no descriptor left, the
 * kernel's watch limit). Touches nothing of C: it runs on a pool thread
 * (watch_job_run) or, without a pool, on the loop. */
static int watch_entries(int ifd, const char *dir, size_t len, int *max_wd)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char path[PATH_MAX];
    int rc = 0, n = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (++n > MAX_LISTED || de->d_type == DT_LNK ||
            snprintf(path, sizeof path, "%s/%s", len > 1 ? dir : "", de->d_name) >= (int)sizeof path)
            rc = -2;
        else if (watch_in(ifd, path, de->d_type == DT_REG, max_wd) < 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

/*
 * The watching of a folder's entries runs on the offload pool (issue 21: a
 * readdir and a path lookup per entry, cold inodes read from the disk, up to
 * MAX_LISTED of them). A job is keyed by the folder's path, its own watch
 * and the instance it was started in, never by its fs_file: any flush
 * meanwhile frees that entry. A name coming into the folder meanwhile (it may
 * have no watch: the job's readdir may have passed), the folder going, a new
 * instance or fs_cache_flush spoil what the job did; a flush caused elsewhere
 * does not (what the job says is remembered by the folder's watch, as after
 * a flush, and the next call finds it there).
 */
typedef struct watch_job {
    struct watch_job *next; /* C.jobs: started and not back on the loop */
    uint64_t flushes;       /* C.flushes when it started */
    unsigned instance;      /* C.instance when it started */
    int wd;                 /* the folder's own watch */
    int spoiled;            /* an event on it said a name came in, or the folder went */
    int ifd;                /* its own descriptor of that instance (closed by the job) */
    int rc, max_wd;         /* what watch_entries said; the highest wd it saw */
    size_t len;
    char path[];
} watch_job;

/* Pool thread. The descriptor is a dup: replacing the instance meanwhile
 * (reset) cannot hand this job's number to another file. */
static void watch_job_run(void *arg)
{
    watch_job *j = arg;
    j->rc = watch_entries(j->ifd, j->path, j->len, &j->max_wd);
    close(j->ifd);
    j->ifd = -1;
}

static void jobs_spoil(int wd, int all)
{
    for (watch_job *j = C.jobs; j; j = j->next)
        if (all || j->wd == wd)
            j->spoiled = 1;
}

/* Loop thread, once the job is back. An event the loop has not read yet
 * needs no check here: the version this allows is returned only after the
 * job, so what is built from it is read after that change, and the event's
 * flush moves the version on (and, on the folder's own watch, forgets it). */
static void watch_job_done(void *arg)
{
    watch_job *j = arg;
    for (watch_job **at = &C.jobs; *at; at = &(*at)->next)
        if (*at == j) {
            *at = j->next;
            C.n_jobs--;
            break;
        }
    if (C.slots && C.ifd >= 0 && j->instance == C.instance) {
        if (j->max_wd > C.max_wd)
            C.max_wd = j->max_wd; /* watches it added to this instance, even if spoiled */
        if (!j->spoiled && j->rc == 0)
            dirs_remember(j->path, j->len, j->wd); /* what the next call (after a flush too) checks */
        /* Keyed by path: a flush since the start freed the entry it was asked
         * for (the one cached since then finds the folder remembered). */
        fs_file *e = !j->spoiled && j->flushes == C.flushes ? find(j->path, j->len, path_hash(j->path, j->len)) : NULL;
        if (e && !e->err && S_ISDIR(e->st.st_mode) && e->wd == j->wd && j->rc != -1)
            /* Never closely (-2): no new job for it until a flush (a name
             * going or coming may change that). */
            e->entries_watched = j->rc == 0 ? 1 : -1;
    }
    free(j);
}

/* Start the watching of e's entries on the pool (or find it started). 1: it
 * runs; 0: it could not start (no memory, too many at once): try on a later
 * call; -1: there is no pool (the caller watches on the loop). */
static int watch_job_start(const fs_file *e)
{
    for (watch_job *j = C.jobs; j; j = j->next)
        if (!j->spoiled && j->instance == C.instance && j->wd == e->wd && j->len == e->len &&
            memcmp(j->path, e->path, e->len) == 0)
            return 1; /* joined: one job per folder */
    if (e->wd < 0 || C.n_jobs >= MAX_WATCH_JOBS)
        return 0; /* spoiled ones still running count: a burst of changes queues no more */
    watch_job *j = malloc(sizeof *j + e->len + 1);
    if (!j)
        return 0;
    *j = (watch_job){.flushes = C.flushes, .instance = C.instance, .wd = e->wd, .len = e->len};
    memcpy(j->path, e->path, e->len + 1);
    j->ifd = fcntl(C.ifd, F_DUPFD_CLOEXEC, 0);
    if (j->ifd < 0) {
        free(j);
        return 0;
    }
    if (offload_submit(C.l, watch_job_run, j, watch_job_done, j) < 0) {
        close(j->ifd);
        free(j);
        return -1;
    }
    j->next = C.jobs;
    C.jobs = j;
    C.n_jobs++;
    return 1;
}

uint64_t fs_cache_dir_version(const char *path)
{
    struct stat st;
    fs_file *e;
    if (stat_entry(path, &st, &e) < 0 || !S_ISDIR(st.st_mode) || !e)
        return 0; /* not kept fresh (a symbolic link on the way, the cache full or off) */
    if (e->entries_watched)
        return e->entries_watched > 0 ? C.flushes + 1 : 0;
    if (dirs_remembered(e)) { /* watched before a flush that changed nothing here */
        e->entries_watched = 1;
        return C.flushes + 1;
    }
    /* No version until every entry is watched: the pool watches them, and a
     * call after the job is back (unless a name came in meanwhile) gets the
     * version. A change to an entry before its watch came is read by
     * whatever is built after the version is returned; one after it is an
     * event that flushes and moves the version on. */
    if (watch_job_start(e) >= 0)
        return 0;
    /* No pool: watch here. The version is taken before the entries are read:
     * a change from here on is an event that moves it on. */
    uint64_t version = C.flushes + 1;
    int rc = watch_entries(C.ifd, e->path, e->len, &C.max_wd);
    if (rc < 0) {
        e->entries_watched = rc == -2 ? -1 : 0;
        return 0;
    }
    e->entries_watched = 1;
    dirs_remember(e->path, e->len, e->wd);
    return version;
}

/* ---- open files ---- */

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mode == b->st_mode && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static fs_file *regular(fs_file *e)
{
    return e && !e->err && S_ISREG(e->st.st_mode) ? e : NULL;
}

static fs_file *find_file(const char *path)
{
    size_t len = strlen(path);
    if (!cacheable(path, len))
        return NULL;
    return regular(find(path, len, path_hash(path, len)));
}

/* path's entry, looked up as fs_cache_stat does (filled from the kernel on a
 * miss), when it is a regular file; NULL otherwise, with *missing set when
 * no such name exists: the cache's entry for ENOENT (as fresh as any other)
 * or, for a name it does not keep (the table full), the kernel's answer
 * just now, which an open would only repeat. A path the cache cannot hold
 * at all costs nothing here: no stat that the open after would repeat. */
static fs_file *own_file(const char *path, int *missing)
{
    *missing = 0;
    if (!cacheable(path, strlen(path)))
        return NULL;
    struct stat st;
    fs_file *e;
    if (stat_entry(path, &st, &e) == 0)
        return regular(e);
    *missing = errno == ENOENT;
    return NULL;
}

/* A reference for an fd the table does not keep: freed with its last release. */
static fs_file *loose_file(int fd)
{
    fs_file *e = calloc(1, sizeof *e + 1);
    if (!e)
        return NULL;
    e->fd = fd;
    e->refs = 1;
    e->detached = 1;
    C.n_open++; /* entry_free counts it out again */
    return e;
}

int fs_cache_open(const char *path, const struct stat *known, struct stat *st, fs_file **ref)
{
    /* Without a stat from the caller the cache vouches for the file itself:
     * its own entry, which inotify keeps as fresh as a routed request's. A
     * precompressed variant or auth_basic's user file then costs no open,
     * fstat and close per request once its fd is held (issue 21: the
     * br-pre-100k row). */
    int missing = 0;
    fs_file *e = known ? find_file(path) : own_file(path, &missing);
    if (missing) { /* no such name: an open would only fail alike */
        errno = ENOENT;
        return -1;
    }
    if (e && e->fd >= 0 && (!known || same_file(&e->st, known))) {
        e->refs++;
        *ref = e;
        *st = e->st;
        return e->fd;
    }
    int fd = file_open_read(path, st);
    if (fd < 0)
        return -1;
    /* Keep the fd only while it is the very file the cache describes. */
    if (e && e->fd < 0 && C.n_open < MAX_OPEN && same_file(&e->st, st)) {
        e->fd = fd;
        C.n_open++;
        e->refs++;
        *ref = e;
        return fd;
    }
    *ref = loose_file(fd);
    if (!*ref) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    return fd;
}

void fs_file_hold(fs_file *ref)
{
    ref->refs++;
}

void fs_file_release(void *ref)
{
    fs_file *e = ref;
    if (--e->refs == 0 && e->detached)
        entry_free(e);
}

void fs_cache_counters_get(fs_cache_counters *out)
{
    out->hits = C.hits;
    out->misses = C.misses;
    out->flushes = C.flushes;
    out->entries = C.n_entries;
    out->missing = C.n_missing;
    out->open_files = C.n_open;
    out->active = C.ifd >= 0;
}
