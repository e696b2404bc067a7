//! The Tokio echo server of W9 and W11 (current-thread runtime): one task
//! per connection, tokio::io::copy from the read half to the write half
//! (Tokio's own echo idiom), TCP_NODELAY like the other servers. Prints its
//! port on stdout, then serves until killed; bench/w9_echo and
//! bench/w11_idle measure it with the same client as every other server.
use std::io::Write;
use tokio::net::TcpSocket;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sock = TcpSocket::new_v4().expect("socket");
        sock.set_reuseaddr(true).expect("reuseaddr");
        sock.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        let listener = sock.listen(4096).expect("listen");
        let port = listener.local_addr().expect("local_addr").port();
        println!("{}", port);
        std::io::stdout().flush().expect("flush");
        loop {
            let mut conn = match listener.accept().await {
                Ok((c, _)) => c,
                Err(_) => continue,
            };
            let _ = conn.set_nodelay(true);
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
}
