/* Function names for messages (see symbol.h). dladdr knows only exported
 * symbols; a program's static functions sit in its .symtab, read here from
 * the file the address belongs to. */
#include "symbol.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct found {
    const char *name;
    uintptr_t value;
} found;

/* The STT_FUNC symbol of the mapped ELF image `elf` whose range holds rel. */
static found search_symtab(const char *elf, size_t len, uintptr_t rel) {
    found best = {0};
    const ElfW(Ehdr) *eh = (const void *)elf;
    if (len < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > len)
        return best;
    const ElfW(Shdr) *sh = (const void *)(elf + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum ||
            sh[i].sh_offset + sh[i].sh_size > len)
            continue;
        const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
        const ElfW(Sym) *sym = (const void *)(elf + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof *sym;
        for (size_t k = 0; k < n; k++) {
            const ElfW(Sym) *s = &sym[k];
            if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_value > rel ||
                rel >= s->st_value + (s->st_size ? s->st_size : 1) || s->st_name >= strs->sh_size ||
                strs->sh_offset + strs->sh_size > len)
                continue;
            best = (found){elf + strs->sh_offset + s->st_name, s->st_value};
        }
    }
    return best;
}

static int from_file(const char *path, uintptr_t rel, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    void *map = fstat(fd, &st) == 0 && st.st_size > 0
                    ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
                    : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED)
        return -1;
    found f = search_symtab(map, (size_t)st.st_size, rel);
    int r = -1;
    if (f.name) {
        uintptr_t off = rel - f.value;
        if (off)
            snprintf(buf, cap, "%s+0x%zx", f.name, (size_t)off);
        else
            snprintf(buf, cap, "%s", f.name);
        r = 0;
    }
    munmap(map, (size_t)st.st_size);
    return r;
}

const char *cio__symbol_name(const void *addr, char *buf, size_t cap) {
    Dl_info info = {0};
    int known = dladdr(addr, &info);
    if (known && info.dli_sname && info.dli_saddr) {
        uintptr_t off = (uintptr_t)addr - (uintptr_t)info.dli_saddr;
        if (off)
            snprintf(buf, cap, "%s+0x%zx", info.dli_sname, (size_t)off);
        else
            snprintf(buf, cap, "%s", info.dli_sname);
        return buf;
    }
    if (known && info.dli_fname && info.dli_fbase) {
        /* A PIE or a library is loaded at dli_fbase; a fixed executable at 0. */
        const ElfW(Ehdr) *eh = info.dli_fbase;
        uintptr_t base = eh->e_type == ET_DYN ? (uintptr_t)info.dli_fbase : 0;
        const char *path = info.dli_fname[0] ? info.dli_fname : "/proc/self/exe";
        if (strchr(path, '/') == NULL)
            path = "/proc/self/exe"; /* the program itself, named by argv[0] */
        if (from_file(path, (uintptr_t)addr - base, buf, cap) == 0)
            return buf;
    }
    snprintf(buf, cap, "%p", addr);
    return buf;
}
