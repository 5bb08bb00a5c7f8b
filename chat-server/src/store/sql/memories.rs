//! `MemoryStore` on `SqlStore`. Full-text matching is each engine's own
//! (PostgreSQL's `tsvector`, SQLite's FTS5); everything else is the
//! portable SQL of the rest of the store. Every statement is bound to its
//! owner.

use async_trait::async_trait;
use sqlx::{Row, any::AnyRow};

use super::{Engine, SqlStore, classify};
use crate::{
    domain::{Detail, Profile, ProfileRole},
    store::{
        StoreResult,
        memories::{
            Added, Memory, MemoryChange, MemoryCounts, MemoryKind, MemoryStore, NewMemory, Origin,
            Retention, Source, Windows,
        },
    },
};

const COLUMNS: &str = "m.id, m.owner, m.kind, m.text, m.slot, m.retention, m.origin, m.source_session, \
m.source_message, m.source_tool_call, m.tokens, m.created_at, m.updated_at, m.last_used_at, m.use_count, \
m.expires_at, m.replaced_by";

fn memory(row: &AnyRow) -> Result<Memory, sqlx::Error> {
    let text = |name: &str| -> Result<String, sqlx::Error> { row.try_get(name) };
    let bad = |what: &str, value: String| sqlx::Error::Decode(format!("{what} {value:?}").into());
    let kind = text("kind")?;
    let retention = text("retention")?;
    let origin = text("origin")?;
    Ok(Memory {
        id: text("id")?,
        owner: text("owner")?,
        kind: MemoryKind::parse(&kind).ok_or_else(|| bad("kind", kind.clone()))?,
        text: text("text")?,
        slot: row.try_get("slot")?,
        retention: Retention::parse(&retention)
            .ok_or_else(|| bad("retention", retention.clone()))?,
        origin: Origin::parse(&origin).ok_or_else(|| bad("origin", origin.clone()))?,
        source: Source {
            session_id: row.try_get("source_session")?,
            message_id: row.try_get("source_message")?,
            tool_call_id: row.try_get("source_tool_call")?,
        },
        tokens: row.try_get("tokens")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_used_at: row.try_get("last_used_at")?,
        use_count: row.try_get("use_count")?,
        expires_at: row.try_get("expires_at")?,
        replaced_by: row.try_get("replaced_by")?,
    })
}

fn profile(row: &AnyRow) -> Result<Profile, sqlx::Error> {
    let role: Option<String> = row.try_get("role")?;
    let detail: Option<String> = row.try_get("detail")?;
    let enabled: i64 = row.try_get("memory_enabled")?;
    Ok(Profile {
        display_name: row.try_get("display_name")?,
        role: role.as_deref().and_then(ProfileRole::parse),
        country: row.try_get("country")?,
        county: row.try_get("county")?,
        language: row.try_get("language")?,
        detail: detail.as_deref().and_then(Detail::parse),
        memory_enabled: enabled != 0,
    })
}

impl SqlStore {
    /// The condition that `m` matches the full-text query `$n`.
    fn matches(&self, n: usize) -> String {
        match self.engine() {
            Engine::Postgres => format!("m.search @@ to_tsquery('simple', ${n})"),
            Engine::Sqlite => {
                format!("m.n IN (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ${n})")
            }
        }
    }
}

/// The month starting at or before `at` (epoch ms), and the next one: (start, end) in ms.
fn month_of(at: i64, ahead: u32) -> Option<(String, i64, i64)> {
    let date = time::OffsetDateTime::from_unix_timestamp(at / 1000)
        .ok()?
        .date();
    let (mut year, mut month) = (date.year(), date.month());
    for _ in 0..ahead {
        if month == time::Month::December {
            year += 1;
        }
        month = month.next();
    }
    let start = time::Date::from_calendar_date(year, month, 1).ok()?;
    let next_year = if month == time::Month::December {
        year + 1
    } else {
        year
    };
    let end = time::Date::from_calendar_date(next_year, month.next(), 1).ok()?;
    let ms = |d: time::Date| d.midnight().assume_utc().unix_timestamp() * 1000;
    Some((
        format!("memories_y{year}m{:02}", month as u8),
        ms(start),
        ms(end),
    ))
}

/// The columns a memory is written with (`search` is generated).
const WRITTEN: &str = "id, owner, kind, text, norm, slot, retention, origin, source_session, source_message, \
source_tool_call, tokens, created_at, updated_at, last_used_at, use_count, expires_at, replaced_by";

