//! chan_throughput: P producer tasks send 0..N-1 over one mpsc channel of
//! u64 to one consumer task, which sums and counts until every sender is
//! gone.
//!
//! Producer k sends k*(N/P) .. (k+1)*(N/P)-1 in order (the last one also the
//! remainder up to N-1), then drops its sender.  Timed from just before the
//! consumer is spawned (first, then the producers) until it is joined.
//! ops = N; msgs_per_sec = N / secs.  Check: count == N, sum == N(N-1)/2.
//! Variants: 1p, 4p (`unbounded_channel`) and 1p-b1024, 4p-b1024
//! (`channel(1024)`).
//!
//! usage: chan_throughput <ct|mt> [N=10_000_000] [1p|4p|1p-b1024|4p-b1024]
use std::ops::Range;
use std::time::Instant;
use tokio::sync::mpsc;
use weft_peers_tokio::{fail, secs_since, Cli};

/// The value ranges of `p` producers.
fn shares(n: u64, p: u64) -> Vec<Range<u64>> {
    let share = n / p;
    (0..p)
        .map(|k| k * share..if k + 1 == p { n } else { (k + 1) * share })
        .collect()
}

async fn unbounded(n: u64, p: u64) -> (f64, u64, u64) {
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    let t0 = Instant::now();
    let consumer = tokio::spawn(async move {
        let (mut sum, mut count) = (0u64, 0u64);
        while let Some(v) = rx.recv().await {
            sum += v;
            count += 1;
        }
        (sum, count)
    });
    let producers: Vec<_> = shares(n, p)
        .into_iter()
        .map(|r| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for v in r {
                    if tx.send(v).is_err() {
                        fail(format_args!("consumer gone"));
                    }
                }
            })
        })
        .collect();
    drop(tx); // only the producers hold senders now
    let (sum, count) = consumer.await.unwrap();
    let secs = secs_since(t0);
    for h in producers {
        h.await.unwrap();
    }
    (secs, sum, count)
}

async fn bounded(n: u64, p: u64, capacity: usize) -> (f64, u64, u64) {
    let (tx, mut rx) = mpsc::channel::<u64>(capacity);
    let t0 = Instant::now();
    let consumer = tokio::spawn(async move {
        let (mut sum, mut count) = (0u64, 0u64);
        while let Some(v) = rx.recv().await {
            sum += v;
            count += 1;
        }
        (sum, count)
    });
    let producers: Vec<_> = shares(n, p)
        .into_iter()
        .map(|r| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for v in r {
                    if tx.send(v).await.is_err() {
                        fail(format_args!("consumer gone"));
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let (sum, count) = consumer.await.unwrap();
    let secs = secs_since(t0);
    for h in producers {
        h.await.unwrap();
    }
    (secs, sum, count)
}

fn main() {
    let cli = Cli::parse(10_000_000, &["1p", "4p", "1p-b1024", "4p-b1024"]);
    let n = cli.n;
    let p = if cli.variant.starts_with("4p") { 4 } else { 1 };
    let (secs, sum, count) = if cli.variant.ends_with("-b1024") {
        cli.run(bounded(n, p, 1024))
    } else {
        cli.run(unbounded(n, p))
    };
    let want = n * (n - 1) / 2;
    if count != n || sum != want {
        fail(format_args!(
            "count = {count} sum = {sum}, expected {n} and {want}"
        ));
    }
    cli.report(
        "chan_throughput",
        secs,
        n as f64,
        &format!(
            " variant={} msgs_per_sec={:.0}",
            cli.variant,
            n as f64 / secs
        ),
    );
}
