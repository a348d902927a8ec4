//! idle_tasks: what a parked task costs in memory.
//!
//!  1. rss0 = VmRSS (runtime up, nothing spawned).
//!  2. t0; for i < N: oneshot channel i, task i (parked += 1, then await
//!     the receiver, return the value); the parent keeps sender i and
//!     JoinHandle i in Vecs allocated here.
//!  3. Wait until parked == N (1 ms sleeps), then 50 ms more (untimed).
//!  4. rss1 = VmRSS; kib_per_task = (rss1 - rss0) / N.
//!  5. t1; send i on channel i; await the handles in order.
//!     Check: sum == N(N-1)/2.
//!
//! secs = spawn_secs + wake_secs; ops = N.
//! minflt_per_parked: minor page faults (minflt()) from step 2 to step 4,
//! per task; minflt_per_wake: those of step 5, per task.
//!
//! usage: idle_tasks <ct|mt> [N=100_000]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use weft_peers_tokio::{fail, minflt, secs_since, status_kib, Cli};

static PARKED: AtomicU64 = AtomicU64::new(0);

struct Out {
    rss0: u64,
    rss1: u64,
    spawn_secs: f64,
    wake_secs: f64,
    sum: u64,
    parked_flt: u64,
    wake_flt: u64,
}

async fn body(n: u64) -> Out {
    let rss0 = status_kib("VmRSS");
    let f0 = minflt();
    let t0 = Instant::now();
    let mut senders = Vec::with_capacity(n as usize);
    let mut handles = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (tx, rx) = oneshot::channel::<u64>();
        senders.push(tx);
        handles.push(tokio::spawn(async move {
            PARKED.fetch_add(1, Ordering::Relaxed);
            match rx.await {
                Ok(v) => v,
                Err(_) => fail(format_args!("channel closed without a value")),
            }
        }));
    }
    let spawn_secs = secs_since(t0);

    while PARKED.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rss1 = status_kib("VmRSS");
    let f1 = minflt();

    let t1 = Instant::now();
    for (i, tx) in senders.into_iter().enumerate() {
        if tx.send(i as u64).is_err() {
            fail(format_args!("task {i} gone"));
        }
    }
    let mut sum = 0u64;
    for h in handles {
        sum += h.await.unwrap();
    }
    let wake_secs = secs_since(t1);
    Out {
        rss0,
        rss1,
        spawn_secs,
        wake_secs,
        sum,
        parked_flt: f1 - f0,
        wake_flt: minflt() - f1,
    }
}

fn main() {
    let cli = Cli::parse(100_000, &[]);
    let n = cli.n;
    let o = cli.run(body(n));
    let want = n * (n - 1) / 2;
    if o.sum != want {
        fail(format_args!("sum = {}, expected {want}", o.sum));
    }
    let delta = o.rss1.saturating_sub(o.rss0);
    cli.report(
        "idle_tasks",
        o.spawn_secs + o.wake_secs,
        n as f64,
        &format!(
            " kib_per_task={:.3} rss_before_kib={} rss_parked_kib={} spawn_secs={:.6} wake_secs={:.6} \
             minflt_per_parked={:.3} minflt_per_wake={:.3}",
            delta as f64 / n as f64,
            o.rss0,
            o.rss1,
            o.spawn_secs,
            o.wake_secs,
            o.parked_flt as f64 / n as f64,
            o.wake_flt as f64 / n as f64
        ),
    );
}
