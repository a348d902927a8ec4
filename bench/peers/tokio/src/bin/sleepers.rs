//! sleepers: scale, N tasks that each sleep 200 ms (issue 15; Tokio port of
//! weft's bench/sleepers.c).
//!
//!  1. rss0 = VmRSS (runtime up, nothing spawned); the handle Vec is
//!     allocated untimed.
//!  2. t0; spawn N tasks (spawn_secs); task i: sleep(200 ms), counter += 1
//!     (atomic).  The parent awaits the handles in order.  secs = t0 .. all
//!     joined (ideal: 0.2 s plus the spawns).
//!  3. peak = VmHWM after the joins.
//!
//! ns_per_op = secs / N (time per task); over_ns_per_task = (secs - 0.2 s)
//! / N; kib_per_task = (VmHWM - rss0) / N; minflt_per_task = minor page
//! faults (minflt()) from t0 to all joined, per task.  Check: counter == N.
//!
//! usage: sleepers <ct|mt> [N=100_000]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use weft_peers_tokio::{fail, minflt, secs_since, status_kib, Cli};

static COUNTER: AtomicU64 = AtomicU64::new(0);
const SLEEP: Duration = Duration::from_millis(200);

async fn body(n: u64) -> (f64, f64, u64, u64) {
    let mut handles = Vec::with_capacity(n as usize);
    let rss0 = status_kib("VmRSS");
    let f0 = minflt();
    let t0 = Instant::now();
    for _ in 0..n {
        handles.push(tokio::spawn(async {
            tokio::time::sleep(SLEEP).await;
            COUNTER.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let spawn_secs = secs_since(t0);
    for h in handles {
        h.await.unwrap();
    }
    let secs = secs_since(t0);
    (secs, spawn_secs, minflt() - f0, rss0)
}

fn main() {
    let cli = Cli::parse(100_000, &[]);
    let n = cli.n;
    let (secs, spawn_secs, flt, rss0) = cli.run(body(n));
    let counter = COUNTER.load(Ordering::Relaxed);
    if counter != n {
        fail(format_args!("counter = {counter}, expected {n}"));
    }
    let delta = status_kib("VmHWM").saturating_sub(rss0);
    cli.report(
        "sleepers",
        secs,
        n as f64,
        &format!(
            " over_ns_per_task={:.1} spawn_secs={spawn_secs:.6} kib_per_task={:.3} \
             minflt_per_task={:.3}",
            (secs - SLEEP.as_secs_f64()) * 1e9 / n as f64,
            delta as f64 / n as f64,
            flt as f64 / n as f64
        ),
    );
}
