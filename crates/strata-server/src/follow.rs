//! Following the store's head: a task per server re-reads the head whenever the store
//! says a commit landed (PostgreSQL `LISTEN`, on a thread of its own with a dedicated
//! connection, made again with backoff when it drops) and at least every `head_refresh`
//! (the only way on SQLite, and the fallback on PostgreSQL), and publishes each new head
//! once fully loaded ([`AppState::refresh`]). While the store is unreachable it is tried
//! every second (or `head_refresh`, when shorter), so a store that comes back is caught
//! up without a restart.

use std::sync::Weak;
use std::time::Duration;

use strata_store::backend::HeadListener;
use tokio::sync::mpsc;

use crate::state::{AppState, Inner};

/// How often the store is tried while it does not answer (at most).
const RETRY_DOWN: Duration = Duration::from_secs(1);
/// The shortest polling interval, whatever `head_refresh` says.
const MIN_POLL: Duration = Duration::from_millis(10);
/// How long the listener waits per call (how quickly its thread notices the server is
/// gone).
const LISTEN_WAIT: Duration = Duration::from_millis(500);
/// Backoff of the listener between failed connections: from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Starts the follower of `state` (and, when the store pushes commits, its listener).
/// Both end when the state is dropped or the server shuts down.
pub(crate) fn start(state: &AppState) {
    let (wake, woken) = mpsc::channel::<()>(1);
    if let Some(listener) = state.repo().store().head_listener() {
        // Without the thread (it could not be made), the head is still polled.
        let _ = std::thread::Builder::new()
            .name("strata-listen".into())
            .spawn(move || listen(listener, wake));
    }
    tokio::spawn(run(
        state.downgrade(),
        state.head_refresh(),
        woken,
        state.shutting_down(),
    ));
}

/// The follower task.
async fn run(
    weak: Weak<Inner>,
    head_refresh: Duration,
    mut woken: mpsc::Receiver<()>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut listening = true;
    let mut down = false;
    loop {
        let interval = if down {
            head_refresh.min(RETRY_DOWN)
        } else {
            head_refresh
        }
        .max(MIN_POLL);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            got = woken.recv(), if listening => {
                // The listener thread ended (no listener): poll only.
                listening = got.is_some();
            }
            _ = tokio::time::sleep(interval) => {}
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let state = AppState::from_inner(inner);
        let _ = state.refresh().await;
        down = state.head_now().outage.is_some();
    }
}

/// The listener thread: wakes the follower on each commit notification, on losing the
/// connection (so the outage shows) and on getting it back (to catch up). Ends when the
/// follower is gone.
fn listen(mut listener: Box<dyn HeadListener>, wake: mpsc::Sender<()>) {
    let mut backoff = BACKOFF_FIRST;
    let mut connected = false;
    while !wake.is_closed() {
        match listener.wait(LISTEN_WAIT) {
            Ok(moved) => {
                connected = true;
                backoff = BACKOFF_FIRST;
                if moved {
                    // A full channel already holds a wake-up: nothing is lost.
                    let _ = wake.try_send(());
                }
            }
            Err(_) => {
                if connected {
                    connected = false;
                    let _ = wake.try_send(());
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
