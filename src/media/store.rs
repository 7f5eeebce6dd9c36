//! Where the files of media are kept: the data folder (one instance) or the database (several
//! instances on one PostgreSQL database, each serving every file).

/// Where the files of media are kept (`SWITCHBOARD_MEDIA_STORE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// In the data folder: one instance only (the default with SQLite).
    Files,
    /// In the database, beside their messages: every instance serves every file (the default
    /// with PostgreSQL).
    Database,
}

/// The files of media, where [`StoreKind`] says.
#[derive(Clone, Debug)]
pub enum Store {
    Files(std::sync::Arc<std::path::Path>),
    Database,
}

impl Store {
    /// Writes a file to its folder, before the transaction that records it (which holds
    /// SQLite's write turn: no file is written while holding it). Nothing for the database.
    pub(crate) async fn write_file(&self, id: &str, bytes: &[u8]) -> std::io::Result<()> {
        let Store::Files(dir) = self else { return Ok(()) };
        tokio::fs::create_dir_all(dir).await?;
        let path = dir.join(id);
        let partial = path.with_extension("partial");
        tokio::fs::write(&partial, bytes).await?;
        tokio::fs::rename(&partial, &path).await
    }

    /// Keeps a file in the database, in the transaction that records it: the two commit
    /// together. Nothing for a folder.
    pub(crate) async fn insert(&self, tx: &mut crate::db::WriteTx, id: &str, bytes: &[u8]) -> sqlx::Result<()> {
        if let Store::Database = self {
            sqlx::query("INSERT INTO media_files (media_id, bytes) VALUES ($1, $2)")
                .bind(id)
                .bind(bytes.to_vec())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// A saved file's bytes, if it is there.
    pub async fn load(&self, db: &crate::db::Db, id: &str) -> Option<Vec<u8>> {
        match self {
            Store::Files(dir) => tokio::fs::read(dir.join(id)).await.ok(),
            Store::Database => sqlx::query_as::<_, (Vec<u8>,)>("SELECT bytes FROM media_files WHERE media_id = $1")
                .bind(id)
                .fetch_optional(&db.pool)
                .await
                .ok()
                .flatten()
                .map(|(bytes,)| bytes),
        }
    }

    /// Removes files whose rows are gone (in the database, they went with them).
    pub async fn discard(&self, ids: &[String]) {
        let Store::Files(dir) = self else { return };
        for id in ids {
            if let Err(e) = tokio::fs::remove_file(dir.join(id)).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(media_id = %id, error = %e, "media file not removed");
                }
            }
        }
    }
}
