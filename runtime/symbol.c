/* The name of a function from its address, for default task names (as asyncio
 * shows a task's coroutine). dladdr knows only exported symbols, and a
 * program's own functions (static ones, or any without -rdynamic) are not
 * exported: those are looked up in the object's .symtab, read from its file.
 * Nothing is cached or allocated, so the overflow reporter may call it from
 * its signal handler; a stripped binary just yields no name. */
#include "symbol.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void copy_name(char *buf, size_t cap, const char *name) {
    size_t n = strnlen(name, cap - 1);
    memcpy(buf, name, n);
    buf[n] = 0;
}

/* Finds the STT_FUNC symbol whose value is exactly vaddr in an ELF image. */
static bool find_in_symtab(const char *img, size_t len, uintptr_t vaddr, char *buf, size_t cap) {
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
    if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr)) ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > len)
        return false;
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(img + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
            continue;
        const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > len || strs->sh_offset + strs->sh_size > len)
            return false;
        const ElfW(Sym) *sym = (const ElfW(Sym) *)(img + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof *sym;
        for (size_t k = 0; k < n; k++) {
            if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || sym[k].st_value != vaddr ||
                sym[k].st_name >= strs->sh_size)
                continue;
            const char *name = img + strs->sh_offset + sym[k].st_name;
            size_t room = strs->sh_size - sym[k].st_name;
            if (strnlen(name, room) == room)
                return false; /* not terminated: not a name */
            copy_name(buf, cap, name);
            return buf[0] != 0;
        }
    }
    return false;
}

/* map->l_addr is the load bias: symbol values are addresses minus it. */
static bool from_file(const struct link_map *map, uintptr_t addr, char *buf, size_t cap) {
    /* The main program's map has an empty name. */
    const char *path = map->l_name && map->l_name[0] ? map->l_name : "/proc/self/exe";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool found = false;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(ElfW(Ehdr))) {
        size_t len = (size_t)st.st_size;
        const char *img = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (img != MAP_FAILED) {
            const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
            if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
                eh->e_ident[EI_CLASS] == (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32))
                found = find_in_symtab(img, len, addr - map->l_addr, buf, cap);
            munmap((void *)img, len);
        }
    }
    close(fd);
    return found;
}

bool cio__symbol_name(const void *addr, char *buf, size_t cap) {
    if (!addr || !buf || cap < 2)
        return false;
    buf[0] = 0;
    Dl_info info;
    struct link_map *map = NULL;
    if (!dladdr1(addr, &info, (void **)&map, RTLD_DL_LINKMAP) || !map)
        return false;
    if (info.dli_sname && info.dli_saddr == addr) {
        copy_name(buf, cap, info.dli_sname);
        return true;
    }
    return from_file(map, (uintptr_t)addr, buf, cap);
}
