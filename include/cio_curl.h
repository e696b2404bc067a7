/* cio-curl: libcurl transfers driven by the cio loop.
 *
 * Link with `pkg-config --libs cio-curl` (libcio-curl, libcurl, libcio).
 * Each loop gets one curl multi handle; curl's sockets are watched with the
 * loop's readiness callbacks (cio_add_reader / cio_add_writer) and its
 * timer is a loop timer (cio_call_later), driven by curl_multi_socket_action:
 * no polling, no extra thread. Hundreds of transfers run at once on one
 * loop, HTTP/2 streams share connections (libcurl's multiplexing is on by
 * default), and every protocol and option libcurl has (TLS, redirects,
 * proxies, compression, CURLOPT_TIMEOUT_MS...) works unchanged.
 *
 *     CURL *e = curl_easy_init();
 *     curl_easy_setopt(e, CURLOPT_URL, "https://example.org/");
 *     curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, my_sink);
 *     int r = cio_curl_perform(e);       // suspends this task only
 *     if (r < 0) printf("%s\n", cio_strerror(r));
 *     curl_easy_cleanup(e);
 *
 * The write/read/progress callbacks of the easy handle run on the loop's
 * thread, from a loop callback (not in the performing task): they must not
 * suspend (no cio_await, cio_sleep, or I/O that waits). */
#ifndef CIO_CURL_H
#define CIO_CURL_H

#include <cio.h>
#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CIO_ECURL is defined in cio.h: -(CIO_EBASE + 1000). */

/* In a task: runs the transfer of easy (set up by the caller, as for
   curl_easy_perform) on the running loop's multi handle, suspending only
   this task. Returns 0 when curl reports CURLE_OK (an HTTP 404 is a
   successful transfer: check CURLINFO_RESPONSE_CODE, or set
   CURLOPT_FAILONERROR), CIO_ECURL - code for a curl error (cio_strerror
   names it, e.g. "Couldn't connect to server", "Timeout was reached"),
   -ECANCELED when the task was cancelled (the transfer is removed from the
   multi handle before this returns: no callback of easy runs afterwards),
   -EPERM outside a task, -EINVAL for NULL, -EBUSY when easy is already
   being performed, -ENOMEM. easy stays the caller's; it may be performed
   again or cleaned up once this returns. */
CIO_API int cio_curl_perform(CURL *easy);

#ifdef __cplusplus
}
#endif

#endif
