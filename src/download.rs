//! Downloads written a chunk at a time: an export's body comes from a task that reads a page,
//! sends it, and reads the next, so the process holds a few chunks whatever the file's length.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// An export's failure, answered as the REST API answers its errors.
pub fn problem(e: crate::error::Error) -> Response {
    crate::error::ApiError::from(e).into_response()
}

/// A chunk of a download, or the error that ends it.
type Chunk = Result<String, std::io::Error>;

/// Where a streamed download's writer puts its chunks. The channel holds a few chunks at most, so
/// a slow reader holds the writer back instead of the process's memory growing.
pub struct Writer(tokio::sync::mpsc::Sender<Chunk>);

impl Writer {
    /// Sends a chunk; false when the reader has gone (the writer stops).
    pub async fn send(&self, chunk: String) -> bool {
        self.0.send(Ok(chunk)).await.is_ok()
    }
}

/// A download whose body `write` produces a chunk at a time, in a task of its own. A failure
/// midway ends the body with an error, so the browser reports the download as failed instead of
/// keeping a file that looks whole.
pub fn streamed<F, Fut>(format: Format, name: &str, write: F) -> Response
where
    F: FnOnce(Writer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = crate::error::Result<()>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let errors = tx.clone();
    tokio::spawn(async move {
        if let Err(e) = write(Writer(tx)).await {
            tracing::warn!(error = %e, "export stopped");
            let _ = errors.send(Err(std::io::Error::other("the export could not be read to its end"))).await;
        }
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let content_type = match format {
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
    };
    let extension = if format == Format::Json { "json" } else { "csv" };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.{extension}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}
