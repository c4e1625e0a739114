//! Commit notifications on PostgreSQL: every commit sends `NOTIFY strata_head` (the new
//! revision id as payload) inside its transaction, so it is delivered only if the commit
//! lands; a [`PgListener`] waits for them on a connection of its own.

use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};

use crate::backend::HeadListener;
use crate::error::StoreError;

/// The channel commits notify.
pub(crate) const CHANNEL: &str = "strata_head";

/// How often an idle listening connection is checked (a dropped connection is not always
/// seen while waiting).
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// A dedicated `LISTEN strata_head` connection, made on the first [`HeadListener::wait`]
/// and again after it is lost.
pub(crate) struct PgListener {
    config: Config,
    name: String,
    client: Option<Client>,
    checked: Instant,
}

impl PgListener {
    pub(crate) fn new(config: Config, name: String) -> PgListener {
        PgListener {
            config,
            name,
            client: None,
            checked: Instant::now(),
        }
    }

    fn lost(&mut self, why: impl std::fmt::Display) -> StoreError {
        self.client = None;
        StoreError::backend(
            &self.name,
            format!("the connection listening for commits was lost: {why}"),
        )
    }

    /// Whether the idle connection still answers (checked at most every
    /// [`CHECK_EVERY`], or now when `now` is set).
    fn check(&mut self, now: bool) -> Result<(), StoreError> {
        if !now && self.checked.elapsed() < CHECK_EVERY {
            return Ok(());
        }
        self.checked = Instant::now();
        let answer = match self.client.as_mut() {
            Some(c) if !c.is_closed() => c.simple_query("").map(|_| ()),
            _ => return Err(self.lost("closed")),
        };
        answer.map_err(|e| self.lost(e))
    }
}

impl HeadListener for PgListener {
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        let Some(client) = self.client.as_mut() else {
            let mut client = self.config.connect(NoTls).map_err(|e| {
                StoreError::backend(
                    &self.name,
                    format!("cannot connect to listen for commits: {e}"),
                )
            })?;
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .map_err(|e| StoreError::backend(&self.name, e))?;
            self.client = Some(client);
            self.checked = Instant::now();
            // Commits made while there was no connection were not heard.
            return Ok(true);
        };
        let started = Instant::now();
        let next = client.notifications().timeout_iter(timeout).next();
        match next {
            Ok(Some(_)) => {
                // One re-read of the head covers every commit announced so far.
                let mut pending = client.notifications();
                let mut drained = pending.iter();
                while let Ok(Some(_)) = drained.next() {}
                Ok(true)
            }
            Err(e) => Err(self.lost(e)),
            Ok(None) => {
                // An early `None` means the connection ended: check it at once.
                let early = started.elapsed() < timeout / 2;
                self.check(early)?;
                Ok(false)
            }
        }
    }
}
