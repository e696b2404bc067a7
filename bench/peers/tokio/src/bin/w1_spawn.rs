//! W1 on Tokio's current-thread runtime: 1,000,000 spawned tasks that each
//! return their index, awaited in batches of 10,000 (their JoinHandles in
//! order, as gather does). Prints the same RESULT line as bench/w1_spawn.c.
use std::time::Instant;

const BATCH: u64 = 10_000;

fn main() {
    let quick = std::env::args().any(|a| a == "-q");
    let n: u64 = if quick { 100_000 } else { 1_000_000 };
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let sum = rt.block_on(async move {
        let mut sum = 0u64;
        let mut handles = Vec::with_capacity(BATCH as usize);
        let mut done = 0;
        while done < n {
            for i in 0..BATCH {
                handles.push(tokio::spawn(async move { done + i }));
            }
            for h in handles.drain(..) {
                sum += h.await.expect("task");
            }
            done += BATCH;
        }
        sum
    });
    let dt = t0.elapsed().as_secs_f64();
    assert_eq!(sum, n * (n - 1) / 2, "wrong result");
    println!("RESULT W1 tokio {:.6e} tasks/s", n as f64 / dt);
}
