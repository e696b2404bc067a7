"""W14's check before wrk runs: every file is fetched from the server (GET,
twice on one keep-alive connection, and HEAD) and compared byte for byte
with the file on disk. Exit status 0 when every response is right.

Usage: w14_check.py PORT DIR NAME...
"""
import http.client
import os
import sys


def main():
    port, root, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    bad = []
    for name in names:
        with open(os.path.join(root, name), "rb") as f:
            want = f.read()
        for _ in range(2):
            conn.request("GET", "/" + name)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200 or body != want:
                bad.append(f"GET /{name}: {r.status}, {len(body)} bytes, "
                           f"{'same' if body == want else 'different'} content")
        conn.request("HEAD", "/" + name)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200 or body or r.getheader("Content-Length") != str(len(want)):
            bad.append(f"HEAD /{name}: {r.status}, Content-Length {r.getheader('Content-Length')}")
    conn.close()
    for b in bad:
        print(f"w14_check: port {port}: {b}", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
