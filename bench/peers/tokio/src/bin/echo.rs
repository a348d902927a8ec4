//! echo: the Tokio server of weft's echo benchmark (bench/echo.c is the
//! load client and runs it; only the server differs between runtimes).
//!
//!   echo <ct|mt>
//!
//! `ct`: `Builder::new_current_thread()`; `mt`:
//! `Builder::new_multi_thread().worker_threads(2)`; both with the I/O driver
//! only.  Listens on 127.0.0.1 (a free port), prints the port as a decimal
//! line on stdout, then echoes every connection until the peer closes: a
//! task per connection (`tokio::spawn`), `read` into a 4 KiB buffer,
//! `write_all` of what was read, `TCP_NODELAY` set on accepted sockets as
//! weft and Go do.  Runs until killed.
use std::io::Write as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn serve(mut s: TcpStream) {
    let mut buf = vec![0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn server() {
    let l = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo: {}", e);
            std::process::exit(1)
        }
    };
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{}", port);
        let _ = out.flush();
    }
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                tokio::spawn(serve(s));
            }
            Err(e) => eprintln!("echo: accept: {}", e),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let multi_thread = match args.get(1).map(String::as_str) {
        Some("ct") if args.len() == 2 => false,
        Some("mt") if args.len() == 2 => true,
        _ => {
            eprintln!("usage: echo <ct|mt>");
            std::process::exit(2)
        }
    };
    let rt = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_io()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo: runtime: {}", e);
            std::process::exit(1)
        }
    };
    // The server runs as a spawned root task (under mt, on a worker), as
    // the other ports' bodies do; block_on only waits for it.
    let _ = rt.block_on(async { tokio::spawn(server()).await });
}
