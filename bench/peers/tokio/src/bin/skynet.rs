//! skynet: a tree of tasks.  skynet(num, size) spawns 10 children
//! skynet(num + i*size/10, size/10), keeps their JoinHandles, awaits them in
//! order and returns the sum; a leaf (size 1) returns num.  Every node,
//! leaves included, is a task (a boxed future: async recursion needs one).
//!
//! The root is itself spawned.  Timed from just before spawning it until
//! its result arrives.  N = 10^6: 1,111,111 tasks, result 499999500000.
//! ops = number of nodes.  The check compares with the same recursion done
//! as plain calls (which also counts the nodes).  minflt_per_task: minor
//! page faults (minflt()) over the timed part, per node.
//!
//! usage: skynet <ct|mt> [N=1_000_000]
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;
use weft_peers_tokio::{fail, minflt, secs_since, Cli};

const DIV: u64 = 10;

fn skynet(num: u64, size: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let sub = size / DIV;
        let children: [tokio::task::JoinHandle<u64>; DIV as usize] =
            std::array::from_fn(|i| tokio::spawn(skynet(num + i as u64 * sub, sub)));
        let mut sum = 0;
        for child in children {
            sum += child.await.unwrap();
        }
        sum
    })
}

fn plain(num: u64, size: u64, nodes: &mut u64) -> u64 {
    *nodes += 1;
    if size == 1 {
        return num;
    }
    let sub = size / DIV;
    (0..DIV).map(|i| plain(num + i * sub, sub, nodes)).sum()
}

fn main() {
    let cli = Cli::parse(1_000_000, &[]);
    let n = cli.n;
    let mut nodes = 0;
    let want = plain(0, n, &mut nodes);
    let (secs, sum, flt) = cli.run(async move {
        let f0 = minflt();
        let t0 = Instant::now();
        let sum = tokio::spawn(skynet(0, n)).await.unwrap();
        let secs = secs_since(t0);
        (secs, sum, minflt() - f0)
    });
    if sum != want {
        fail(format_args!("sum = {sum}, expected {want}"));
    }
    cli.report(
        "skynet",
        secs,
        nodes as f64,
        &format!(
            " tasks={nodes} sum={sum} minflt_per_task={:.3}",
            flt as f64 / nodes as f64
        ),
    );
}
