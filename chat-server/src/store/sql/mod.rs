//! `ChatStore` on SQLite or PostgreSQL through sqlx's `Any` driver: one set of
//! portable SQL (text ids, integer epoch-millisecond times, `$n` parameters),
//! with each engine's schema in `migrations/<engine>/chat`, applied at start-up.
//! `rows` reads rows into records; `chat`, `users`, `memories` and `jobs`
//! implement the store's traits.

mod chat;
mod jobs;
mod memories;
mod rows;
mod users;

use sqlx::{AnyPool, Executor, any::AnyPoolOptions, migrate::Migrator};

use super::{StoreError, memories::MemoryStore};

/// The database engine behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

pub(crate) fn classify(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => StoreError::Unavailable(error),
        sqlx::Error::RowNotFound => StoreError::NotFound,
        other => StoreError::Internal(other),
    }
}

#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    engine: Engine,
}

impl SqlStore {
    /// Connects (creating a SQLite file if needed) and applies the schema.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of(url).ok_or_else(|| {
            anyhow::anyhow!("DATABASE_URL must start with sqlite: or postgres:// (got {url:?})")
        })?;
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5));
        let url = match engine {
            Engine::Sqlite => {
                options = options.after_connect(|conn, _| {
                    Box::pin(async move {
                        // Cascading deletes need foreign keys on; WAL lets readers run beside the writer,
                        // and with WAL, synchronous=NORMAL stays crash-safe while committing much faster.
                        // Every write empties the other connections' page caches; mapped pages are
                        // read again without a copy (see benches/memory.rs).
                        conn.execute("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA mmap_size = 268435456; PRAGMA cache_size = -16000;")
                            .await?;
                        Ok(())
                    })
                });
                if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                }
            }
            Engine::Postgres => url.to_owned(),
        };
        let pool = options.connect(&url).await?;
        let mut migrator: Migrator = match engine {
            Engine::Sqlite => sqlx::migrate!("../migrations/sqlite/chat"),
            Engine::Postgres => sqlx::migrate!("../migrations/postgres/chat"),
        };
        // The EMIS schema may share the database (and its migration table).
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let store = SqlStore { pool, engine };
        // Every memory written from here on has its month's partition.
        store.prepare_partitions(super::now_ms(), 2).await?;
        Ok(store)
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// `terms` as this engine's full-text query: every one of them, each
    /// long enough as a word prefix. Terms are letters and digits
    /// only (`memory::text::terms`), so they cannot be query syntax.
    pub(crate) fn text_query(&self, terms: &[String]) -> String {
        let prefix = |t: &String| super::memories::as_prefix(t);
        match self.engine() {
            Engine::Postgres => terms
                .iter()
                .map(|t| {
                    if prefix(t) {
                        format!("{t}:*")
                    } else {
                        t.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" & "),
            Engine::Sqlite => terms
                .iter()
                .map(|t| {
                    if prefix(t) {
                        format!("\"{t}\"*")
                    } else {
                        format!("\"{t}\"")
                    }
                })
                .collect::<Vec<_>>()
                .join(" AND "),
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): one that read first and wrote after
    /// another connection's write would fail with "database is locked"
    /// rather than wait its turn.
    pub(crate) async fn write_tx(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        }
    }
}
