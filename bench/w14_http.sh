# W14 for bench/run.sh (sourced): wrk -t1 -c50 on 127.0.0.1 against
# examples/http_server (on each cio backend) and nginx (worker_processes 1,
# sendfile on, access_log off, keep-alive without a request limit, as cio's
# server) serving 12 B, 4 KiB and 64 KiB files. Figures per size: requests/s
# and wrk's p99 latency in ms. Before wrk runs, every server's responses are
# fetched and compared byte for byte with the files (bench/w14_check.py), and
# a wrk run with non-2xx responses or socket errors counts as failed.

w14_sizes=(12 4096 65536)
w14_names=(12B 4KiB 64KiB)

w14_figs() {
    local n figs=
    for n in "${w14_names[@]}"; do figs+="W14-$n-rps,W14-$n-p99,"; done
    echo "${figs%,}"
}

# The served directory and nginx's configuration, made once per run.
w14_setup() {
    [ -d "$work/w14/www" ] && return 0
    mkdir -p "$work/w14/www" "$work/w14/nginx"
    chmod 755 "$work" "$work/w14" "$work/w14/www"
    local i
    for i in "${!w14_sizes[@]}"; do
        head -c "${w14_sizes[$i]}" /dev/urandom >"$work/w14/www/${w14_names[$i]}"
    done
    chmod 644 "$work/w14/www"/*
}

w14_free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

w14_wait_port() { # port
    local i
    for i in $(seq 200); do
        "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# One wrk run: RESULT lines for impl, or FAILED lines.
w14_wrk() { # impl port name
    local impl=$1 port=$2 name=$3 dur=5 o=$work/w14/wrk.out
    [ "$quick" = 1 ] && dur=1
    echo "== round $round: $impl W14 $name (wrk -t1 -c50 -d${dur}s)" >&2
    if ! timeout 60 wrk -t1 -c50 -d${dur}s --latency "http://127.0.0.1:$port/$name" >"$o" 2>&1; then
        echo "FAILED W14-$name-rps $impl round $round: wrk exited $?" >>"$raw"
        return
    fi
    local bad
    bad=$(grep -E 'Non-2xx|Socket errors' "$o" | tr -s ' ' | tr '\n' ';')
    if [ -n "$bad" ]; then
        echo "!! $impl W14 $name: $bad" >&2
        echo "FAILED W14-$name-rps $impl round $round: $bad" >>"$raw"
        return
    fi
    awk -v impl="$impl" -v name="$name" '
        $1 == "Requests/sec:" { rps = $2 }
        $1 == "99%" {
            v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            p99 = u == "us" ? v / 1000 : u == "s" ? v * 1000 : v
        }
        END {
            if (rps == "" || p99 == "") exit 1
            printf "RESULT W14-%s-rps %s %s req/s\n", name, impl, rps
            printf "RESULT W14-%s-p99 %s %.6g ms\n", name, impl, p99
        }' "$o" >>"$raw" || echo "FAILED W14-$name-rps $impl round $round: no figures in wrk's output" >>"$raw"
}

w14_serve_and_measure() { # impl port pid
    local impl=$1 port=$2 pid=$3 i
    if ! w14_wait_port "$port"; then
        echo "FAILED W14-12B-rps $impl round $round: the server did not listen" >>"$raw"
        return
    fi
    if ! "$py" "$here/w14_check.py" "$port" "$work/w14/www" "${w14_names[@]}"; then
        local f
        for f in $(w14_figs | tr , ' '); do
            echo "FAILED $f $impl round $round: wrong responses (w14_check.py)" >>"$raw"
        done
        return
    fi
    for i in "${w14_names[@]}"; do w14_wrk "$impl" "$port" "$i"; done
}

w14_cio() { # backend
    local b=$1 srv=$build/examples/http_server
    if [ ! -x "$srv" ]; then
        skip "$(w14_figs)" "cio-$b" "$srv is not built"
        return
    fi
    local log=$work/w14/cio.out port
    CIO_BACKEND=$b "$srv" -b 127.0.0.1 -p 0 "$work/w14/www" >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log" | head -1)
        [ -n "$port" ] && break
        sleep 0.05
    done
    w14_serve_and_measure "cio-$b" "${port:-0}" "$pid"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

w14_nginx() {
    local nginx=/usr/sbin/nginx
    if [ ! -x "$nginx" ]; then
        skip "$(w14_figs)" nginx "no $nginx (Debian: nginx-light)"
        return
    fi
    local d=$work/w14/nginx port
    port=$(w14_free_port)
    cat >"$d/nginx.conf" <<NGINX
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $d; proxy_temp_path $d; fastcgi_temp_path $d;
    uwsgi_temp_path $d; scgi_temp_path $d;
    server { listen 127.0.0.1:$port; root $work/w14/www; }
}
NGINX
    "$nginx" -c "$d/nginx.conf" -p "$d" -g 'daemon off;' 2>>"$d/error.log" &
    local pid=$!
    w14_serve_and_measure nginx "$port" "$pid"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

row_W14() {
    if ! command -v wrk >/dev/null; then
        skip "$(w14_figs)" all "wrk is not installed (Debian: wrk)"
        return
    fi
    w14_setup
    local b
    for b in "${backends[@]}"; do w14_cio "$b"; done
    w14_nginx
}
