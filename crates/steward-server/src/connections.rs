//! The accept loop: every connection served by hyper's HTTP/1 with a
//! header-read timeout, and at most `max_connections` open at once.
//!
//! The timeout closes a connection that has not sent a whole request head in
//! time, whether it sends nothing (idle, between keep-alive requests too) or
//! sends it a byte at a time. The limit never blocks `accept`: a new
//! connection over it sheds the oldest open one, which hyper closes at once
//! when it is idle or still sending its head, or after its response when a
//! request is in flight. Flooding the server with idle connections therefore
//! costs their senders the connections, not a new client its service.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

/// How the accept loop treats connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// Open connections in accept order, each with the signal that sheds it.
#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: BTreeMap<u64, Arc<Notify>>,
}

impl Registry {
    /// Registers a new connection, shedding the oldest ones past `limit`.
    fn admit(&mut self, limit: usize) -> (u64, Arc<Notify>) {
        while self.open.len() >= limit.max(1) {
            let Some((_, oldest)) = self.open.pop_first() else {
                break;
            };
            // A stored permit: the connection sees it even if not waiting yet.
            oldest.notify_one();
        }
        let id = self.next_id;
        self.next_id += 1;
        let shed = Arc::new(Notify::new());
        self.open.insert(id, Arc::clone(&shed));
        (id, shed)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, asks every connection to finish (idle ones close at once,
/// responses in flight complete) and waits for them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let registry = Arc::new(Mutex::new(Registry::default()));
    // Stopping: sent once on shutdown. Finished: every connection holds a
    // receiver, and `closed()` resolves when the last one is gone.
    let (stop_sender, stop_receiver) = watch::channel(false);
    let (finished_sender, finished_receiver) = watch::channel(());

    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it
                    // was accepted: the loop goes on; shedding frees descriptors.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let (id, shed) = registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .admit(limits.max_connections);
        let connection = Connection {
            stream,
            remote,
            router: router.clone(),
            builder: Arc::clone(&builder),
            shed,
            stop: stop_receiver.clone(),
            _finished: finished_receiver.clone(),
        };
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            connection.run().await;
            registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .open
                .remove(&id);
        });
    }
    drop(listener);
    let _ = stop_sender.send(true);
    drop(finished_receiver);
    finished_sender.closed().await;
    Ok(())
}

struct Connection {
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    builder: Arc<hyper::server::conn::http1::Builder>,
    shed: Arc<Notify>,
    stop: watch::Receiver<bool>,
    /// Dropped when the connection ends: the server waits for all of them.
    _finished: watch::Receiver<()>,
}

impl Connection {
    async fn run(mut self) {
        // Small responses go out at once rather than after Nagle's delay.
        let _ = self.stream.set_nodelay(true);
        let remote = self.remote;
        // The peer address keys the rate limit of callers without a key.
        let service = self.router.clone().map_request(
            move |mut request: axum::extract::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            },
        );
        let connection = self
            .builder
            .serve_connection(TokioIo::new(self.stream), TowerToHyperService::new(service));
        tokio::pin!(connection);
        let mut finishing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %remote, "connection ended with an error");
                    }
                    return;
                }
                () = self.shed.notified(), if !finishing => {
                    tracing::debug!(%remote, "connection limit reached: closing the oldest connection");
                    connection.as_mut().graceful_shutdown();
                    finishing = true;
                }
                changed = self.stop.changed(), if !finishing => {
                    if changed.is_err() || *self.stop.borrow() {
                        connection.as_mut().graceful_shutdown();
                        finishing = true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_connections_are_shed_past_the_limit() {
        let mut registry = Registry::default();
        let first: Vec<_> = (0..3).map(|_| registry.admit(3)).collect();
        assert_eq!(registry.open.len(), 3);
        let (newest, _) = registry.admit(3);
        assert_eq!(registry.open.len(), 3);
        assert!(!registry.open.contains_key(&first[0].0), "the oldest goes");
        assert!(registry.open.contains_key(&newest));
        assert!(registry.open.contains_key(&first[1].0));
    }
}
