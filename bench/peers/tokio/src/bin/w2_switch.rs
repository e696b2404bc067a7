//! W2 on Tokio's current-thread runtime: two tasks each yield 1,000,000 times
//! (tokio::task::yield_now), and they must alternate. Same RESULT line as
//! bench/w2_switch.c.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

async fn yielder(id: u64, n: u64, last: Arc<AtomicU64>, errors: Arc<AtomicU64>) {
    for i in 0..n {
        if i > 0 && last.load(Ordering::Relaxed) == id {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        last.store(id, Ordering::Relaxed);
        tokio::task::yield_now().await;
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "-q");
    let n: u64 = if quick { 100_000 } else { 1_000_000 };
    let last = Arc::new(AtomicU64::new(u64::MAX));
    let errors = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let (l, e) = (last.clone(), errors.clone());
    rt.block_on(async move {
        let a = tokio::spawn(yielder(0, n, l.clone(), e.clone()));
        let b = tokio::spawn(yielder(1, n, l, e));
        a.await.expect("task a");
        b.await.expect("task b");
    });
    let dt = t0.elapsed().as_secs_f64();
    let errs = errors.load(Ordering::Relaxed);
    assert_eq!(errs, 0, "the two tasks did not alternate ({} times)", errs);
    println!("RESULT W2 tokio {:.6e} yields/s", 2.0 * n as f64 / dt);
}
