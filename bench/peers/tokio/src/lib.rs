//! What the Tokio ports of weft's benchmarks share: command line, runtime
//! set-up, the result line, /proc/self/status readings and xorshift64.
//!
//! A program is run as `<bench> <ct|mt> [N] [variant]`:
//! `ct` is `Builder::new_current_thread()` (runtime=tokio-ct), `mt` is
//! `Builder::new_multi_thread().worker_threads(2)` (runtime=tokio-mt); both
//! with the time driver only.  The benchmark body is spawned as a root task
//! and `block_on` only waits for it, so under `mt` the body runs on a worker.

use std::fmt::Write as _;
use std::future::Future;
use std::time::Instant;

pub struct Cli {
    pub multi_thread: bool,
    pub n: u64,
    pub variant: &'static str,
}

impl Cli {
    /// Parses `<ct|mt> [N] [variant]`; the variant must be one of
    /// `variants` (the first is the default).  Usage errors exit with 2.
    pub fn parse(default_n: u64, variants: &[&'static str]) -> Cli {
        let args: Vec<String> = std::env::args().collect();
        let usage = || -> ! {
            eprintln!(
                "usage: {} <ct|mt> [N] [{}]",
                args.first().map(String::as_str).unwrap_or("bench"),
                variants.join("|")
            );
            std::process::exit(2)
        };
        if args.len() < 2 || args.len() > 4 {
            usage();
        }
        let multi_thread = match args[1].as_str() {
            "ct" => false,
            "mt" => true,
            _ => usage(),
        };
        let n = match args.get(2) {
            None => default_n,
            Some(s) => match s.replace('_', "").parse::<u64>() {
                Ok(v) if v > 0 => v,
                _ => usage(),
            },
        };
        let variant = match args.get(3) {
            None => variants.first().copied().unwrap_or(""),
            Some(s) => match variants.iter().find(|v| **v == s.as_str()) {
                Some(v) => v,
                None => usage(),
            },
        };
        Cli {
            multi_thread,
            n,
            variant,
        }
    }

    pub fn label(&self) -> &'static str {
        if self.multi_thread {
            "tokio-mt"
        } else {
            "tokio-ct"
        }
    }

    /// Builds the runtime and runs `body` as a spawned root task.
    pub fn run<F>(&self, body: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = if self.multi_thread {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_time()
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
        }
        .unwrap_or_else(|e| fail(format_args!("runtime: {e}")));
        let out = rt
            .block_on(async move { tokio::spawn(body).await })
            .unwrap_or_else(|e| fail(format_args!("root task: {e}")));
        rt.shutdown_background();
        out
    }

    /// Prints the result line
    /// `name=.. runtime=.. n=.. secs=.. ns_per_op=.. [extra] vmhwm_kib=..`;
    /// `extra` is `" k=v k=v"` or empty.
    pub fn report(&self, name: &str, secs: f64, ops: f64, extra: &str) {
        let mut line = String::new();
        let _ = write!(
            line,
            "name={name} runtime={} n={} secs={secs:.6} ns_per_op={:.1}{extra} vmhwm_kib={}",
            self.label(),
            self.n,
            secs * 1e9 / ops,
            status_kib("VmHWM")
        );
        println!("{line}");
    }
}

/// Seconds since `t0` (`Instant` reads CLOCK_MONOTONIC).
pub fn secs_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

/// One "Key: value kB" field of /proc/self/status (0 if absent).
pub fn status_kib(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// The process's minor page faults so far: field 10 of /proc/self/stat
/// (the ru_minflt of getrusage(RUSAGE_SELF), every thread's; read from
/// /proc so that no crate beyond tokio is needed).  0 if unreadable.  The
/// delta around a phase counts the fresh pages it made present, as weft's
/// bench_minflt does.
pub fn minflt() -> u64 {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces.
    text.rfind(')')
        .and_then(|i| text[i + 1..].split_whitespace().nth(7)?.parse().ok())
        .unwrap_or(0)
}

/// A failed check: message on stderr, exit 1.
pub fn fail(msg: std::fmt::Arguments) -> ! {
    eprintln!("{}: {msg}", std::env::args().next().unwrap_or_default());
    std::process::exit(1)
}

/// Marsaglia's xorshift64 (13/7/17).
pub struct Xorshift64(pub u64);

impl Xorshift64 {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