impl SqlStore {
    /// Makes partition `name` for [`start`, `end`) out of the default
    /// partition's rows of that range, in one transaction (PostgreSQL).
    async fn move_from_default(&self, name: &str, start: i64, end: i64) -> sqlx::Result<()> {
        let mut tx = self.write_tx().await?;
        for sql in [
            format!(
                "CREATE TABLE {name} (LIKE memories INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)"
            ),
            format!(
                "INSERT INTO {name} ({WRITTEN}) SELECT {WRITTEN} FROM memories_default \
                 WHERE created_at >= {start} AND created_at < {end}"
            ),
            format!(
                "DELETE FROM memories_default WHERE created_at >= {start} AND created_at < {end}"
            ),
            format!(
                "ALTER TABLE memories ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})"
            ),
        ] {
            sqlx::query(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await
    }
}

#[async_trait]
impl MemoryStore for SqlStore {
    async fn add_memory(
        &self,
        new: &NewMemory<'_>,
        max: i64,
        windows: &Windows,
    ) -> StoreResult<Added> {
        let mut tx = self.write_tx().await.map_err(classify)?;
        let same = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.owner = $1 AND m.norm = $2 AND m.replaced_by IS NULL \
             AND (m.expires_at IS NULL OR m.expires_at > $3) LIMIT 1"
        ))
        .bind(new.owner)
        .bind(new.norm)
        .bind(new.at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        if let Some(row) = same {
            let mut old = memory(&row).map_err(classify)?;
            let longer = new.retention > old.retention;
            old.retention = old.retention.max(new.retention);
            old.expires_at = windows.expiry(old.retention, new.at);
            old.updated_at = new.at;
            old.last_used_at = new.at;
            // Said again, it is used again; kept longer, it changes (and
            // moves the owner's version on), otherwise it does not.
            let sql = if longer {
                "UPDATE memories SET retention = $5, expires_at = $1, updated_at = $2, last_used_at = $2 \
                 WHERE owner = $3 AND id = $4"
            } else {
                "UPDATE memories SET expires_at = $1, updated_at = $2, last_used_at = $2 \
                 WHERE owner = $3 AND id = $4"
            };
            let mut query = sqlx::query(sql)
                .bind(old.expires_at)
                .bind(new.at)
                .bind(new.owner)
                .bind(&old.id);
            if longer {
                query = query.bind(old.retention.as_str());
            }
            query.execute(&mut *tx).await.map_err(classify)?;
            tx.commit().await.map_err(classify)?;
            return Ok(Added::Merged(old));
        }
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(slot) = new.slot {
            sqlx::query(
                "UPDATE memories SET replaced_by = $1, expires_at = $2, updated_at = $3 \
                 WHERE owner = $4 AND slot = $5 AND replaced_by IS NULL",
            )
            .bind(&id)
            .bind(new.at + windows.short_ms)
            .bind(new.at)
            .bind(new.owner)
            .bind(slot)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        let active: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM memories WHERE owner = $1 AND replaced_by IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(new.owner)
        .bind(new.at)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get("n"))
        .map_err(classify)?;
        if active >= max {
            let victim: Option<String> = sqlx::query(
                "SELECT id FROM memories WHERE owner = $1 AND replaced_by IS NULL \
                 AND retention IN ('session', 'short') ORDER BY use_count, last_used_at LIMIT 1",
            )
            .bind(new.owner)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
            .map(|row| row.try_get("id"))
            .transpose()
            .map_err(classify)?;
            let Some(victim) = victim else {
                return Ok(Added::Full);
            };
            sqlx::query("DELETE FROM memories WHERE owner = $1 AND id = $2")
                .bind(new.owner)
                .bind(&victim)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        let saved = Memory {
            id,
            owner: new.owner.to_owned(),
            kind: new.kind,
            text: new.text.to_owned(),
            slot: new.slot.map(str::to_owned),
            retention: new.retention,
            origin: new.origin,
            source: new.source.clone(),
            tokens: new.tokens,
            created_at: new.at,
            updated_at: new.at,
            last_used_at: new.at,
            use_count: 0,
            expires_at: new.expires_at,
            replaced_by: None,
        };
        sqlx::query(
            "INSERT INTO memories (id, owner, kind, text, norm, slot, retention, origin, source_session, \
             source_message, source_tool_call, tokens, created_at, updated_at, last_used_at, use_count, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $13, 0, $14)",
        )
        .bind(&saved.id)
        .bind(new.owner)
        .bind(new.kind.as_str())
        .bind(new.text)
        .bind(new.norm)
        .bind(new.slot)
        .bind(new.retention.as_str())
        .bind(new.origin.as_str())
        .bind(&new.source.session_id)
        .bind(&new.source.message_id)
        .bind(&new.source.tool_call_id)
        .bind(new.tokens)
        .bind(new.at)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(Added::New(saved))
    }

    async fn memory(&self, owner: &str, id: &str) -> StoreResult<Option<Memory>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.owner = $1 AND m.id = $2"
        ))
        .bind(owner)
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        row.as_ref().map(memory).transpose().map_err(classify)
    }

    async fn memories(
        &self,
        owner: &str,
        terms: &[String],
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<Memory>, i64)> {
        let now = crate::store::now_ms();
        // The full-text query is parameter `$q`.
        let condition = |q: usize| {
            let filter = if terms.is_empty() {
                String::new()
            } else {
                format!(" AND {}", self.matches(q))
            };
            format!(
                "m.owner = $1 AND m.replaced_by IS NULL AND (m.expires_at IS NULL OR m.expires_at > $2){filter}"
            )
        };
        let query = self.text_query(terms);
        let select_sql = format!(
            "SELECT {COLUMNS} FROM memories m WHERE {} ORDER BY m.created_at DESC, m.id LIMIT $3 OFFSET $4",
            condition(5)
        );
        let count_sql = format!(
            "SELECT COUNT(*) AS n FROM memories m WHERE {}",
            condition(3)
        );
        let mut select = sqlx::query(&select_sql)
            .bind(owner)
            .bind(now)
            .bind(limit)
            .bind(offset);
        let mut count = sqlx::query(&count_sql).bind(owner).bind(now);
        if !terms.is_empty() {
            select = select.bind(query.clone());
            count = count.bind(query);
        }
        let rows = select.fetch_all(self.pool()).await.map_err(classify)?;
        let total: i64 = count
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(classify)?;
        let memories = rows
            .iter()
            .map(memory)
            .collect::<Result<_, _>>()
            .map_err(classify)?;
        Ok((memories, total))
    }

    async fn export_memories(&self, owner: &str) -> StoreResult<Vec<Memory>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.owner = $1 ORDER BY m.created_at, m.id"
        ))
        .bind(owner)
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        rows.iter()
            .map(memory)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn change_memory(
        &self,
        owner: &str,
        id: &str,
        change: &MemoryChange,
    ) -> StoreResult<Option<Memory>> {
        let Some(mut current) = self.memory(owner, id).await? else {
            return Ok(None);
        };
        let mut norm = None;
        if let Some((text, changed_norm, tokens)) = &change.text {
            current.text = text.clone();
            current.tokens = *tokens;
            norm = Some(changed_norm.clone());
        }
        if let Some(kind) = change.kind {
            current.kind = kind;
        }
        if let Some((retention, expires_at)) = change.retention {
            current.retention = retention;
            current.expires_at = expires_at;
        }
        current.updated_at = change.at;
        let done = sqlx::query(
            "UPDATE memories SET text = $1, norm = COALESCE($2, norm), tokens = $3, kind = $4, retention = $5, \
             expires_at = $6, updated_at = $7 WHERE owner = $8 AND id = $9",
        )
        .bind(&current.text)
        .bind(norm)
        .bind(current.tokens)
        .bind(current.kind.as_str())
        .bind(current.retention.as_str())
        .bind(current.expires_at)
        .bind(change.at)
        .bind(owner)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok((done.rows_affected() > 0).then_some(current))
    }

    async fn delete_memory(&self, owner: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM memories WHERE owner = $1 AND id = $2")
            .bind(owner)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_memories(&self, owner: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM memories WHERE owner = $1")
            .bind(owner)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn memory_version(&self, owner: &str) -> StoreResult<i64> {
        let version: Option<i64> =
            sqlx::query("SELECT version FROM memory_versions WHERE owner = $1")
                .bind(owner)
                .fetch_optional(self.pool())
                .await
                .map_err(classify)?
                .map(|row| row.try_get("version"))
                .transpose()
                .map_err(classify)?;
        Ok(version.unwrap_or(0))
    }

    async fn recallable(&self, owner: &str, now: i64) -> StoreResult<Vec<Memory>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.owner = $1 AND m.replaced_by IS NULL \
             AND (m.expires_at IS NULL OR m.expires_at > $2)"
        ))
        .bind(owner)
        .bind(now)
        .fetch_all(self.pool())
        .await
        .map_err(classify)?;
        rows.iter()
            .map(memory)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn mark_used(
        &self,
        owner: &str,
        ids: &[String],
        times: i64,
        at: i64,
        windows: &Windows,
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // One statement for a prompt's memories; the ids are bound, never formatted.
        let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 6)).collect();
        let sql = format!(
            "UPDATE memories SET use_count = use_count + $5, last_used_at = $1, expires_at = CASE retention \
             WHEN 'pinned' THEN NULL WHEN 'long' THEN $2 ELSE $3 END \
             WHERE owner = $4 AND replaced_by IS NULL AND id IN ({})",
            list.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(at)
            .bind(at + windows.long_ms)
            .bind(at + windows.short_ms)
            .bind(owner)
            .bind(times);
        for id in ids {
            query = query.bind(id);
        }
        query.execute(self.pool()).await.map_err(classify)?;
        Ok(())
    }

    async fn prune_memories(&self, now: i64) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM memories WHERE expires_at IS NOT NULL AND expires_at <= $1")
                .bind(now)
                .execute(self.pool())
                .await
                .map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn prepare_partitions(&self, now: i64, months: u32) -> StoreResult<()> {
        if self.engine() != Engine::Postgres {
            return Ok(());
        }
        for ahead in 0..=months {
            let Some((name, start, end)) = month_of(now, ahead) else {
                continue;
            };
            // DDL takes no parameters; the name and bounds are computed here, never given.
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF memories FOR VALUES FROM ({start}) TO ({end})"
            );
            if sqlx::query(&ddl).execute(self.pool()).await.is_err() {
                // The default partition holds rows of that month (saved before
                // its partition was made): they move into it.
                if let Err(e) = self.move_from_default(&name, start, end).await {
                    tracing::warn!(error = %e, partition = %name, "a memory partition could not be made");
                }
            }
        }
        Ok(())
    }

    async fn memory_counts(&self) -> StoreResult<MemoryCounts> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, COUNT(DISTINCT owner) AS users, \
             COALESCE(SUM(CASE WHEN replaced_by IS NULL AND retention = 'session' THEN 1 ELSE 0 END), 0) AS session, \
             COALESCE(SUM(CASE WHEN replaced_by IS NULL AND retention = 'short' THEN 1 ELSE 0 END), 0) AS short, \
             COALESCE(SUM(CASE WHEN replaced_by IS NULL AND retention = 'long' THEN 1 ELSE 0 END), 0) AS long, \
             COALESCE(SUM(CASE WHEN replaced_by IS NULL AND retention = 'pinned' THEN 1 ELSE 0 END), 0) AS pinned, \
             COALESCE(SUM(CASE WHEN replaced_by IS NOT NULL THEN 1 ELSE 0 END), 0) AS history FROM memories",
        )
        .fetch_one(self.pool())
        .await
        .map_err(classify)?;
        let get = |name: &str| -> StoreResult<i64> { row.try_get(name).map_err(classify) };
        Ok(MemoryCounts {
            total: get("total")?,
            users: get("users")?,
            session: get("session")?,
            short: get("short")?,
            long: get("long")?,
            pinned: get("pinned")?,
            history: get("history")?,
        })
    }

    async fn profile(&self, owner: &str) -> StoreResult<Option<Profile>> {
        let row = sqlx::query("SELECT * FROM user_profiles WHERE owner = $1")
            .bind(owner)
            .fetch_optional(self.pool())
            .await
            .map_err(classify)?;
        row.as_ref().map(profile).transpose().map_err(classify)
    }

    async fn save_profile(&self, owner: &str, p: &Profile, at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO user_profiles (owner, display_name, role, country, county, language, detail, \
             memory_enabled, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (owner) DO UPDATE SET display_name = excluded.display_name, role = excluded.role, \
             country = excluded.country, county = excluded.county, language = excluded.language, \
             detail = excluded.detail, memory_enabled = excluded.memory_enabled, updated_at = excluded.updated_at",
        )
        .bind(owner)
        .bind(&p.display_name)
        .bind(p.role.map(ProfileRole::as_str))
        .bind(&p.country)
        .bind(&p.county)
        .bind(&p.language)
        .bind(p.detail.map(Detail::as_str))
        .bind(i64::from(p.memory_enabled))
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn delete_profile(&self, owner: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM user_profiles WHERE owner = $1")
            .bind(owner)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::month_of;

    #[test]
    fn months_run_over_the_year_end() {
        // 2026-12-15T00:00:00Z
        let at = 1_797_292_800_000;
        let (name, start, end) = month_of(at, 0).expect("month");
        assert_eq!(name, "memories_y2026m12");
        assert!(start <= at && at < end);
        let (name, start, _) = month_of(at, 1).expect("next");
        assert_eq!((name.as_str(), start), ("memories_y2027m01", end));
        assert_eq!(month_of(at, 13).expect("later").0, "memories_y2028m01");
    }
}
