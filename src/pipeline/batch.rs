//! Group commit: writes that requests wait on (inbound messages, status callbacks) are queued,
//! and one task writes whatever is waiting in one transaction, answering each request once its
//! batch is durable. Under load a commit serves hundreds of requests; when idle, a batch of one
//! costs no more than a direct write.

use std::{future::Future, time::Duration};

use tokio::sync::{mpsc, oneshot};

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 256;

/// How long a request waits for its write before giving up: Twilio waits 15 s for a webhook's
/// answer, and a 503 in time (the message is not acknowledged, so Twilio's fallback or retry
/// takes it) beats a timeout. A busy or unreachable database answers later than that.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(8);

/// What a batch writes.
pub trait GroupWrite: Send + Sync + 'static {
    type Job: Send + Sync + 'static;
    type Outcome: Send + 'static;

    /// Writes the jobs in one transaction; one outcome per job, in order.
    fn write(&self, jobs: &[&Self::Job]) -> impl Future<Output = sqlx::Result<Vec<Self::Outcome>>> + Send;

    /// Runs after a batch is durable, before its requests are answered.
    fn written(
        &self,
        _jobs: &[&Self::Job],
        _outcomes: &[Result<Self::Outcome, String>],
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

type Pending<J, O> = (J, oneshot::Sender<Result<O, String>>);

/// The requests' side of a group writer of jobs `J` with outcomes `O`. It names only the jobs,
/// not the writer, so the state that holds it needs nothing of what writes them.
pub struct Queue<J, O> {
    tx: mpsc::Sender<Pending<J, O>>,
}

impl<J, O> Clone for Queue<J, O> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<J, O> Queue<J, O> {
    /// Queues the job; returns once its batch is durable, or failed, or after
    /// [`STORE_TIMEOUT`] (the job is then dropped if the writer has not begun it yet).
    pub async fn submit(&self, job: J) -> Result<O, String> {
        let (reply, answer) = oneshot::channel();
        let queued = async {
            self.tx.send((job, reply)).await.map_err(|_| "the writer task has stopped".to_string())?;
            answer.await.map_err(|_| "the writer task has stopped".to_string())?
        };
        match tokio::time::timeout(STORE_TIMEOUT, queued).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("the database did not take the write within {} s", STORE_TIMEOUT.as_secs())),
        }
    }
}

/// The writer's side: the jobs waiting.
pub struct Waiting<J, O> {
    rx: mpsc::Receiver<Pending<J, O>>,
}

/// A queue and the jobs waiting in it; [`Waiting::run`] drains it.
pub fn queue<J, O>() -> (Queue<J, O>, Waiting<J, O>) {
    let (tx, rx) = mpsc::channel(4096);
    (Queue { tx }, Waiting { rx })
}

impl<J: Send + Sync + 'static, O: Send + 'static> Waiting<J, O> {
    /// Writes what arrives, batch by batch, until every queue handle is gone.
    pub async fn run<W: GroupWrite<Job = J, Outcome = O>>(self, writer: W) {
        let mut rx = self.rx;
        let mut batch: Vec<Pending<J, O>> = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // Requests that gave up were answered 503: their jobs are not begun (while the
            // database is away, the writer would otherwise spend minutes on jobs nobody awaits).
            batch.retain(|(_, reply)| !reply.is_closed());
            if batch.is_empty() {
                continue;
            }
            let jobs: Vec<&W::Job> = batch.iter().map(|(job, _)| job).collect();
            let outcomes = match writer.write(&jobs).await {
                Ok(outcomes) if outcomes.len() == jobs.len() => outcomes.into_iter().map(Ok).collect::<Vec<_>>(),
                Ok(_) => {
                    jobs.iter().map(|_| Err("the writer returned the wrong number of outcomes".to_string())).collect()
                }
                Err(e) => {
                    // One bad job must not fail the others: write each on its own.
                    if jobs.len() > 1 {
                        tracing::warn!(error = %e, size = jobs.len(), "batch failed; writing its jobs one by one");
                    }
                    let mut outcomes = Vec::with_capacity(jobs.len());
                    for (job, (_, reply)) in jobs.iter().zip(&batch) {
                        outcomes.push(write_one(&writer, job, reply).await);
                    }
                    outcomes
                }
            };
            writer.written(&jobs, &outcomes).await;
            for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
    }
}

/// Writes one job, trying again a few times: a transient error (a deadlock victim, a busy
/// database) should not cost Twilio's request. Once the request has given up (and answered
/// 503), the job is not tried again: what was not acknowledged is not stored behind its back.
async fn write_one<W: GroupWrite>(
    writer: &W,
    job: &W::Job,
    reply: &oneshot::Sender<Result<W::Outcome, String>>,
) -> Result<W::Outcome, String> {
    let mut last = "given up by its request".to_string();
    for attempt in 0..3u64 {
        if reply.is_closed() {
            break;
        }
        match writer.write(&[job]).await {
            Ok(mut outcomes) if outcomes.len() == 1 => return Ok(outcomes.remove(0)),
            Ok(_) => return Err("the writer returned no outcome".into()),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "a write failed");
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
            }
        }
    }
    Err(last)
}

/// Placeholders for a multi-row `VALUES`: `rows` groups of `width` numbered parameters, the
/// first numbered `first + 1`, each group shaped by `row` (which receives the group's numbers).
pub fn values(rows: usize, width: usize, first: usize, row: impl Fn(&[usize]) -> String) -> String {
    (0..rows)
        .map(|r| {
            let numbers: Vec<usize> = (0..width).map(|c| first + r * width + c + 1).collect();
            row(&numbers)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn values_numbers_each_row_after_the_shared_parameters() {
        let sql = values(3, 2, 1, |n| format!("(${}, ${}, $1)", n[0], n[1]));
        assert_eq!(sql, "($2, $3, $1), ($4, $5, $1), ($6, $7, $1)");
    }
}
