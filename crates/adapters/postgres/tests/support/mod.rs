//! What the PostgreSQL store's fault tests share: a TCP proxy between the pool and the
//! server that can cut or stall every connection.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass everything along.
    Forward,
    /// Close every connection and refuse new ones.
    Cut,
    /// Keep connections open but pass nothing along.
    Stall,
}

#[derive(Debug)]
pub struct Proxy {
    pub address: String,
    state: Arc<Mutex<(Mode, Vec<AbortHandle>)>>,
    stalled: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let address = listener.local_addr().expect("proxy address").to_string();
        let state = Arc::new(Mutex::new((Mode::Forward, Vec::new())));
        let accept_state = Arc::clone(&state);
        let (stalled, stall_watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mode = accept_state.lock().expect("proxy state").0;
                let upstream = upstream.clone();
                let mut stall_watch = stall_watch.clone();
                let task = tokio::spawn(async move {
                    match mode {
                        Mode::Cut => drop(client),
                        Mode::Stall => {
                            // Hold the socket open and never answer.
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            drop(client);
                        }
                        Mode::Forward => {
                            if let Ok(mut server) = TcpStream::connect(&upstream).await {
                                let stalled = tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                                    seen = stall_watch.wait_for(|stalled| *stalled) => seen.is_ok(),
                                };
                                if stalled {
                                    // A stall stops forwarding but keeps both sockets open.
                                    tokio::time::sleep(Duration::from_secs(3600)).await;
                                }
                            }
                        }
                    }
                });
                accept_state.lock().expect("proxy state").1.push(task.abort_handle());
            }
        });
        Self { address, state, stalled }
    }

    /// Switches mode. `Cut` closes every connection; `Stall` silences them but keeps them
    /// open; `Forward` closes the stalled ones and forwards new ones.
    pub fn set(&self, mode: Mode) {
        let mut state = self.state.lock().expect("proxy state");
        state.0 = mode;
        self.stalled.send_replace(mode == Mode::Stall);
        if mode != Mode::Stall {
            for task in state.1.drain(..) {
                task.abort();
            }
        }
    }
}

/// `host:port` of a `postgres://…@host:port/db` URL.
pub fn server_address(url: &str) -> String {
    let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or(after_scheme);
    let host_port = authority.rsplit_once('@').map(|(_, hp)| hp).unwrap_or(authority);
    if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") }
}

/// `url` pointing at `address` instead of its server.
pub fn through(url: &str, address: &str) -> String {
    url.replacen(&server_address(url), address, 1)
}
