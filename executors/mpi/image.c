/* The program image: a function pointer crosses between ranks as its offset
 * from the executable's load address, valid because every rank runs the same
 * binary (checked at start with a hash of the file). Only functions of the
 * executable itself qualify: a shared library may load elsewhere. */
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_SEGS 8

static struct {
    uintptr_t base; /* load bias */
    unsigned nsegs;
    uintptr_t lo[MAX_SEGS], hi[MAX_SEGS]; /* executable PT_LOAD ranges, absolute */
} image;

/* The first object dl_iterate_phdr reports is the executable. */
static int find_exe(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    bool *found = data;
    image.base = (uintptr_t)info->dlpi_addr;
    for (unsigned i = 0; i < info->dlpi_phnum && image.nsegs < MAX_SEGS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        image.lo[image.nsegs] = image.base + ph->p_vaddr;
        image.hi[image.nsegs] = image.base + ph->p_vaddr + ph->p_memsz;
        image.nsegs++;
    }
    *found = true;
    return 1;
}

int cio__mpi_image_init(void) {
    bool found = false;
    image.nsegs = 0;
    dl_iterate_phdr(find_exe, &found);
    return found && image.nsegs ? 0 : -ENOENT;
}

static bool in_code(uintptr_t a) {
    for (unsigned i = 0; i < image.nsegs; i++)
        if (a >= image.lo[i] && a < image.hi[i])
            return true;
    return false;
}

int cio__mpi_image_offset(const void *fn, uint64_t *off) {
    uintptr_t a = (uintptr_t)fn;
    if (!in_code(a))
        return -EINVAL;
    *off = (uint64_t)(a - image.base);
    return 0;
}

void *cio__mpi_image_fn(uint64_t off) {
    uintptr_t a = image.base + (uintptr_t)off;
    return in_code(a) ? (void *)a : NULL;
}

/* FNV-1a over 8-byte words (the tail zero-padded), then the length. */
static uint64_t mix(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        for (size_t k = 0; k < 8 && i + k < n; k++)
            w |= (uint64_t)p[i + k] << (8 * k);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    return h;
}

/* Fills buf unless the file ends first: whole buffers only, so that word
 * boundaries (and thus the hash) never depend on how reads split. */
static ssize_t read_full(int fd, unsigned char *buf, size_t cap) {
    size_t have = 0;
    while (have < cap) {
        ssize_t n = read(fd, buf + have, cap - have);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        have += (size_t)n;
    }
    return (ssize_t)have;
}

int cio__mpi_image_hash(uint64_t *hash) {
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 1 << 20, total = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    uint64_t h = 0xcbf29ce484222325ULL;
    ssize_t n;
    while ((n = read_full(fd, buf, cap)) > 0) {
        h = mix(h, buf, (size_t)n);
        total += (size_t)n;
        if ((size_t)n < cap)
            break;
    }
    free(buf);
    close(fd);
    if (n < 0)
        return (int)n;
    *hash = (h ^ (uint64_t)total) * 0x100000001b3ULL;
    return 0;
}
