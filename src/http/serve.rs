//! The accept loop: serves the app's router over HTTP/1.1 with hyper, with
//! the timeouts `axum::serve` does not offer.
//!
//! `axum::serve` builds hyper's connection without a timer, and hyper only
//! enforces its header read timeout when it has one: a client that opened a
//! connection and sent half a request line (or nothing) held a task and a
//! file descriptor for ever, and a few thousand of them starve the server
//! (slowloris). Here every connection gets a timer and
//! `[http] header_read_timeout`; every request gets `[http] request_timeout`
//! (408 when it runs out, reading a slow body included).
//!
//! Graceful shutdown works like `axum::serve`'s: stop accepting, let each
//! connection finish its request in flight, then return.

use crate::config::HttpConfig;
use axum::Router;
use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `router` on `listener` until `shutdown` resolves, then waits for
/// the connections' requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) {
    let router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    // Dropping `stop_tx` tells every connection to finish; each holds a
    // clone of `done_rx`, so `done_tx.closed()` resolves when all are gone.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let header_read_timeout = limits.header_read_timeout;
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                r = conn.as_mut() => log_conn_end(r),
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    log_conn_end(conn.await);
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
}

fn log_conn_end(r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        // Timeouts and clients that hang up are routine on the open internet.
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Per-connection errors (the peer reset before we accepted) are nothing;
/// others (out of file descriptors) get a pause, so the loop does not spin.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
