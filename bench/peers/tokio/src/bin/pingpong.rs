//! pingpong: two tasks bounce a counter over two channels A and B.
//!
//!   pong: while let Some(v) = A.recv() { B.send(v + 1) }   (ends when A closes)
//!   ping: v = 0; N times { A.send(v); v = B.recv() }; drop A's sender
//!
//! Timed from just before the two spawns until both are joined; ops = N
//! round trips.  Check: v == N.  Variants: `unbounded`
//! (`mpsc::unbounded_channel`, the default) and `buf1` (`mpsc::channel(1)`,
//! the counterpart of Go's and weft's capacity-1 channels).
//!
//! usage: pingpong <ct|mt> [N=1_000_000] [unbounded|buf1]
use std::time::Instant;
use tokio::sync::mpsc;
use weft_peers_tokio::{fail, secs_since, Cli};

/// The two ends of a channel of u64, bounded or not.
enum Tx {
    Unbounded(mpsc::UnboundedSender<u64>),
    Bounded(mpsc::Sender<u64>),
}
enum Rx {
    Unbounded(mpsc::UnboundedReceiver<u64>),
    Bounded(mpsc::Receiver<u64>),
}

impl Tx {
    async fn send(&self, v: u64) {
        let ok = match self {
            Tx::Unbounded(t) => t.send(v).is_ok(),
            Tx::Bounded(t) => t.send(v).await.is_ok(),
        };
        if !ok {
            fail(format_args!("send on a closed channel"));
        }
    }
}

impl Rx {
    async fn recv(&mut self) -> Option<u64> {
        match self {
            Rx::Unbounded(r) => r.recv().await,
            Rx::Bounded(r) => r.recv().await,
        }
    }
}

fn channel(bounded: bool) -> (Tx, Rx) {
    if bounded {
        let (t, r) = mpsc::channel(1);
        (Tx::Bounded(t), Rx::Bounded(r))
    } else {
        let (t, r) = mpsc::unbounded_channel();
        (Tx::Unbounded(t), Rx::Unbounded(r))
    }
}

async fn body(n: u64, bounded: bool) -> (f64, u64) {
    let (a_tx, mut a_rx) = channel(bounded);
    let (b_tx, mut b_rx) = channel(bounded);
    let t0 = Instant::now();
    let pong = tokio::spawn(async move {
        while let Some(v) = a_rx.recv().await {
            b_tx.send(v + 1).await;
        }
    });
    let ping = tokio::spawn(async move {
        let mut v = 0u64;
        for _ in 0..n {
            a_tx.send(v).await;
            v = match b_rx.recv().await {
                Some(v) => v,
                None => fail(format_args!("B closed early")),
            };
        }
        drop(a_tx); // closes A: pong ends
        v
    });
    let v = ping.await.unwrap();
    pong.await.unwrap();
    (secs_since(t0), v)
}

fn main() {
    let cli = Cli::parse(1_000_000, &["unbounded", "buf1"]);
    let (n, bounded) = (cli.n, cli.variant == "buf1");
    let (secs, v) = cli.run(body(n, bounded));
    if v != n {
        fail(format_args!("v = {v}, expected {n}"));
    }
    cli.report(
        "pingpong",
        secs,
        n as f64,
        &format!(" variant={}", cli.variant),
    );
}
