//! The master key's life: the start-up check that it opens every stored secret, rotation
//! (every secret re-sealed under a new key in one transaction) and the recovery of a rotation
//! cut off before its key file was replaced. The sealing itself is [`crate::crypto`].

use std::path::Path;

use anyhow::{bail, Context};

use crate::crypto::{encode_key, new_key, write_key_file, Secret, SecretBox};

/// Every column that holds a sealed secret: (table, id column, sealed column). The row id is
/// the associated data. New kinds of secrets are added here, so rotation and the start-up check
/// cover them.
pub const SEALED_COLUMNS: &[(&str, &str, &str)] = &[
    ("connectors", "id", "auth_token_enc"),
    ("agents", "id", "llm_api_key_enc"),
    ("agents", "id", "hook_secret_enc"),
    ("agents", "id", "transcribe_key_enc"),
    ("organizations", "id", "transcribe_key_enc"),
];

/// Checks that `secrets` opens every stored secret: one sealed under another key (a rotation
/// while an instance kept running, a restored backup) is found at start, not when it is used.
pub async fn check_key_opens_stored(db: &crate::db::Db, secrets: &SecretBox) -> anyhow::Result<()> {
    let (mut opened, mut refused) = (0usize, Vec::new());
    for (table, id, column) in SEALED_COLUMNS {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as(&format!("SELECT {id}, {column} FROM {table} WHERE {column} IS NOT NULL"))
                .fetch_all(&db.pool)
                .await?;
        for (row_id, sealed) in rows {
            match secrets.open(&sealed, &row_id) {
                Ok(_) => opened += 1,
                Err(_) => refused.push(format!("{table} {row_id} ({column})")),
            }
        }
    }
    match (opened, refused.len()) {
        (_, 0) => Ok(()),
        (0, _) => bail!(
            "the master key does not open the secrets stored in the database: start with the key they were sealed \
             with (SWITCHBOARD_MASTER_KEY or the master.key file)"
        ),
        (_, n) => bail!(
            "the master key does not open the secrets stored in the database: it opens {opened} of them but not {n} \
             ({}), which are sealed under another key (saved by an instance that kept running through a rotation?). \
             Start with the key that opens them, or enter those secrets again",
            refused.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Re-seals every stored secret from `old` to `new` in one transaction; returns how many. If
/// any secret does not open with `old`, nothing changes.
pub async fn reseal_all(db: &crate::db::Db, old: &SecretBox, new: &SecretBox) -> anyhow::Result<usize> {
    let mut tx = db.begin_write().await?;
    let mut count = 0;
    for (table, id, column) in SEALED_COLUMNS {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as(&format!("SELECT {id}, {column} FROM {table} WHERE {column} IS NOT NULL"))
                .fetch_all(&mut *tx)
                .await?;
        for (row_id, sealed) in rows {
            let secret = old
                .open(&sealed, &row_id)
                .with_context(|| format!("{table} {row_id}: its secret does not open with the current master key"))?;
            sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE {id} = $2"))
                .bind(new.seal(secret.expose(), &row_id))
                .bind(&row_id)
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
    }
    let orgs: Vec<(String,)> = sqlx::query_as("SELECT id FROM organizations").fetch_all(&mut *tx).await?;
    let detail = format!("Stored secrets sealed again under a new master key: {count}.");
    for (org,) in orgs {
        let actor = "The operator (switchboard rotate-key)";
        crate::audit::record(&mut tx, &org, actor, crate::audit::Action::KeyRotated, "Master key", &detail).await?;
    }
    tx.commit().await?;
    Ok(count)
}

/// What a rotation did.
pub enum Rotated {
    /// The key file now holds the new key.
    KeyFile { secrets: usize },
    /// The key came from the environment: the operator sets this one in its place.
    EnvKey { secrets: usize, new_key: Secret },
}

/// Rotates the master key: a new random key, every stored secret re-sealed under it in one
/// transaction. With a key file, the new key is written beside it first (`master.key.new`),
/// the database is re-sealed, then the new file replaces the old; a crash between the two is
/// finished by the next start ([`recover_rotation`]). Switchboard must be stopped meanwhile.
pub async fn rotate_master_key(
    db: &crate::db::Db,
    env_key: Option<&Secret>,
    key_file: &Path,
) -> anyhow::Result<Rotated> {
    let old = match env_key {
        Some(_) => SecretBox::load(env_key, key_file)?,
        None if key_file.exists() => SecretBox::load(None, key_file)?,
        None => {
            bail!("there is no master key to rotate: neither SWITCHBOARD_MASTER_KEY nor {} exists", key_file.display())
        }
    };
    let running = crate::instances::running(db).await?;
    if running > 0 {
        bail!(
            "{running} Switchboard instance(s) on this database said they were running in the last {} s: stop every \
             instance before rotating the key (a secret one of them saved meanwhile would stay under the old key)",
            crate::instances::ALIVE.as_secs()
        );
    }
    check_key_opens_stored(db, &old).await?;
    let key = new_key();
    let new = SecretBox::from_key(&key);
    if env_key.is_some() {
        let secrets = reseal_all(db, &old, &new).await?;
        return Ok(Rotated::EnvKey { secrets, new_key: encode_key(&key) });
    }
    let pending = pending_key_file(key_file);
    if pending.exists() {
        // Left by a rotation that stopped before the database changed: the current key still
        // opens everything, so that file was never used.
        std::fs::remove_file(&pending)?;
    }
    write_key_file(&pending, &key)?;
    let secrets = match reseal_all(db, &old, &new).await {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            return Err(e);
        }
    };
    std::fs::rename(&pending, key_file)
        .with_context(|| format!("replacing {} with the new key", key_file.display()))?;
    Ok(Rotated::KeyFile { secrets })
}

/// Where a rotation writes the new key before the database is re-sealed.
pub fn pending_key_file(key_file: &Path) -> std::path::PathBuf {
    key_file.with_extension("key.new")
}

/// Finishes a rotation that stopped after re-sealing the database but before replacing the key
/// file: when the current key does not open the stored secrets and the new one does, the new
/// file takes the old one's place. Returns the key to use.
pub async fn recover_rotation(db: &crate::db::Db, current: SecretBox, key_file: &Path) -> anyhow::Result<SecretBox> {
    let pending = pending_key_file(key_file);
    if !pending.exists() || check_key_opens_stored(db, &current).await.is_ok() {
        return Ok(current);
    }
    let next = SecretBox::load(None, &pending)?;
    check_key_opens_stored(db, &next).await?;
    std::fs::rename(&pending, key_file)?;
    tracing::warn!(path = %key_file.display(), "finished an interrupted master key rotation");
    Ok(next)
}

#[cfg(test)]
mod tests {
    /// Every sealed column the schema has (named `…_enc`) is one rotation and the start's check
    /// go through: one left out stays under the old key after a rotation, and its agent fails.
    #[tokio::test]
    async fn every_sealed_column_of_the_schema_is_rotated_and_checked() {
        let mut conn = crate::db::migrated_in_memory().await;
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.name LIKE '%\\_enc' ESCAPE '\\' ORDER BY 1, 2",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(columns.len() >= 4, "{columns:?}");
        for (table, column) in columns {
            assert!(
                super::SEALED_COLUMNS.iter().any(|(t, _, c)| *t == table && *c == column),
                "{table}.{column} is sealed but not in SEALED_COLUMNS"
            );
        }
    }
}
