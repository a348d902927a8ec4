//! spawn_join: spawn N tasks that each return their index, then await the
//! JoinHandles in index order and sum the results.
//!
//! The handle Vec is allocated before timing; t0; N spawns (spawn_secs);
//! N awaits in order; secs = total, join_secs = the rest.  ops = N.
//! Check: sum == N(N-1)/2.  minflt_per_task: minor page faults (minflt())
//! from t0 to the last await, per task; spawn_minflt_per_task: those of the
//! spawns alone.
//!
//! usage: spawn_join <ct|mt> [N=1_000_000]
use std::time::Instant;
use weft_peers_tokio::{fail, minflt, secs_since, Cli};

async fn body(n: u64) -> (f64, f64, u64, u64, u64) {
    let mut handles = Vec::with_capacity(n as usize);
    let f0 = minflt();
    let t0 = Instant::now();
    for i in 0..n {
        handles.push(tokio::spawn(async move { i }));
    }
    let spawn_secs = secs_since(t0);
    let f1 = minflt();
    let mut sum = 0u64;
    for h in handles {
        sum += h.await.unwrap();
    }
    let secs = secs_since(t0);
    (secs, spawn_secs, sum, minflt() - f0, f1 - f0)
}

fn main() {
    let cli = Cli::parse(1_000_000, &[]);
    let n = cli.n;
    let (secs, spawn_secs, sum, flt, spawn_flt) = cli.run(body(n));
    let want = n * (n - 1) / 2;
    if sum != want {
        fail(format_args!("sum = {sum}, expected {want}"));
    }
    cli.report(
        "spawn_join",
        secs,
        n as f64,
        &format!(
            " spawn_secs={spawn_secs:.6} join_secs={:.6} minflt_per_task={:.3} \
             spawn_minflt_per_task={:.3}",
            secs - spawn_secs,
            flt as f64 / n as f64,
            spawn_flt as f64 / n as f64
        ),
    );
}
