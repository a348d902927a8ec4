//! timers: N tasks each sleep d_i ms and measure how late they wake.
//!
//! d_i = 1 + (x_i mod 1000), x_i the i-th xorshift64 output seeded with 42,
//! all drawn before timing (dur_sum_ms = 50,121,566 for N = 100,000).
//! t0; spawn N tasks; task i: deadline = now + d_i ms; sleep_until(deadline);
//! returns late_i = now - deadline (signed ns); counter += 1 (atomic).  The
//! parent awaits the handles in order.  secs = t0 .. all joined (ideal
//! ~1.0 s).  Check: counter == N.  Lateness mean/p50/p99/max/min in ms,
//! percentile = sorted[round((N-1) q)].  minflt_per_task: minor page faults
//! (minflt()) from t0 to all joined, per task.
//!
//! usage: timers <ct|mt> [N=100_000]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use weft_peers_tokio::{fail, minflt, secs_since, Cli, Xorshift64};

static COUNTER: AtomicU64 = AtomicU64::new(0);

async fn sleeper(ms: u64) -> i64 {
    let deadline = Instant::now() + Duration::from_millis(ms);
    tokio::time::sleep_until(deadline.into()).await;
    let now = Instant::now();
    COUNTER.fetch_add(1, Ordering::Relaxed);
    match now.checked_duration_since(deadline) {
        Some(late) => late.as_nanos() as i64,
        None => -((deadline - now).as_nanos() as i64), // woke early
    }
}

async fn body(durations: Vec<u64>) -> (f64, Vec<i64>, u64) {
    let mut handles = Vec::with_capacity(durations.len());
    let mut late = Vec::with_capacity(durations.len());
    let f0 = minflt();
    let t0 = Instant::now();
    for &ms in &durations {
        handles.push(tokio::spawn(sleeper(ms)));
    }
    for h in handles {
        late.push(h.await.unwrap());
    }
    let secs = secs_since(t0);
    (secs, late, minflt() - f0)
}

fn main() {
    let cli = Cli::parse(100_000, &[]);
    let n = cli.n;
    let mut rng = Xorshift64(42);
    let durations: Vec<u64> = (0..n).map(|_| 1 + rng.next_u64() % 1000).collect();
    let dur_sum: u64 = durations.iter().sum();
    let (secs, mut late, flt) = cli.run(body(durations));
    let counter = COUNTER.load(Ordering::Relaxed);
    if counter != n {
        fail(format_args!("counter = {counter}, expected {n}"));
    }
    let mean = late.iter().map(|&l| l as f64).sum::<f64>() / n as f64;
    late.sort_unstable();
    let pct = |q: f64| late[((n - 1) as f64 * q).round() as usize] as f64 / 1e6;
    let extra = format!(
        " late_mean_ms={:.3} late_p50_ms={:.3} late_p99_ms={:.3} late_max_ms={:.3} \
         late_min_ms={:.3} dur_sum_ms={dur_sum} minflt_per_task={:.3}",
        mean / 1e6,
        pct(0.5),
        pct(0.99),
        late[late.len() - 1] as f64 / 1e6,
        late[0] as f64 / 1e6,
        flt as f64 / n as f64,
    );
    cli.report("timers", secs, n as f64, &extra);
}
