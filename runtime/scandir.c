/* Directory listing on the default executor: getdents64 in big batches (one
 * syscall per ~1,000 entries rather than readdir's per-32 KiB libc buffer),
 * the type from d_type, and statx only for the entries whose file system
 * does not say (DT_UNKNOWN). Names live in one growing arena. */
#include "fsjob.h"
#include "vec.h"

#include "cio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { DENTS_BUF = 256 * 1024 };

struct linux_dirent64 {
    ino64_t d_ino;
    off64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

typedef struct listing {
    const char *path;
    cio_dirent *ents;
    size_t n, cap;
    char *names; /* arena: the entries point into it once it stops moving */
    size_t nlen, ncap;
} listing;

static unsigned char type_of_mode(mode_t m) {
    return S_ISREG(m)    ? DT_REG
           : S_ISDIR(m)  ? DT_DIR
           : S_ISLNK(m)  ? DT_LNK
           : S_ISFIFO(m) ? DT_FIFO
           : S_ISSOCK(m) ? DT_SOCK
           : S_ISCHR(m)  ? DT_CHR
           : S_ISBLK(m)  ? DT_BLK
                         : DT_UNKNOWN;
}

static int add(listing *l, int dfd, const struct linux_dirent64 *d) {
    size_t len = strlen(d->d_name);
    if (cio__vec_reserve(l->ents, &l->cap, l->n + 1, 256) < 0 ||
        cio__vec_reserve(l->names, &l->ncap, l->nlen + len + 1, 16384) < 0)
        return -ENOMEM;
    unsigned char type = d->d_type;
    if (type == DT_UNKNOWN) {
        struct statx st;
        if (statx(dfd, d->d_name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &st) == 0)
            type = type_of_mode(st.stx_mode);
    }
    memcpy(l->names + l->nlen, d->d_name, len + 1);
    /* name holds the offset until the arena is final */
    l->ents[l->n++] = (cio_dirent){.name = (char *)(uintptr_t)l->nlen, .type = type};
    l->nlen += len + 1;
    return 0;
}

static long list(cio__fsjob *job, void *v) {
    listing *l = v;
    int dfd = open(l->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    char *buf = malloc(DENTS_BUF);
    long r = buf ? 0 : -ENOMEM;
    while (r == 0) {
        long n = syscall(SYS_getdents64, dfd, buf, DENTS_BUF);
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break;
        }
        for (long off = 0; off < n && r == 0;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            const char *s = d->d_name;
            if (s[0] == '.' && (!s[1] || (s[1] == '.' && !s[2])))
                continue;
            r = add(l, dfd, d);
        }
        if (r == 0 && cio__fsjob_stopped(job)) /* once per batch of thousands */
            r = -ECANCELED;
    }
    free(buf);
    close(dfd);
    return r;
}

void cio_scandir_free(cio_dirent *entries, size_t n) {
    (void)n;
    if (entries)
        free(entries);
}

/* One block: the entries, then the names. */
static int finish(listing *l, cio_dirent **out, size_t *n) {
    size_t head = l->n * sizeof(cio_dirent);
    cio_dirent *block = malloc(head + l->nlen + 1);
    if (!block)
        return -ENOMEM;
    char *names = (char *)block + head;
    memcpy(names, l->names ? l->names : "", l->nlen);
    for (size_t i = 0; i < l->n; i++)
        block[i] =
            (cio_dirent){.name = names + (uintptr_t)l->ents[i].name, .type = l->ents[i].type};
    *out = block;
    *n = l->n;
    return 0;
}

ssize_t cio_scandir(const char *path, cio_dirent **entries, size_t *n) {
    if (!path || !entries || !n)
        return -EINVAL;
    *entries = NULL;
    *n = 0;
    listing l = {.path = path};
    long r = cio__fsjob_run(__func__, list, &l);
    if (r == 0)
        r = finish(&l, entries, n);
    free(l.ents);
    free(l.names);
    return r < 0 ? r : (ssize_t)*n;
}
