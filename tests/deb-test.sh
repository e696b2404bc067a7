#!/usr/bin/env bash
# The packages of `make deb` install and link (make deb-test):
#   - libcio0 and libcio-dev unpack (dpkg -x) into a temporary root;
#   - a program builds against that root with pkg-config alone
#     (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR point into it), runs with
#     the packaged libcio.so.0 (ldd shows that one), and prints what it must;
#   - the static library links too (pkg-config --static);
#   - the packaged man page of cio_run renders.
#
#   tests/deb-test.sh DEB_DIR     (DEB_DIR holds libcio0_*.deb, libcio-dev_*.deb)
set -euo pipefail

dir=${1:?usage: deb-test.sh DEB_DIR}
for p in libcio0 libcio-dev; do
    if ! ls "$dir"/${p}_*.deb >/dev/null 2>&1; then
        echo "deb-test: no $dir/${p}_*.deb (run make deb first)" >&2
        exit 1
    fi
done
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
for deb in "$dir"/libcio0_*.deb "$dir"/libcio-dev_*.deb; do
    dpkg -x "$deb" "$root/sysroot"
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=/usr/lib/$multiarch
export PKG_CONFIG_PATH=$root/sysroot$libdir/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$root/sysroot
export PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH # only the packages' .pc files

cat >"$root/prog.c" <<'C'
#include <cio.h>
#include <stdint.h>
#include <stdio.h>

static void *twice(void *arg) {
    cio_sleep(0.01);
    return (void *)((intptr_t)arg * 2);
}

static void *main_task(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(twice, (void *)21);
    void *r = NULL;
    int e = t ? cio_await(t, &r) : -1;
    printf("%d %ld\n", e, (long)(intptr_t)r);
    cio_future_unref(t);
    return NULL;
}

int main(void) {
    return cio_run(main_task, NULL, NULL) < 0;
}
C

cflags=$(pkg-config --cflags cio)
libs=$(pkg-config --libs cio)
case "$cflags $libs" in
*"$root/sysroot"*) ;;
*) echo "deb-test: pkg-config does not point into the unpacked root: $cflags $libs" >&2; exit 1 ;;
esac
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror $cflags -o "$root/prog" "$root/prog.c" $libs
export LD_LIBRARY_PATH=$root/sysroot$libdir
used=$(ldd "$root/prog" | awk '$1 == "libcio.so.0" { print $3 }')
if [ "$used" != "$root/sysroot$libdir/libcio.so.0" ]; then
    echo "deb-test: the program does not use the packaged libcio.so.0 (ldd: $used)" >&2
    exit 1
fi
out=$("$root/prog")
[ "$out" = "0 42" ] || { echo "deb-test: dynamic program printed '$out', not '0 42'" >&2; exit 1; }

# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror $cflags -o "$root/prog-static" "$root/prog.c" \
    "$root/sysroot$libdir/libcio.a" $(pkg-config --static --libs-only-l cio | sed 's/-lcio\b//')
if ldd "$root/prog-static" | grep -q libcio; then
    echo "deb-test: the static program links libcio.so" >&2
    exit 1
fi
out=$(env -u LD_LIBRARY_PATH "$root/prog-static")
[ "$out" = "0 42" ] || { echo "deb-test: static program printed '$out', not '0 42'" >&2; exit 1; }

page=$root/sysroot/usr/share/man/man3/cio_run.3.gz
[ -f "$page" ] || { echo "deb-test: no $page in libcio-dev" >&2; exit 1; }
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$page" 2>&1 | grep -q "int cio_run(cio_fn main, void \*arg, void \*\*result);" ||
        { echo "deb-test: man -l $page does not show cio_run's synopsis" >&2; exit 1; }
fi
echo "deb-test: libcio0 and libcio-dev unpack, a program builds with pkg-config and runs (shared and static), cio_run(3) is there"
