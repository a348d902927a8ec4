//! worker_pool: a feeder task sends N jobs over one job channel that 8
//! worker tasks share; each worker does the job and sends its result over
//! one result channel (`mpsc::channel(128)`, a sender per worker) to the
//! collector (the root task).
//!
//!   job j (0 <= j < N): x = j + 1; 20 times { x ^= x << 13; x ^= x >> 7;
//!                       x ^= x << 17 } (xorshift64); the result is x
//!   feeder:    sends 0..N-1 in order on the job channel, drops its sender
//!   worker:    until the job channel is closed and drained: take a job,
//!              send its result; then drop its result sender, return its
//!              count
//!   collector: receives until the result channel is closed (every worker
//!              gone), adding the results (mod 2^64) and counting them
//!
//! Both channels are bounded, capacity 128, as in every port.  The workers
//! are a `JoinSet`.  Timed from just before the workers are spawned (then
//! the feeder) until every worker is joined; ops = N jobs.  Check:
//! count == N, sum == the sum of the N results computed again afterwards,
//! the workers' counts add up to N.  jobs_min/jobs_max: the fewest and most
//! jobs one worker did.
//!
//! Variants, how the workers share the job channel:
//!   clone  `async_channel::bounded(128)`, a `Receiver` clone per worker
//!          (MPMC, as Go's chan and weft's cloned receivers)
//!   mutex  `Arc<tokio::sync::Mutex<mpsc::Receiver>>` of `mpsc::channel(128)`,
//!          the lock held while a worker waits in `recv` (the Rust book's
//!          worker pool)
//!
//! usage: worker_pool <ct|mt> [N=10_000] [clone|mutex]
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use weft_peers_tokio::{fail, secs_since, Cli};

const WORKERS: usize = 8;
const CAPACITY: usize = 128;
const JOB_ROUNDS: usize = 20;

/// `JOB_ROUNDS` steps of Marsaglia's xorshift64 (13/7/17) from j + 1.
fn job(j: u64) -> u64 {
    let mut x = j + 1;
    for _ in 0..JOB_ROUNDS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// The job channel's receiving side, as a worker sees it.
#[derive(Clone)]
enum Jobs {
    Clone(async_channel::Receiver<u64>),
    Mutex(Arc<Mutex<mpsc::Receiver<u64>>>),
}

impl Jobs {
    async fn take(&self) -> Option<u64> {
        match self {
            Jobs::Clone(rx) => rx.recv().await.ok(),
            Jobs::Mutex(rx) => rx.lock().await.recv().await,
        }
    }
}

async fn pool(n: u64, mutex: bool) -> (f64, u64, u64, Vec<u64>) {
    let (res_tx, mut res_rx) = mpsc::channel::<u64>(CAPACITY);
    let (jobs, feeder) = if mutex {
        let (tx, rx) = mpsc::channel::<u64>(CAPACITY);
        let feed = async move {
            for j in 0..n {
                if tx.send(j).await.is_err() {
                    fail(format_args!("workers gone"));
                }
            }
        };
        (
            Jobs::Mutex(Arc::new(Mutex::new(rx))),
            Box::pin(feed) as Feed,
        )
    } else {
        let (tx, rx) = async_channel::bounded::<u64>(CAPACITY);
        let feed = async move {
            for j in 0..n {
                if tx.send(j).await.is_err() {
                    fail(format_args!("workers gone"));
                }
            }
        };
        (Jobs::Clone(rx), Box::pin(feed) as Feed)
    };

    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..WORKERS {
        let jobs = jobs.clone();
        let res_tx = res_tx.clone();
        set.spawn(async move {
            let mut done = 0u64;
            while let Some(j) = jobs.take().await {
                if res_tx.send(job(j)).await.is_err() {
                    fail(format_args!("collector gone"));
                }
                done += 1;
            }
            done
        });
    }
    drop(jobs); // only the workers hold the job receiver now
    drop(res_tx); // and the result senders
    let feeder = tokio::spawn(feeder);
    let (mut sum, mut count) = (0u64, 0u64);
    while let Some(r) = res_rx.recv().await {
        sum = sum.wrapping_add(r);
        count += 1;
    }
    let mut done = Vec::with_capacity(WORKERS);
    while let Some(d) = set.join_next().await {
        done.push(d.unwrap());
    }
    let secs = secs_since(t0);
    feeder.await.unwrap();
    (secs, sum, count, done)
}

/// The feeder's future, boxed (the two channels' futures differ in type).
type Feed = Pin<Box<dyn Future<Output = ()> + Send>>;

fn main() {
    let cli = Cli::parse(10_000, &["clone", "mutex"]);
    let n = cli.n;
    let (secs, sum, count, done) = cli.run(pool(n, cli.variant == "mutex"));
    let want = (0..n).fold(0u64, |s, j| s.wrapping_add(job(j)));
    let total: u64 = done.iter().sum();
    if count != n || sum != want || total != n {
        fail(format_args!(
            "count = {count} sum = {sum} jobs = {total}, expected {n}, {want} and {n}"
        ));
    }
    cli.report(
        "worker_pool",
        secs,
        n as f64,
        &format!(
            " variant={} workers={} jobs_min={} jobs_max={}",
            cli.variant,
            WORKERS,
            done.iter().min().unwrap(),
            done.iter().max().unwrap()
        ),
    );
}
